use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    Echo(EchoArgs),
}

#[derive(Debug, Args)]
pub struct EchoArgs {}

pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Echo(_) => crate::cli::not_yet("mew agent echo"),
    }
}
