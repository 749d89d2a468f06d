//! `mew space connect`: join a running space from this terminal.
use anyhow::Context;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};

use crate::cli::space::status::SpaceSelect;
use crate::connect::{self, ResolveError, SessionOptions};
use crate::error::InvalidInput;
use mew_space::config::Space;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew space connect                          # as space.default_participant or the only human\n  \
    mew space connect --participant assistant -d compose-examples/calculator\n  \
    mew space connect --gateway ws://127.0.0.1:8080\n\n\
    In the session: a line is sent as chat, a JSON object as an envelope; /help lists the\n\
    commands (/participants, /proposals, /approve N, /reject N, /verbose, /exit).")]
pub(crate) struct ConnectArgs {
    /// Participant to join as (default: space.default_participant, else the only human).
    #[arg(long, value_name = "ID")]
    pub(crate) participant: Option<String>,
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// Gateway URL (default: the running gateway's published port).
    #[arg(long, value_name = "URL")]
    pub(crate) gateway: Option<String>,
}

pub(crate) async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let sel = &args.select;
    let space = mew_space::config::find_and_load(
        sel.space_dir.as_deref(),
        sel.space_config.as_deref(),
        sel.space_id.as_deref(),
    )?;
    connect_to(
        &space,
        args.participant.as_deref(),
        args.gateway,
        sel.host.as_deref(),
    )
    .await
}

/// Join `space` interactively (also used by bare `mew`).
pub(crate) async fn connect_to(
    space: &Space,
    participant: Option<&str>,
    gateway: Option<String>,
    host: Option<&str>,
) -> anyhow::Result<()> {
    let tty = std::io::stdin().is_terminal();
    let username = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_default();
    let mut choose = choose_on_terminal;
    let chooser: Option<&mut connect::resolve::ChooseFn> =
        if tty { Some(&mut choose) } else { None };
    let me = connect::resolve_participant(space, participant, &username, chooser)
        .map_err(|e| InvalidInput::new(format!("Failed to resolve participant: {e}")))?;
    let gateway = match gateway {
        Some(g) => g,
        None => running_gateway(space, host).await?,
    };
    let token = participant_token(space, &me)?;
    let default_to = space
        .participant(&me)
        .map(|p| p.default_to.clone())
        .unwrap_or_default();
    let opts = SessionOptions {
        gateway,
        space: space.id.clone(),
        participant: me,
        token: Some(token),
        default_to,
    };
    let lines = mew_client::io::stdin_lines();
    connect::run(opts, lines, mew_client::shutdown_signal()).await?;
    Ok(())
}

/// `ws://<host>:<port>` of the space's gateway container, from the engine.
pub(crate) async fn running_gateway(space: &Space, host: Option<&str>) -> anyhow::Result<String> {
    let docker = match crate::ops::target::connect(host).await {
        Ok(d) => d,
        Err(e) => {
            let fallback = "ws://127.0.0.1:8080".to_string();
            eprintln!(
                "warning: cannot ask the container engine where the gateway is ({}); trying {fallback}",
                crate::error::one_line(&e)
            );
            return Ok(fallback);
        }
    };
    let facts = mew_engine::inspect::inspect_space(&docker, &space.id).await?;
    let running = facts
        .iter()
        .any(|f| f.container.is_gateway() && f.container.is_running());
    match crate::ops::status::gateway_address(&facts) {
        Some((host, port)) if running => Ok(crate::ops::status::gateway_url(&host, port)),
        _ => Err(anyhow::anyhow!(
            "No running space found (space {}). Use \"mew space up\" first.",
            space.id
        )),
    }
}

/// `MEW_TOKEN_<ID>`, else `.mew/tokens/<id>.token` (created if missing, as the gateway would).
fn participant_token(space: &Space, id: &str) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var(mew_space::tokens::env_var_name(id)) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let dir = mew_space::tokens::tokens_dir(&mew_space::tokens::mew_dir_for(&space.file));
    mew_space::tokens::load_or_create(&dir, id)
        .with_context(|| format!("cannot read the token of `{id}`"))
}

fn choose_on_terminal(options: &[(String, String)]) -> Result<Option<usize>, ResolveError> {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "Multiple participants available. Please select:");
    for (i, (id, caps)) in options.iter().enumerate() {
        let _ = writeln!(err, "  {}. {id} (capabilities: {caps})", i + 1);
    }
    let _ = write!(err, "Enter number (or press Enter to skip): ");
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return Ok(None);
    }
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    match line.parse::<usize>() {
        Ok(n) if (1..=options.len()).contains(&n) => Ok(Some(n - 1)),
        _ => Err(ResolveError::InvalidSelection),
    }
}
