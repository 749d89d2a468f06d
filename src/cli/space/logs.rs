use clap::Args;

#[derive(Debug, Args)]
pub struct LogsArgs {}

pub async fn run(_args: LogsArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space logs")
}
