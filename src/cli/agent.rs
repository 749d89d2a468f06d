use clap::{Args, Subcommand};

use crate::agents::{self, AgentKind};
use crate::client::ParticipantOptions;
use crate::error::InvalidInput;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Answer each chat message with `Echo: <text>`.
    Echo(AgentArgs),
    /// An MCP server over MEW with the tools add, multiply and evaluate.
    Calculator(AgentArgs),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Gateway WebSocket URL, e.g. ws://gateway:8080.
    #[arg(short, long, env = "MEW_GATEWAY")]
    pub gateway: String,
    /// Space id to join.
    #[arg(short, long, env = "MEW_SPACE")]
    pub space: String,
    /// Token sent with the join.
    #[arg(short, long, env = "MEW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Participant id (default: <type>-agent).
    #[arg(long, env = "MEW_PARTICIPANT_ID")]
    pub id: Option<String>,
}

pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    let (kind, args) = match cmd {
        AgentCommand::Echo(a) => (AgentKind::Echo, a),
        AgentCommand::Calculator(a) => (AgentKind::Calculator, a),
    };
    let opts = ParticipantOptions {
        gateway: args.gateway,
        space: args.space,
        participant_id: args.id.unwrap_or_else(|| format!("{}-agent", kind.name())),
        token: args.token,
    };
    agents::run(kind, opts, crate::client::shutdown_signal())
        .await
        .map_err(|e| InvalidInput::new(e.to_string()).into())
}
