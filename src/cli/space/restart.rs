use clap::Args;

#[derive(Debug, Args)]
pub struct RestartArgs {}

pub async fn run(_args: RestartArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space restart")
}
