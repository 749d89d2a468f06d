use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    Connect(ConnectArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {}

pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Connect(_) => crate::cli::not_yet("mew client connect"),
    }
}
