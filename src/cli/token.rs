use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(_) => crate::cli::not_yet("mew token create"),
    }
}
