use clap::Args;

#[derive(Debug, Args)]
pub struct SuperviseArgs {}

pub async fn run(_args: SuperviseArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew supervise")
}
