//! Lenient reading of the space.yaml keys the gateway uses (spec/gateway.md §7.4). Unknown keys
//! and wrongly-typed values are ignored: the gateway must run on any upstream file.
use indexmap::IndexMap;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    pub space_id: Option<String>,
    pub space_name: Option<String>,
    pub participants: IndexMap<String, ParticipantConfig>,
    pub default_capabilities: Option<Vec<Value>>,
    pub logging: LoggingSwitches,
    /// `space.allow_anonymous_joins` (mew): joins without a participant's token under new ids.
    pub allow_anonymous_joins: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ParticipantConfig {
    pub tokens: Vec<String>,
    pub capabilities: Option<Vec<Value>>,
    pub output_log: Option<String>,
    pub auto_connect: bool,
    pub auto_start: bool,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: IndexMap<String, String>,
    pub restart_policy: Option<String>,
    pub io: Option<String>,
}

/// `gateway_logging.*` from the file (None = not set, defaults to on).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingSwitches {
    pub enabled: Option<bool>,
    pub envelope_history: Option<bool>,
    pub capability_decisions: Option<bool>,
}

impl GatewayConfig {
    /// Read and interpret a space.yaml. Errors are strings for the console line.
    pub fn load(path: &Path) -> Result<GatewayConfig, String> {
        let text = super::parse::read_limited(path).map_err(|e| e.to_string())?;
        Self::parse_file(path, &text)
    }

    pub fn parse(text: &str) -> Result<GatewayConfig, String> {
        Self::parse_file(Path::new("space.yaml"), text)
    }

    /// The runner's reader (anchors, `<<` merges, positions in errors), read leniently here.
    fn parse_file(path: &Path, text: &str) -> Result<GatewayConfig, String> {
        let root = super::parse::parse(path, text).map_err(|e| e.to_string())?;
        Ok(Self::from_json(&root.to_json()))
    }

    fn from_json(root: &Value) -> GatewayConfig {
        let space = root.get("space");
        let participants = root
            .get("participants")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), ParticipantConfig::from_json(v)))
                    .collect()
            })
            .unwrap_or_default();
        let logging = root.get("gateway_logging");
        let switch = |v: Option<&Value>| v.and_then(|e| e.get("enabled")).and_then(Value::as_bool);
        GatewayConfig {
            space_id: space.and_then(|s| s.get("id")).and_then(scalar_string),
            space_name: space.and_then(|s| s.get("name")).and_then(scalar_string),
            participants,
            default_capabilities: root
                .get("defaults")
                .and_then(|d| d.get("capabilities"))
                .and_then(Value::as_array)
                .cloned(),
            logging: LoggingSwitches {
                enabled: switch(logging),
                envelope_history: switch(logging.and_then(|l| l.get("envelope_history"))),
                capability_decisions: switch(logging.and_then(|l| l.get("capability_decisions"))),
            },
            // Anything but a literal `true` keeps them off: a typo must not open the space.
            allow_anonymous_joins: space
                .and_then(|s| s.get("allow_anonymous_joins"))
                .and_then(Value::as_bool)
                == Some(true),
        }
    }
}

impl ParticipantConfig {
    fn from_json(v: &Value) -> ParticipantConfig {
        let strings = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(scalar_string).collect())
                .unwrap_or_default()
        };
        ParticipantConfig {
            tokens: strings("tokens"),
            capabilities: v.get("capabilities").and_then(Value::as_array).cloned(),
            output_log: v.get("output_log").and_then(scalar_string),
            auto_connect: v.get("auto_connect").and_then(Value::as_bool) == Some(true),
            auto_start: v.get("auto_start").and_then(Value::as_bool) == Some(true),
            command: v.get("command").and_then(scalar_string),
            args: strings("args"),
            env: v
                .get("env")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s)))
                        .collect()
                })
                .unwrap_or_default(),
            restart_policy: v.get("restart_policy").and_then(scalar_string),
            io: v.get("io").and_then(scalar_string),
        }
    }
}

/// Strings, and numbers/booleans written where a string is expected (`id: 42`).
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_keys_ignores_others() {
        let cfg = GatewayConfig::parse(
            r#"
space:
  id: demo
  name: Demo
  ui_theme: dark
participants:
  echo-agent:
    type: local
    tokens: [echo-token, other]
    capabilities:
      - kind: chat
    output_log: ./logs/echo.jsonl
    auto_connect: true
    auto_start: true
    command: node
    args: ["a.js", "--port", "${PORT}"]
    env: {A: "1", B: 2}
    fifo: false
  bare: {}
defaults:
  capabilities: [{kind: "mcp/*"}]
gateway_logging:
  enabled: true
  envelope_history: {enabled: false}
"#,
        )
        .unwrap();
        assert_eq!(cfg.space_id.as_deref(), Some("demo"));
        let p = &cfg.participants["echo-agent"];
        assert_eq!(p.tokens, ["echo-token", "other"]);
        assert!(p.auto_connect && p.auto_start);
        assert_eq!(p.args.len(), 3);
        assert_eq!(p.env["B"], "2");
        assert!(cfg.participants["bare"].capabilities.is_none());
        assert_eq!(cfg.default_capabilities.as_ref().unwrap().len(), 1);
        assert_eq!(cfg.logging.envelope_history, Some(false));
        assert_eq!(cfg.logging.capability_decisions, None);
        assert_eq!(cfg.logging.enabled, Some(true));
        assert!(!cfg.allow_anonymous_joins);
        let open = GatewayConfig::parse("space: {id: s, allow_anonymous_joins: true}").unwrap();
        assert!(open.allow_anonymous_joins);
        let typo = GatewayConfig::parse("space: {allow_anonymous_joins: \"yes\"}").unwrap();
        assert!(!typo.allow_anonymous_joins);
    }

    #[test]
    fn merge_keys_and_anchors() {
        let cfg = GatewayConfig::parse(
            r#"
x-agent: &agent
  capabilities: [{kind: chat}]
  tokens: [shared]
participants:
  a:
    <<: *agent
    tokens: [a-token]
"#,
        )
        .unwrap();
        let a = &cfg.participants["a"];
        assert_eq!(a.tokens, ["a-token"]);
        assert_eq!(a.capabilities.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(GatewayConfig::parse("a: [").is_err());
        // Not a mapping: read as an empty config.
        assert!(GatewayConfig::parse("- 1").unwrap().participants.is_empty());
    }
}
