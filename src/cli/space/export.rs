//! `mew space export --format compose`: the space as a compose file (no secrets in it).
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::error::InvalidInput;
use crate::export::{self, ComposeOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The Compose specification, for `docker compose` (every setting).
    Compose,
    /// Compose format 3.9, for `docker stack deploy` (Swarm).
    Stack,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew space export --format compose -o compose.yaml --env-file .mew/compose.env\n  \
    mew space export --format stack -o stack.yaml      # for docker stack deploy (Swarm)\n  \
    MEW_UID=$(id -u) MEW_GID=$(id -g) docker compose --env-file .mew/compose.env up -d\n\n\
    Tokens are not written into the compose file: it refers to ${MEW_TOKEN_<ID>}, which\n\
    --env-file writes (mode 0600) from .mew/tokens/. The space directory is bound from `.`\n\
    at /space, so keep the compose file in the space directory.")]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "compose")]
    pub format: Format,
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub space_dir: Option<PathBuf>,
    /// The space.yaml to read (default: <dir>/.mew/space.yaml, else <dir>/space.yaml).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub space_config: Option<PathBuf>,
    /// Override space.id.
    #[arg(long, value_name = "ID")]
    pub space_id: Option<String>,
    /// Gateway port (inside the network and published on 127.0.0.1).
    #[arg(short, long, default_value_t = 8080)]
    pub port: u16,
    /// Write the compose file here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write MEW_TOKEN_<ID>=<token> lines (0600) for the tokens the file refers to.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    if let Some(id) = &args.space_id {
        crate::config::values::check_space_id(id).map_err(InvalidInput::new)?;
    }
    let space = crate::config::find_and_load(
        args.space_dir.as_deref(),
        args.space_config.as_deref(),
        args.space_id.as_deref(),
    )?;
    for w in &space.warnings {
        eprintln!("warning: {w}");
    }
    let text = std::fs::read_to_string(&space.file)
        .with_context(|| format!("cannot read {}", space.file.display()))?;
    let mut opts = ComposeOptions::new(crate::engine::image::crate_version());
    opts.port = args.port;
    let flavour = match args.format {
        Format::Compose => export::Flavour::Compose,
        Format::Stack => export::Flavour::Stack,
    };
    let yaml = export::export(&space, &text, &opts, flavour).map_err(|e| match e {
        export::ExportError::Config(c) => anyhow::Error::from(c),
        other => InvalidInput::new(other.to_string()).into(),
    })?;
    match &args.output {
        Some(path) => std::fs::write(path, &yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{yaml}"),
    }
    if let Some(path) = &args.env_file {
        let ids: Vec<String> = space
            .participants
            .iter()
            .filter(|p| p.kind.has_container())
            .map(|p| p.id.clone())
            .collect();
        let mew_dir = crate::tokens::ensure_mew_dir(&space.file)
            .context("cannot create the space's .mew directory")?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tokens = crate::tokens::resolve_all(&mew_dir, &ids)
            .context("cannot read or create the participants' tokens")?;
        export::write_private(path, export::env_file_text(&tokens).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
