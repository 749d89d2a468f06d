//! The validated form of a space.yaml. Everything here has been checked; positions are kept
//! for the few errors that can only be found later (e.g. no image for a command).
use super::parse::Pos;
use crate::model::{LogConfig, RestartPolicy};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A whole space, as described by its space.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// Absolute path of the space.yaml.
    pub file: PathBuf,
    /// Absolute path of the space directory (the working directory of every process).
    pub dir: PathBuf,
    /// `space.id`, or the `--space-id` / `MEW_SPACE_ID` override.
    pub id: String,
    /// `space.id` as space.yaml writes it (`None` when it has none).
    pub file_id: Option<String>,
    /// `space.name` (display only), `unnamed-space` when absent.
    pub name: String,
    pub description: Option<String>,
    pub default_participant: Option<String>,
    pub network_mode: NetworkMode,
    /// `space.allow_anonymous_joins`: whether the gateway accepts joins without a participant's
    /// token under ids nobody configured, invited or holds (default false).
    pub allow_anonymous_joins: bool,
    /// In space.yaml order.
    pub participants: Vec<Participant>,
    pub defaults: Defaults,
    pub gateway: GatewaySettings,
    pub gateway_logging: GatewayLogging,
    /// Things that load but probably do not do what the author meant, one line each
    /// (`file:line:column: message`), for the CLI to print.
    pub warnings: Vec<String>,
}

impl Space {
    pub fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// The folder below `logs/` and `.mew/logs/` this run writes to: none under space.yaml's own
    /// id (the usual `logs/<participant>.log`, `.mew/logs/*.jsonl`), the space id under another
    /// `--space-id`, so that copies of one directory running side by side keep separate logs.
    pub fn log_subdir(&self) -> Option<&str> {
        (self.file_id.as_deref() != Some(self.id.as_str())).then_some(self.id.as_str())
    }

    /// Where the participants' output logs are (`<participant>.log`).
    pub fn logs_dir(&self) -> PathBuf {
        let logs = self.dir.join("logs");
        match self.log_subdir() {
            Some(sub) => logs.join(sub),
            None => logs,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// One user-defined bridge network per space (the default).
    #[default]
    Bridge,
    /// Every container shares one network namespace (for agents hard-coding `localhost`).
    Shared,
}

/// What `space up` does with a participant (spec/cli.md §1.7), in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `type: mcp-bridge` + `auto_start` + `mcp_server`: a `mew bridge start` container.
    Bridge,
    /// `auto_start` + `command`: a container running the command.
    Agent,
    /// `fifo: true` + `auto_connect`: a `mew client connect` container.
    FifoClient,
    /// `output_log` + `auto_connect` + `tokens`: connected by the gateway itself; no container.
    Virtual,
    /// Humans and externally started programs: only a token.
    Passive,
}

impl Kind {
    /// Whether this participant gets a container of its own.
    pub fn has_container(self) -> bool {
        matches!(self, Kind::Bridge | Kind::Agent | Kind::FifoClient)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub id: String,
    /// Where the participant's key is in the file.
    pub pos: Pos,
    pub kind: Kind,
    /// `type` as written (`local`, `mcp-bridge`, …).
    pub kind_name: Option<String>,
    pub command: Option<String>,
    pub command_pos: Option<Pos>,
    /// Arguments as text (YAML numbers and booleans are stringified).
    pub args: Vec<String>,
    /// Where each of `args` is in the file (same order).
    pub args_pos: Vec<Pos>,
    /// `volumes`, with `defaults.volumes` for targets the participant does not mount itself.
    pub volumes: Vec<VolumeEntry>,
    /// `env` merged over `defaults.env`, values as text, not yet substituted.
    pub env: BTreeMap<String, String>,
    pub auto_start: bool,
    pub auto_connect: bool,
    pub fifo: bool,
    pub output_log: Option<String>,
    /// Legacy literal tokens.
    pub tokens: Vec<String>,
    /// `capabilities`, else `defaults.capabilities` (JSON list of `{kind, payload?}`).
    pub capabilities: Option<serde_json::Value>,
    /// `default_to` (kind → recipients), else `defaults.routing.default_to`: where `mew space
    /// connect` sends what is typed (upstream's UI does the same).
    pub default_to: BTreeMap<String, Vec<String>>,
    pub mcp_server: Option<McpServer>,
    pub bridge_config: BridgeConfig,
    /// Lifecycle settings with `defaults` already applied (participant wins).
    pub lifecycle: Lifecycle,
}

#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BridgeConfig {
    pub init_timeout: Option<u64>,
    pub reconnect: Option<bool>,
    pub max_reconnects: Option<u64>,
}

/// Container settings mew adds to space.yaml; `None` = not set here (a default applies).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifecycle {
    pub image: Option<String>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
    pub logging: Option<LogConfig>,
    pub stop_grace_ms: Option<u64>,
}

impl Lifecycle {
    /// `self` where set, else `fallback`.
    pub fn or(&self, fallback: &Lifecycle) -> Lifecycle {
        Lifecycle {
            image: self.image.clone().or_else(|| fallback.image.clone()),
            memory_bytes: self.memory_bytes.or(fallback.memory_bytes),
            nano_cpus: self.nano_cpus.or(fallback.nano_cpus),
            pids_limit: self.pids_limit.or(fallback.pids_limit),
            restart: self.restart.clone().or_else(|| fallback.restart.clone()),
            logging: self.logging.clone().or_else(|| fallback.logging.clone()),
            stop_grace_ms: self.stop_grace_ms.or(fallback.stop_grace_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Defaults {
    pub capabilities: Option<serde_json::Value>,
    pub default_to: BTreeMap<String, Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub volumes: Vec<VolumeEntry>,
    pub lifecycle: Lifecycle,
}

/// One entry of a `volumes:` list (compose's short `SRC:TARGET[:ro|rw]` or long syntax).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeEntry {
    pub source: VolumeSource,
    /// Absolute path in the container (`.` and trailing `/` removed).
    pub target: String,
    /// Binds are read-only unless they say `rw` / `read_only: false`; named volumes writable.
    pub read_only: bool,
    /// Where the entry is in the file.
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// A host directory or file. `path` is absolute: a relative source is joined to the space
    /// directory and `.`/`..` are taken out (lexically; symlinks are the engine's business).
    Bind {
        path: PathBuf,
        /// The source as space.yaml wrote it, when relative (exports keep it relative).
        relative: Option<String>,
    },
    /// A volume of the space, named `<spaceid>_<name>` in the engine.
    Named(String),
}

impl VolumeEntry {
    /// The entry in compose's short syntax, as a fix suggestion or in messages.
    pub fn short(&self) -> String {
        let source = match &self.source {
            VolumeSource::Bind {
                relative: Some(r), ..
            } => r.clone(),
            VolumeSource::Bind { path, .. } => path.display().to_string(),
            VolumeSource::Named(n) => n.clone(),
        };
        let mode = match (&self.source, self.read_only) {
            (VolumeSource::Bind { .. }, false) => ":rw",
            (VolumeSource::Named(_), true) => ":ro",
            _ => "",
        };
        format!("{source}:{}{mode}", self.target)
    }
}

/// `gateway:` keys mew uses for the gateway container (`port`/`space` are upstream docs only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatewaySettings {
    pub image: Option<String>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    /// `None`: `unless-stopped`.
    pub restart: Option<RestartPolicy>,
    pub logging: Option<LogConfig>,
}

/// `gateway_logging.*` switches (all on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayLogging {
    pub enabled: bool,
    pub envelope_history: bool,
    pub capability_decisions: bool,
}

impl Default for GatewayLogging {
    fn default() -> Self {
        GatewayLogging {
            enabled: true,
            envelope_history: true,
            capability_decisions: true,
        }
    }
}
