use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::error::InvalidInput;
use mew_space::tokens::{self, TokenError, TokenSource};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make sure a participant has a token file; prints where it is, never the token.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Participant id the token is for.
    #[arg(short = 'p', long)]
    pub(crate) participant_id: String,
    /// Space directory (the token goes to <DIR>/.mew/tokens/<id>.token).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) space_dir: PathBuf,
}

pub(crate) async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(args) => create(args),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    let id = args.participant_id;
    let dir = tokens::tokens_dir(&args.space_dir.join(".mew"));
    let path = dir.join(format!("{id}.token"));
    let source = match tokens::load_or_create_with_source(&dir, &id) {
        Ok((_token, source)) => source,
        Err(e @ TokenError::InvalidId(_)) => return Err(InvalidInput::new(e.to_string()).into()),
        Err(e) => return Err(e).context("cannot create the token"),
    };
    match source {
        TokenSource::Generated => println!("Generated new token for {id}: {}", path.display()),
        TokenSource::File => println!("Token for {id} already exists: {}", path.display()),
        TokenSource::Env => println!(
            "Token for {id} comes from ${} (no file written)",
            tokens::env_var_name(&id)
        ),
    }
    Ok(())
}
