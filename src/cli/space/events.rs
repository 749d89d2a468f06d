use crate::cli::space::status::SpaceSelect;
use crate::ops::target;
use clap::Args;
use futures_util::StreamExt;
use mew_engine::events::{follow, format_event, HealthcheckNoise};
use std::io::Write;

#[derive(Debug, Args)]
#[command(
    after_help = "The engine's healthcheck probes (exec_create, exec_start and exec_die of \
the container's healthcheck command, every few seconds) are left out; -v shows them."
)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// One JSON object per line (time_nano, kind, action, subject, exit_code).
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let (docker, dir, id) = args.select.resolve().await?;
    let Some(id) = id else {
        anyhow::bail!("{}", target::not_running(&dir));
    };
    let mut events = Box::pin(follow(&docker, &id));
    let mut noise = (crate::cli::verbosity() == 0).then(HealthcheckNoise::default);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            ev = events.next() => {
                let Some(ev) = ev else {
                    anyhow::bail!("the container engine stopped sending events; run the command again");
                };
                let ev = ev?;
                if let Some(noise) = noise.as_mut() {
                    if noise.is_noise(&docker, &ev).await {
                        continue;
                    }
                }
                let line = if args.json { serde_json::to_string(&ev)? } else { format_event(&ev) };
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return Ok(());
                }
            }
        }
    }
}
