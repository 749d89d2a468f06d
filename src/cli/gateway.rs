use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    Start(StartArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {}

pub async fn run(cmd: GatewayCommand) -> anyhow::Result<()> {
    match cmd {
        GatewayCommand::Start(_) => crate::cli::not_yet("mew gateway start"),
    }
}
