use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::error::InvalidInput;
use mew_space::tokens::{self, TokenError, TokenSource};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make sure a participant has a token file. Prints where it is; the token itself only with
    /// `--print` or upstream's `--capabilities` (scripts call it for the token).
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
    /// Upstream's form: capabilities as a JSON array. Checked, then the token is printed on
    /// standard output. The gateway grants what space.yaml lists for the participant.
    #[arg(short = 'c', long, value_name = "JSON")]
    pub(crate) capabilities: Option<String>,
    /// Print the token on standard output (the file's location goes to standard error).
    #[arg(long)]
    pub(crate) print: bool,
}

pub(crate) async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(args) => create(args),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    let id = args.participant_id;
    if let Some(json) = &args.capabilities {
        check_capabilities(json)?;
    }
    let print = args.print || args.capabilities.is_some();
    let dir = tokens::tokens_dir(&args.space_dir.join(".mew"));
    let path = dir.join(format!("{id}.token"));
    let (token, source) = match tokens::load_or_create_with_source(&dir, &id) {
        Ok(found) => found,
        Err(e @ TokenError::InvalidId(_)) => return Err(InvalidInput::new(e.to_string()).into()),
        Err(e) => return Err(e).context("cannot create the token"),
    };
    let note = match source {
        TokenSource::Generated => format!("Generated new token for {id}: {}", path.display()),
        TokenSource::File => format!("Token for {id} already exists: {}", path.display()),
        TokenSource::Env => format!(
            "Token for {id} comes from ${} (no file written)",
            tokens::env_var_name(&id)
        ),
    };
    if print {
        // Standard output carries the token alone, so `TOKEN=$(mew token create …)` works.
        eprintln!("{note}");
        println!("{token}");
    } else {
        println!("{note}");
    }
    Ok(())
}

/// Upstream's `--capabilities`: a JSON array of capability patterns (objects with a `kind`).
fn check_capabilities(json: &str) -> Result<(), InvalidInput> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| InvalidInput::new(format!("invalid capabilities JSON: {e}")))?;
    let ok = value.as_array().is_some_and(|a| {
        a.iter()
            .all(|c| c.get("kind").is_some_and(|k| k.is_string()))
    });
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "invalid capabilities JSON: expected an array of objects with a string `kind`, e.g. [{\"kind\":\"chat\"}]",
        ))
    }
}
