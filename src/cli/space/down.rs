//! `mew space down` (and `mew down`).
use crate::ops::space::{self, DownOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// Space directory (default: the nearest one at or above the current directory with a
    /// space.yaml, else the current directory); space.yaml is not needed.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
    /// Take down this space id instead of the directory's spaces.
    #[arg(long, value_name = "ID", env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Also remove the space's volumes.
    #[arg(long)]
    pub(crate) volumes: bool,
    /// Seconds each container gets to stop (default: its own stop grace).
    #[arg(long, value_name = "S")]
    pub(crate) timeout: Option<u32>,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: DownArgs) -> anyhow::Result<()> {
    let opts = DownOptions {
        host: args.host,
        // From a sub-folder: the space above it, as for every space command.
        space_dir: Some(crate::ops::target::space_dir(args.space_dir.as_deref())?),
        space_id: args.space_id,
        volumes: args.volumes,
        timeout: args.timeout,
    };
    let reports = match space::down(&opts, &super::up::print_progress).await {
        // Nothing to stop is what `down` wants anyway (compose also exits 0).
        Err(space::SpaceError::NotFound(place)) => {
            println!("No running space found in {place}; nothing to stop.");
            return Ok(());
        }
        other => other?,
    };
    for r in reports {
        let volumes = if opts.volumes {
            format!(", {} volume(s)", r.volumes)
        } else {
            String::new()
        };
        println!(
            "✓ Space {} stopped: {} container(s), {} network(s){volumes} removed; logs and tokens kept",
            r.space_id, r.containers, r.networks
        );
    }
    Ok(())
}
