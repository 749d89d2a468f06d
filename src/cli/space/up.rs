//! `mew space up` (and `mew up`).
use crate::ops::space::{self, UpOptions, UpReport};
use clap::Args;
use mew_engine::apply::Progress;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Return after the space is up (the default; kept for compatibility).
    #[arg(long, conflicts_with = "interactive")]
    pub(crate) detach: bool,
    /// Once the space is up, connect to it interactively (as `mew space connect`).
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// With -i: the participant to connect as (default: resolved as `mew space connect` does).
    #[arg(long, value_name = "ID", requires = "interactive")]
    pub(crate) participant: Option<String>,
    /// Gateway port (default: the running gateway's, else the first free of 8080-8089).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: Option<u16>,
    /// Host address the gateway port is published on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub(crate) bind: String,
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
    /// Space configuration file (default: <dir>/.mew/space.yaml, else <dir>/space.yaml).
    #[arg(
        short = 'c',
        long,
        visible_alias = "config",
        value_name = "FILE",
        env = "MEW_SPACE_CONFIG"
    )]
    pub(crate) space_config: Option<PathBuf>,
    /// Override space.id (to run one space.yaml several times).
    #[arg(long, value_name = "ID", env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Image for a command, e.g. --image node=my/node:22 (repeatable; also MEW_IMAGE_<CMD>).
    #[arg(long = "image", value_name = "CMD=IMAGE")]
    pub(crate) images: Vec<String>,
    /// Gateway log level.
    #[arg(short = 'l', long)]
    pub(crate) log_level: Option<String>,
    /// Seconds to wait for auto-start participants to join the gateway (0: do not wait).
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub(crate) join_timeout: u64,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Accepted for compatibility with upstream `mew up`; no effect.
    #[arg(long, hide = true)]
    pub(crate) debug: bool,
    /// Accepted for compatibility with upstream `mew up`; no effect.
    #[arg(long, hide = true)]
    pub(crate) simple: bool,
    /// Accepted for compatibility with upstream `mew up`; no effect.
    #[arg(long, hide = true)]
    pub(crate) no_ui: bool,
}

pub(crate) async fn run(args: UpArgs) -> anyhow::Result<()> {
    let opts = UpOptions {
        host: args.host.clone(),
        space_dir: args.space_dir.clone(),
        space_config: args.space_config.clone(),
        space_id: args.space_id.clone(),
        port: args.port,
        bind: args.bind.clone(),
        images: args.images.clone(),
        log_level: args.log_level.clone(),
        join_timeout: Some(std::time::Duration::from_secs(args.join_timeout)),
        dry_run: args.dry_run,
    };
    let report = space::up(&opts, &print_progress).await?;
    if opts.dry_run {
        print!("{}", mew_space::plan::render(&report.plan));
        return Ok(());
    }
    print_summary(&report);
    if !args.interactive {
        return Ok(());
    }
    let space = mew_space::config::find_and_load(
        opts.space_dir.as_deref(),
        opts.space_config.as_deref(),
        opts.space_id.as_deref(),
    )?;
    super::connect::connect_to(
        &space,
        args.participant.as_deref(),
        Some(report.gateway_ws()),
        opts.host.as_deref(),
    )
    .await
}

/// Progress lines on stderr.
pub(crate) fn print_progress(p: Progress) {
    match p {
        Progress::Begin(s) => eprintln!("… {s}"),
        Progress::Done(s) => eprintln!("✓ {s}"),
        Progress::Warning(s) => eprintln!("! {s}"),
        Progress::RolledBack(s) => eprintln!("↺ {s} (rolled back)"),
        Progress::ContainerLog { participant, tail } => {
            eprintln!("=== {participant}: last output ===");
            eprintln!("{tail}");
            eprintln!("=== end of {participant}'s output ===");
        }
    }
}

pub(crate) fn print_summary(r: &UpReport) {
    if r.unchanged() {
        println!("Space {} is up to date; nothing changed.", r.space_id);
    } else {
        println!("✓ Space is up!");
    }
    println!("Gateway:  {}", r.gateway_ws());
    println!("Space ID: {}", r.space_id);
    println!("Participants:");
    let width = r.participants.iter().map(|p| p.id.len()).max().unwrap_or(0);
    for p in &r.participants {
        let joined = match &r.outcome {
            Some(o) if o.not_joined.contains(&p.id) => " (not joined)",
            _ => "",
        };
        let state = p.state.map_or("not created", |s| s.as_str());
        println!("  {:width$}  {:8} {state}{joined}", p.id, p.role);
    }
    println!("Logs:     {}", r.logs_dir.display());
    // Other copies of the directory may run under other ids: name this one.
    let id = if r.logs_dir.ends_with(&r.space_id) {
        format!(" --space-id {}", r.space_id)
    } else {
        String::new()
    };
    println!("To stop:  mew space down -d {}{id}", r.space_dir.display());
}
