use clap::Args;

#[derive(Debug, Args)]
pub struct UpArgs {}

pub async fn run(_args: UpArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space up")
}
