use clap::Args;

#[derive(Debug, Args)]
pub struct ExecArgs {}

pub async fn run(_args: ExecArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew space exec")
}
