use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    Gateway(GatewayArgs),
}

#[derive(Debug, Args)]
pub struct GatewayArgs {}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Gateway(_) => crate::cli::not_yet("mew bench gateway"),
    }
}
