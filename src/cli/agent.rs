use clap::{Args, Subcommand};

use crate::agents::run::config::{AgentConfig, ModelSettings, DEFAULT_BASE_URL, DEFAULT_MODEL};
use crate::agents::{self, AgentKind};
use crate::error::InvalidInput;
use mew_client::ParticipantOptions;

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Answer each chat message with `Echo: <text>`.
    Echo(AgentArgs),
    /// An MCP server over MEW with the tools add, multiply and evaluate.
    Calculator(AgentArgs),
    /// Carry out every mcp/proposal in the space (sends the proposed request for the proposer).
    Fulfiller(AgentArgs),
    /// Upstream's form: `mew agent start --type echo|calculator|fulfiller` (id `<type>-agent`).
    Start(StartArgs),
    /// A model-driven agent: answers chats through an OpenAI-compatible API.
    ///
    /// Model: OPENAI_API_KEY (without it, every chat gets an explanation), OPENAI_BASE_URL
    /// (default https://api.openai.com/v1), OPENAI_MODEL (default gpt-4o-mini). Settings:
    /// MEW_AGENT_CONFIG, a JSON object such as {"maxIterations": 10, "systemPrompt": "..."}.
    /// The tools of the other participants (tools/list) are offered to the model; calls the
    /// agent's capabilities do not allow are sent as mcp/proposal for someone to approve.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) at: GatewayArgs,
    /// Token sent with the join (else the file MEW_TOKEN_FILE names, else /run/secrets/mew-token).
    #[arg(short, long, env = "MEW_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Participant id.
    #[arg(long, env = "MEW_PARTICIPANT_ID")]
    pub(crate) id: String,
    /// Model name (overrides OPENAI_MODEL and the config's `model`).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Model calls allowed per chat (overrides the config's `maxIterations`, default 10).
    #[arg(long)]
    pub(crate) max_iterations: Option<u32>,
    /// System prompt (overrides the config's `systemPrompt`).
    #[arg(long)]
    pub(crate) system_prompt: Option<String>,
}

/// Where an agent joins: the same flags and environment for every agent.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// Gateway WebSocket URL, e.g. ws://gateway:8080.
    #[arg(short, long, env = "MEW_GATEWAY")]
    pub(crate) gateway: String,
    /// Space id to join.
    #[arg(short, long, env = "MEW_SPACE")]
    pub(crate) space: String,
}

/// Which built-in agent `mew agent start --type` runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum StartType {
    Echo,
    Calculator,
    Fulfiller,
}

/// Upstream's flags: `-t` is the type here, so the token has no short form.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// The built-in agent to run.
    #[arg(short = 't', long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: StartType,
    #[command(flatten)]
    pub(crate) at: GatewayArgs,
    /// Token sent with the join (else the file MEW_TOKEN_FILE names, else /run/secrets/mew-token).
    #[arg(long, env = "MEW_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Participant id (default: <type>-agent).
    #[arg(long, env = "MEW_PARTICIPANT_ID")]
    pub(crate) id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    #[command(flatten)]
    pub(crate) at: GatewayArgs,
    /// Token sent with the join (else the file MEW_TOKEN_FILE names, else /run/secrets/mew-token).
    #[arg(short, long, env = "MEW_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Participant id (default: <type>-agent).
    #[arg(long, env = "MEW_PARTICIPANT_ID")]
    pub(crate) id: Option<String>,
}

pub(crate) async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    let (kind, args) = match cmd {
        AgentCommand::Echo(a) => (AgentKind::Echo, a),
        AgentCommand::Calculator(a) => (AgentKind::Calculator, a),
        AgentCommand::Fulfiller(a) => (AgentKind::Fulfiller, a),
        AgentCommand::Start(a) => {
            let kind = match a.kind {
                StartType::Echo => AgentKind::Echo,
                StartType::Calculator => AgentKind::Calculator,
                StartType::Fulfiller => AgentKind::Fulfiller,
            };
            let agent = AgentArgs {
                at: a.at,
                token: a.token,
                id: a.id,
            };
            (kind, agent)
        }
        AgentCommand::Run(a) => return run_model_agent(a).await,
    };
    let opts = ParticipantOptions {
        gateway: args.at.gateway,
        space: args.at.space,
        participant_id: args.id.unwrap_or_else(|| format!("{}-agent", kind.name())),
        token: mew_space::tokens::given_or_secret_file(args.token)?,
    };
    agents::run(kind, opts, mew_client::shutdown_signal())
        .await
        .map_err(|e| InvalidInput::new(e.to_string()).into())
}

/// Empty counts as unset, and so does a bare `${NAME}`: templates pass `${OPENAI_API_KEY}`, which
/// `mew space up` leaves literal when the host has no such variable.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !is_placeholder(v))
}

fn is_placeholder(v: &str) -> bool {
    v.strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

async fn run_model_agent(args: RunArgs) -> anyhow::Result<()> {
    let raw = env_nonempty("MEW_AGENT_CONFIG");
    let loaded = AgentConfig::from_json(raw.as_deref()).map_err(InvalidInput::new)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let mut config = loaded.config;
    if let Some(n) = args.max_iterations {
        config.max_iterations = n.max(1);
    }
    if let Some(p) = args.system_prompt {
        config.system_prompt = p;
    }
    let model = args
        .model
        .or_else(|| config.model.clone())
        .or_else(|| env_nonempty("OPENAI_MODEL"))
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    // The config's own values win, as upstream merges MEW_AGENT_CONFIG over the environment.
    let (base_url, from) = match config.base_url.clone().filter(|u| !u.trim().is_empty()) {
        Some(url) => (url.trim().to_string(), "MEW_AGENT_CONFIG key `baseURL`"),
        None => (
            env_nonempty("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            "OPENAI_BASE_URL",
        ),
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(InvalidInput::new(format!(
            "{from} `{base_url}` must start with http:// or https://"
        ))
        .into());
    }
    let api_key = config
        .api_key
        .as_ref()
        .map(|k| k.0.trim().to_string())
        .filter(|k| !k.is_empty() && !is_placeholder(k))
        .or_else(|| env_nonempty("OPENAI_API_KEY"));
    let settings = ModelSettings {
        base_url,
        model,
        api_key,
    };
    let opts = agents::run::RunOptions {
        participant: ParticipantOptions {
            gateway: args.at.gateway,
            space: args.at.space,
            participant_id: args.id,
            token: mew_space::tokens::given_or_secret_file(args.token)?,
        },
        config,
        model: settings,
    };
    agents::run::run(opts, mew_client::shutdown_signal())
        .await
        .map_err(|e| InvalidInput::new(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn unexpanded_placeholders_count_as_unset() {
        assert!(super::is_placeholder("${OPENAI_API_KEY}"));
        assert!(!super::is_placeholder("sk-${x"));
        assert!(!super::is_placeholder("${}"));
        assert!(!super::is_placeholder("sk-abc"));
    }
}
