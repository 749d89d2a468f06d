//! `mew space list` / `ls`.
use crate::ops::list::{render, rows};
use crate::ops::target;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON: a list of {id, dir, state, gateway_url, up, total}.
    #[arg(long)]
    pub(crate) json: bool,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: ListArgs) -> anyhow::Result<()> {
    let docker = target::connect(args.host.as_deref()).await?;
    print!("{}", listing(&docker, args.json).await?);
    Ok(())
}

/// The table (or JSON) of every space; also what `status` shows where there is no space.
pub(crate) async fn listing(docker: &bollard::Docker, json: bool) -> anyhow::Result<String> {
    let list = rows(&mew_engine::inspect::all_space_containers(docker).await?);
    Ok(if json {
        format!("{}\n", serde_json::to_string_pretty(&list)?)
    } else if list.is_empty() {
        "No spaces on this engine.\n".to_string()
    } else {
        render(&list)
    })
}
