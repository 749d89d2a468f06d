//! `mew space down` (and `mew down`).
use crate::apply::space::{self, DownOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Space directory (default: the current directory); space.yaml is not needed.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub space_dir: Option<PathBuf>,
    /// Take down this space id instead of the directory's spaces.
    #[arg(long, value_name = "ID", env = "MEW_SPACE_ID")]
    pub space_id: Option<String>,
    /// Also remove the space's volumes.
    #[arg(long)]
    pub volumes: bool,
    /// Seconds each container gets to stop (default: its own stop grace).
    #[arg(long, value_name = "S")]
    pub timeout: Option<u32>,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub host: Option<String>,
}

pub async fn run(args: DownArgs) -> anyhow::Result<()> {
    let opts = DownOptions {
        host: args.host,
        space_dir: args.space_dir,
        space_id: args.space_id,
        volumes: args.volumes,
        timeout: args.timeout,
    };
    let reports = space::down(&opts, &super::up::print_progress).await?;
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
