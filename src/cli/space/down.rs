use clap::Args;

#[derive(Debug, Args)]
pub struct DownArgs {}

pub async fn run(_args: DownArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space down")
}
