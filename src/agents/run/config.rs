//! Settings of `mew agent run`: built-in defaults, then the `MEW_AGENT_CONFIG` JSON object merged
//! over them (unknown keys ignored, so configs written for other MEW agents still load), then
//! command-line flags.
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub(crate) const DEFAULT_MODEL: &str = "gpt-4o-mini";
pub(crate) const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a helpful assistant taking part in a MEW space, \
a shared chat where people and agents exchange messages. Answer concisely. Use the available tools \
when they help; some tool calls need a human's approval and may be rejected, in which case explain \
what you wanted to do instead of retrying the same call.";

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
    /// Earlier chat turns (user and assistant messages) sent along with a new question.
    pub(crate) history_length: usize,
    /// One Chat Completions request, connect included.
    pub(crate) request_timeout_ms: u64,
    /// A direct `mcp/request` `tools/call`.
    pub(crate) tool_timeout_ms: u64,
    /// A proposal waits this long for a human's approval (or rejection).
    pub(crate) proposal_timeout_ms: u64,
    /// `tools/list` discovery: most participants are not MCP servers and never answer, and a
    /// bridge may still be starting its server, so the wait is long (it costs nothing).
    pub(crate) discovery_timeout_ms: u64,
    /// Send `reasoning/start` and `reasoning/conclusion` when the capabilities allow it.
    pub(crate) reasoning: bool,
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
        }
    }
}

impl AgentConfig {
    /// Defaults with the JSON object `raw` merged in. The error is one line.
    pub(crate) fn from_json(raw: Option<&str>) -> Result<AgentConfig, String> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(AgentConfig::default());
        };
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| format!("MEW_AGENT_CONFIG is not valid JSON: {e}"))?;
        if !value.is_object() {
            return Err("MEW_AGENT_CONFIG must be a JSON object".into());
        }
        let mut config: AgentConfig = serde_json::from_value(value)
            .map_err(|e| format!("MEW_AGENT_CONFIG has a bad value: {e}"))?;
        if config.max_iterations == 0 {
            config.max_iterations = 1;
        }
        Ok(config)
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
    fn merges_known_keys_and_ignores_others() {
        let c = AgentConfig::from_json(Some(
            r#"{"maxIterations": 100, "systemPrompt": "be brief", "somethingElse": [1]}"#,
        ))
        .expect("valid");
        assert_eq!(c.max_iterations, 100);
        assert_eq!(c.system_prompt, "be brief");
        assert_eq!(c.history_length, AgentConfig::default().history_length);
        assert_eq!(AgentConfig::from_json(None), Ok(AgentConfig::default()));
        assert_eq!(
            AgentConfig::from_json(Some("  ")),
            Ok(AgentConfig::default())
        );
    }

    #[test]
    fn bad_configs_are_one_line_errors() {
        for raw in [
            r#"{"maxIterations": "#,
            "[1]",
            r#"{"maxIterations": "many"}"#,
        ] {
            let e = AgentConfig::from_json(Some(raw)).expect_err(raw);
            assert!(e.starts_with("MEW_AGENT_CONFIG"), "{e}");
            assert!(!e.contains('\n'), "{e}");
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
