use clap::Args;

#[derive(Debug, Args)]
pub struct StatusArgs {}

pub async fn run(_args: StatusArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space status")
}
