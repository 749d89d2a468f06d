use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Subcommand};

use crate::bridge::{self, BridgeOptions, ServerCommand};
use mew_client::ParticipantOptions;

#[derive(Debug, Subcommand)]
pub(crate) enum BridgeCommand {
    /// Run a stdio MCP server and make it a participant of a space.
    Start(StartArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Gateway WebSocket URL, e.g. ws://gateway:8080.
    #[arg(short, long, env = "MEW_GATEWAY")]
    pub(crate) gateway: String,
    /// Space id to join.
    #[arg(short, long, env = "MEW_SPACE")]
    pub(crate) space: String,
    /// The bridge's participant id; it answers `mcp/request`s addressed to this id.
    #[arg(short = 'p', long, env = "MEW_PARTICIPANT_ID")]
    pub(crate) participant_id: String,
    /// Token sent with the join (else the file MEW_TOKEN_FILE names, else /run/secrets/mew-token).
    #[arg(short, long, env = "MEW_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// The MCP server's program; `mew` means this mew executable (its built-in servers: `mew mcp
    /// list`).
    #[arg(short = 'm', long)]
    pub(crate) mcp_command: String,
    /// Its arguments, comma-separated, e.g. `mcp,filesystem,./`.
    #[arg(long, allow_hyphen_values = true, value_name = "A,B,…")]
    pub(crate) mcp_args: Option<String>,
    /// Extra environment for it, e.g. `K=V,K2=V2`.
    #[arg(long, allow_hyphen_values = true, value_name = "K=V,…")]
    pub(crate) mcp_env: Option<String>,
    /// Its working directory (default: the bridge's).
    #[arg(long, value_name = "DIR")]
    pub(crate) mcp_cwd: Option<PathBuf>,
    /// Milliseconds the server gets to answer `initialize`.
    #[arg(long, default_value_t = 30000, value_name = "MS")]
    pub(crate) init_timeout: u64,
    /// Accepted for compatibility: the bridge always reconnects to the gateway.
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub(crate) reconnect: bool,
    /// Accepted for compatibility: reconnects are not limited.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub(crate) max_reconnects: u32,
    /// The participant's capabilities as a JSON list (checked only: the gateway grants
    /// capabilities from space.yaml by token).
    #[arg(long, value_name = "JSON")]
    pub(crate) capabilities: Option<String>,
}

pub(crate) async fn run(cmd: BridgeCommand) -> anyhow::Result<()> {
    let BridgeCommand::Start(a) = cmd;
    let Some(token) = mew_space::tokens::given_or_secret_file(a.token)? else {
        return Err(crate::error::InvalidInput::new(format!(
            "mew bridge start: no token: pass --token, or set MEW_TOKEN or MEW_TOKEN_FILE, or mount it at {}",
            mew_space::tokens::SECRET_FILE
        ))
        .into());
    };
    if let Some(caps) = &a.capabilities {
        bridge::parse_capabilities(caps)?;
    }
    let server = ServerCommand {
        command: a.mcp_command,
        args: a
            .mcp_args
            .as_deref()
            .map(bridge::split_args)
            .unwrap_or_default(),
        env: a
            .mcp_env
            .as_deref()
            .map(bridge::parse_env)
            .transpose()?
            .unwrap_or_default(),
        cwd: a.mcp_cwd,
    };
    let opts = BridgeOptions {
        participant: ParticipantOptions {
            gateway: a.gateway,
            space: a.space,
            participant_id: a.participant_id,
            token: Some(token),
        },
        server,
        init_timeout: Duration::from_millis(a.init_timeout),
    };
    bridge::run(opts, mew_client::shutdown_signal()).await?;
    Ok(())
}
