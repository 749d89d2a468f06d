use clap::Args;

#[derive(Debug, Args)]
pub struct CleanArgs {}

pub async fn run(_args: CleanArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space clean")
}
