use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {}

pub async fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Build(_) => crate::cli::not_yet("mew image build"),
    }
}
