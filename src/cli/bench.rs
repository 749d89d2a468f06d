use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::bench::gateway::{self, LoadOptions, Target};
use crate::error::InvalidInput;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Fan-out load on a gateway: one sender, N receivers, one space, loopback.
    Gateway(GatewayArgs),
    /// The gateway's peak memory under hostile input: huge messages, un-joined sockets sending
    /// partial frames, near-limit broadcasts, slow readers under a flood, JSON value bombs.
    Limits,
}

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// Number of receiving participants.
    #[arg(long, default_value_t = 20)]
    pub(crate) receivers: usize,
    /// Number of messages the sender sends.
    #[arg(long, default_value_t = 2000)]
    pub(crate) messages: usize,
    /// Messages per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// Measure a running gateway instead of starting one (no RSS figure then).
    #[arg(long, value_name = "URL")]
    pub(crate) gateway: Option<String>,
    /// Also run the same load against a peer gateway started by this shell command, in which
    /// `{port}` is replaced by a free port; the report then shows both and their ratio.
    #[arg(long, value_name = "COMMAND")]
    pub(crate) peer_cmd: Option<String>,
    /// Seconds to wait for outstanding deliveries after the last send.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout: u64,
}

pub(crate) async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Gateway(args) => bench_gateway(args).await,
        BenchCommand::Limits => {
            let exe = std::env::current_exe().context("cannot find the mew executable")?;
            let report = crate::bench::limits::run(exe)
                .await
                .context("benchmark run failed")?;
            println!("{report}");
            Ok(())
        }
    }
}

async fn bench_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    if args.receivers == 0 || args.messages == 0 {
        return Err(InvalidInput::new("--receivers and --messages must be at least 1").into());
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(InvalidInput::new("--rate must be a number ≥ 0").into());
    }
    if let Some(cmd) = &args.peer_cmd {
        if !cmd.contains("{port}") {
            return Err(InvalidInput::new("--peer-cmd must contain {port}").into());
        }
    }
    let load = LoadOptions {
        receivers: args.receivers,
        messages: args.messages,
        rate: args.rate,
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    let target = match args.gateway {
        Some(url) => Target::Url(url),
        None => Target::SpawnMew {
            exe: std::env::current_exe().context("cannot find the mew executable")?,
        },
    };
    let rate = if args.rate > 0.0 {
        format!("{} msg/s", args.rate)
    } else {
        "as fast as possible".to_string()
    };
    println!(
        "load: 1 sender, {} receivers, {} messages, {rate}, loopback",
        args.receivers, args.messages
    );
    let mew = gateway::run(target, &load)
        .await
        .context("benchmark run failed")?;
    println!("{mew}");
    if let Some(cmd) = args.peer_cmd {
        let peer = gateway::run(Target::PeerCommand(cmd), &load)
            .await
            .context("peer benchmark run failed")?;
        println!("{peer}");
        println!("{}", gateway::comparison(&mew, &peer));
    }
    Ok(())
}
