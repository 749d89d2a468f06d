use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::error::InvalidInput;
use mew_client::connect::{self, choose_io, ConnectError, ConnectOptions};
use mew_client::ParticipantOptions;

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Join a space; write received messages to a file, a FIFO or the terminal.
    Connect(ConnectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Gateway WebSocket URL, e.g. ws://localhost:8080.
    #[arg(
        short,
        long,
        env = "MEW_GATEWAY",
        default_value = "ws://localhost:8080"
    )]
    pub(crate) gateway: String,
    /// Space id to join.
    #[arg(short, long, env = "MEW_SPACE")]
    pub(crate) space: String,
    /// Participant id (default: client-<unix ms>).
    #[arg(short = 'p', long, env = "MEW_PARTICIPANT_ID")]
    pub(crate) participant_id: Option<String>,
    /// Token sent with the join (decides capabilities; else the file MEW_TOKEN_FILE names, else
    /// /run/secrets/mew-token).
    #[arg(short, long, env = "MEW_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Append each received message as one compact JSON line to this file.
    #[arg(long, visible_alias = "output-file", value_name = "FILE")]
    pub(crate) output_log: Option<PathBuf>,
    /// Read envelopes (one JSON object per line) from this FIFO, following it like `tail -F`.
    #[arg(long, value_name = "PATH")]
    pub(crate) fifo_in: Option<PathBuf>,
    /// Write received messages to this FIFO (when no --output-log is given).
    #[arg(long, value_name = "PATH")]
    pub(crate) fifo_out: Option<PathBuf>,
}

pub(crate) async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Connect(args) => connect_cmd(args).await,
    }
}

async fn connect_cmd(args: ConnectArgs) -> anyhow::Result<()> {
    let participant_id = args
        .participant_id
        .unwrap_or_else(|| format!("client-{}", chrono::Utc::now().timestamp_millis()));
    let (output, input) = choose_io(
        args.output_log,
        args.fifo_out,
        args.fifo_in,
        std::io::stdin().is_terminal(),
    );
    let opts = ConnectOptions {
        participant: ParticipantOptions {
            gateway: args.gateway,
            space: args.space,
            participant_id,
            token: mew_space::tokens::given_or_secret_file(args.token)?,
        },
        output,
        input,
    };
    match connect::run(opts, mew_client::shutdown_signal()).await {
        Err(ConnectError::Url(e)) => Err(InvalidInput::new(e.to_string()).into()),
        other => other.context("mew client connect"),
    }
}
