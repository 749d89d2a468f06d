//! `mew gateway start` / `mew gateway health`.
use crate::error::InvalidInput;
use clap::{Args, Subcommand};
use mew_gateway::GatewayOptions;
use std::path::PathBuf;

/// `mew gateway health` gives up on a gateway that accepts but never answers.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCommand {
    /// Start the MEW gateway (WebSocket + HTTP on one port).
    Start(StartArgs),
    /// Exit 0 iff the gateway's GET /health reports ok (container healthcheck).
    #[command(hide = true)]
    Health(HealthArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// The space configuration.
    #[arg(short = 's', long, default_value = "./space.yaml")]
    pub(crate) space_config: PathBuf,
    /// Console verbosity: debug, info, warn or error.
    #[arg(short = 'l', long, default_value = "info")]
    pub(crate) log_level: String,
    /// Do not launch `auto_start` participants.
    #[arg(long)]
    pub(crate) no_auto_start: bool,
    /// Address to bind (default: loopback only; 0.0.0.0 for all interfaces).
    #[arg(long)]
    pub(crate) bind: Option<String>,
    /// Write the JSONL history to <mew dir>/logs/NAME/ (`mew space up` passes the space id
    /// when it is not space.yaml's, so copies of one directory keep separate histories).
    #[arg(long, value_name = "NAME")]
    pub(crate) history_subdir: Option<String>,
    /// The space id, instead of the file's `space.id` (`mew space up --space-id` passes it).
    #[arg(long, value_name = "ID")]
    pub(crate) space_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    #[arg(short, long, default_value_t = 8080)]
    pub(crate) port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
}

pub(crate) async fn run(cmd: GatewayCommand) -> anyhow::Result<()> {
    match cmd {
        GatewayCommand::Start(a) => {
            let bind = match a.bind.as_deref() {
                None => None,
                Some(s) => Some(s.parse().map_err(|_| {
                    InvalidInput::new(format!("--bind {s:?} is not an IP address"))
                })?),
            };
            let opts = GatewayOptions {
                port: a.port,
                space_config: a.space_config,
                log_level: a.log_level,
                auto_start: !a.no_auto_start,
                bind,
                history_subdir: a.history_subdir,
                space_id: a.space_id,
            };
            mew_gateway::run(opts).await?;
            Ok(())
        }
        GatewayCommand::Health(a) => {
            let url = format!(
                "{}/health",
                mew_space::net::reachable_url("http", &a.host, a.port)
            );
            let answer = mew_client::http::get(&url, HEALTH_TIMEOUT)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("gateway at {}:{} unreachable: {e}", a.host, a.port)
                })?;
            if answer.is_healthy() {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "gateway at {}:{} is not healthy",
                    a.host,
                    a.port
                ))
            }
        }
    }
}
