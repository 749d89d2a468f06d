//! Settings of `mew agent run`: built-in defaults, then the `MEW_AGENT_CONFIG` JSON object merged
//! over them, then command-line flags. Upstream's keys are honoured under their own names
//! (`reasoningEnabled`, `conversationHistoryLength`, `requestTimeout`, `mockLLM`, `autoRespond`,
//! `apiKey`, `baseURL`, `contextTokenLimit`, `prompts.system`); upstream's optional tuning keys
//! that mew has no counterpart for are named in a warning; a key mew cannot honour without
//! changing what the agent does (a ReAct prompt template) is refused; any other key is named in a
//! warning, so configs written for other MEW agents still load.
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub(crate) const DEFAULT_MODEL: &str = "gpt-4o-mini";
pub(crate) const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a helpful assistant taking part in a MEW space, \
a shared chat where people and agents exchange messages. Answer concisely. Use the available tools \
when they help; some tool calls need a human's approval and may be rejected, in which case explain \
what you wanted to do instead of retrying the same call.";

/// An API key from the config: never shown, not even through `{:?}`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub(crate) struct ApiKey(pub(crate) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<set>")
    }
}

/// Everything the agent can be told through `MEW_AGENT_CONFIG` (camelCase keys).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct AgentConfig {
    /// Model calls allowed for one chat (each tool round costs one).
    pub(crate) max_iterations: u32,
    pub(crate) system_prompt: String,
    /// Overrides `OPENAI_MODEL`.
    pub(crate) model: Option<String>,
    pub(crate) temperature: Option<f64>,
    /// Earlier chat messages (user and assistant) kept and sent along with a new question.
    #[serde(alias = "conversationHistoryLength")]
    pub(crate) history_length: usize,
    /// One Chat Completions request, connect included.
    #[serde(alias = "requestTimeout")]
    pub(crate) request_timeout_ms: u64,
    /// A direct `mcp/request` `tools/call`.
    pub(crate) tool_timeout_ms: u64,
    /// A proposal waits this long for a human's approval (or rejection).
    pub(crate) proposal_timeout_ms: u64,
    /// `tools/list` discovery: most participants are not MCP servers and never answer, and a
    /// bridge may still be starting its server, so the wait is long (it costs nothing).
    pub(crate) discovery_timeout_ms: u64,
    /// Send `reasoning/start`, `reasoning/thought` and `reasoning/conclusion` when the
    /// capabilities allow it.
    #[serde(alias = "reasoningEnabled")]
    pub(crate) reasoning: bool,
    /// Answer chats addressed to the agent (or to everyone); off: only remember them.
    pub(crate) auto_respond: bool,
    /// Answer with a fixed, deterministic reply instead of asking a model.
    #[serde(rename = "mockLLM")]
    pub(crate) mock_llm: bool,
    /// Overrides `OPENAI_API_KEY`.
    pub(crate) api_key: Option<ApiKey>,
    /// Overrides `OPENAI_BASE_URL`.
    #[serde(rename = "baseURL")]
    pub(crate) base_url: Option<String>,
    /// The context size reported in `participant/status` (`max_tokens`); past 95 % of it the
    /// oldest history is dropped down to 70 %.
    pub(crate) context_token_limit: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            max_iterations: 10,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            model: None,
            temperature: None,
            history_length: 20,
            request_timeout_ms: 120_000,
            tool_timeout_ms: 30_000,
            proposal_timeout_ms: 300_000,
            discovery_timeout_ms: 30_000,
            reasoning: true,
            auto_respond: true,
            mock_llm: false,
            api_key: None,
            base_url: None,
            context_token_limit: 20_000,
        }
    }
}

/// Keys [`AgentConfig`] reads (mew's names and upstream's).
const HONOURED: &[&str] = &[
    "maxIterations",
    "systemPrompt",
    "model",
    "temperature",
    "historyLength",
    "conversationHistoryLength",
    "requestTimeoutMs",
    "requestTimeout",
    "toolTimeoutMs",
    "proposalTimeoutMs",
    "discoveryTimeoutMs",
    "reasoning",
    "reasoningEnabled",
    "autoRespond",
    "mockLLM",
    "apiKey",
    "baseURL",
    "contextTokenLimit",
];

/// Upstream keys that only tune behaviour mew's agent does not have: a warning says why.
const UPSTREAM_OPTIONAL: &[(&str, &str)] = &[
    (
        "name",
        "mew answers chats addressed to it or to everyone, it does not look for its name",
    ),
    (
        "logLevel",
        "mew prints one line per event and has no log levels",
    ),
    (
        "chatResponse",
        "mew answers every chat addressed to it or to everyone, without asking the model first \
         whether to",
    ),
    (
        "messageQueue",
        "mew queues every chat and answers them one at a time, in order",
    ),
    ("gateway", "the gateway comes from --gateway or MEW_GATEWAY"),
    ("space", "the space comes from --space or MEW_SPACE"),
    (
        "token",
        "the token comes from --token, MEW_TOKEN or the token file",
    ),
    (
        "participant_id",
        "the id comes from --id or MEW_PARTICIPANT_ID",
    ),
    ("reconnect", "mew always reconnects, with its own backoff"),
    (
        "reconnectDelay",
        "mew always reconnects, with its own backoff",
    ),
    (
        "maxReconnectAttempts",
        "mew always reconnects, with its own backoff",
    ),
    (
        "heartbeatInterval",
        "mew keeps the connection alive by itself",
    ),
];

/// `prompts` keys of upstream's ReAct loop: mew's agent uses the model's native tool calls, so a
/// template given for them cannot take effect.
const REACT_PROMPTS: &[&str] = &["reason", "act", "respond", "classify"];

/// A loaded config and the warnings to print about it (one line each).
#[derive(Debug, PartialEq)]
pub(crate) struct Loaded {
    pub(crate) config: AgentConfig,
    pub(crate) warnings: Vec<String>,
}

impl AgentConfig {
    /// Defaults with the JSON object `raw` merged in. The error is one line naming the key.
    pub(crate) fn from_json(raw: Option<&str>) -> Result<Loaded, String> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(Loaded {
                config: AgentConfig::default(),
                warnings: Vec::new(),
            });
        };
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| format!("MEW_AGENT_CONFIG is not valid JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("MEW_AGENT_CONFIG must be a JSON object".into());
        };
        let mut warnings = Vec::new();
        let mut known = Map::new();
        let mut system_override = None;
        for (key, value) in object {
            if HONOURED.contains(&key.as_str()) {
                // Alone first, so that a bad value is reported under its own key.
                let mut one = Map::new();
                one.insert(key.clone(), value.clone());
                serde_json::from_value::<AgentConfig>(Value::Object(one))
                    .map_err(|e| format!("MEW_AGENT_CONFIG key `{key}` has a bad value: {e}"))?;
                known.insert(key, value);
            } else if key == "prompts" {
                system_override = prompts_system(&value)?;
            } else if let Some((_, why)) = UPSTREAM_OPTIONAL.iter().find(|(k, _)| *k == key) {
                warnings.push(format!("MEW_AGENT_CONFIG key `{key}` is ignored: {why}"));
            } else {
                warnings.push(format!(
                    "MEW_AGENT_CONFIG key `{key}` is not known to mew agent run and is ignored"
                ));
            }
        }
        let mut config: AgentConfig = serde_json::from_value(Value::Object(known))
            .map_err(|e| format!("MEW_AGENT_CONFIG has a bad value: {e}"))?;
        if let Some(system) = system_override {
            config.system_prompt = system;
        }
        if config.max_iterations == 0 {
            config.max_iterations = 1;
        }
        Ok(Loaded { config, warnings })
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
    pub(crate) fn tool_timeout(&self) -> Duration {
        Duration::from_millis(self.tool_timeout_ms.max(1))
    }
    pub(crate) fn proposal_timeout(&self) -> Duration {
        Duration::from_millis(self.proposal_timeout_ms.max(1))
    }
    pub(crate) fn discovery_timeout(&self) -> Duration {
        Duration::from_millis(self.discovery_timeout_ms.max(1))
    }
}

/// Upstream's `prompts` object: `system` replaces the system prompt; a ReAct template is refused.
fn prompts_system(value: &Value) -> Result<Option<String>, String> {
    let Value::Object(prompts) = value else {
        return Err("MEW_AGENT_CONFIG key `prompts` must be an object".into());
    };
    let mut system = None;
    for (key, value) in prompts {
        match (key.as_str(), value) {
            ("system", Value::String(s)) => system = Some(s.clone()),
            ("system", _) => {
                return Err("MEW_AGENT_CONFIG key `prompts.system` must be a string".into())
            }
            (k, _) if REACT_PROMPTS.contains(&k) => {
                return Err(format!(
                    "MEW_AGENT_CONFIG key `prompts.{k}` cannot be honoured: mew's agent lets the \
                     model call tools natively and has no ReAct {k} step (use systemPrompt)"
                ))
            }
            (k, _) => {
                return Err(format!(
                    "MEW_AGENT_CONFIG key `prompts.{k}` is not a prompt mew's agent has (only \
                     prompts.system is)"
                ))
            }
        }
    }
    Ok(system)
}

/// Where the model lives: from `OPENAI_*` and the config.
#[derive(Clone)]
pub(crate) struct ModelSettings {
    pub(crate) base_url: String,
    pub(crate) model: String,
    /// `None` when `OPENAI_API_KEY` is unset or empty: the agent then explains instead of asking.
    pub(crate) api_key: Option<String>,
}

// The key must never reach a log line, not even through `{:?}`.
impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_known_keys_and_names_the_others_in_warnings() {
        let loaded = AgentConfig::from_json(Some(
            r#"{"maxIterations": 100, "systemPrompt": "be brief", "somethingElse": [1],
                "logLevel": "debug"}"#,
        ))
        .expect("valid");
        let c = &loaded.config;
        assert_eq!(c.max_iterations, 100);
        assert_eq!(c.system_prompt, "be brief");
        assert_eq!(c.history_length, AgentConfig::default().history_length);
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("`somethingElse`"));
        assert!(loaded.warnings[1].contains("`logLevel` is ignored"));
        let empty = Loaded {
            config: AgentConfig::default(),
            warnings: Vec::new(),
        };
        assert_eq!(AgentConfig::from_json(None), Ok(empty));
        assert!(AgentConfig::from_json(Some("  ")).is_ok());
    }

    #[test]
    fn upstream_keys_are_honoured_under_their_names() {
        let loaded = AgentConfig::from_json(Some(
            r#"{"reasoningEnabled": false, "conversationHistoryLength": 3,
                "requestTimeout": 600000, "mockLLM": true, "autoRespond": false,
                "apiKey": "sk-cfg", "baseURL": "http://m/v1", "contextTokenLimit": 500,
                "prompts": {"system": "from prompts"}}"#,
        ))
        .expect("valid");
        let c = loaded.config;
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert!(!c.reasoning && c.mock_llm && !c.auto_respond);
        assert_eq!(c.history_length, 3);
        assert_eq!(c.request_timeout(), Duration::from_secs(600));
        assert_eq!(c.api_key, Some(ApiKey("sk-cfg".into())));
        assert_eq!(c.base_url.as_deref(), Some("http://m/v1"));
        assert_eq!(c.context_token_limit, 500);
        assert_eq!(c.system_prompt, "from prompts");
        assert!(!format!("{c:?}").contains("sk-cfg"));
    }

    #[test]
    fn bad_configs_are_one_line_errors() {
        for (raw, names) in [
            (r#"{"maxIterations": "#, ""),
            ("[1]", ""),
            (r#"{"maxIterations": "many"}"#, "`maxIterations`"),
            (r#"{"mockLLM": "yes"}"#, "`mockLLM`"),
            (r#"{"prompts": {"reason": "think"}}"#, "`prompts.reason`"),
            (r#"{"prompts": {"system": 1}}"#, "`prompts.system`"),
            (r#"{"prompts": "x"}"#, "`prompts`"),
        ] {
            let e = AgentConfig::from_json(Some(raw)).expect_err(raw);
            assert!(e.starts_with("MEW_AGENT_CONFIG"), "{e}");
            assert!(!e.contains('\n'), "{e}");
            assert!(e.contains(names), "{e}");
        }
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let s = ModelSettings {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: Some("sk-secret".into()),
        };
        assert!(!format!("{s:?}").contains("sk-secret"));
    }
}
