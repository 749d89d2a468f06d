//! The keys space.yaml may contain. Every key spec/cli.md §1 lists is known, even those mew does
//! not use (upstream files must load unchanged); `x-…` keys are free for users' own extensions;
//! anything else is an error, with the closest known key as a suggestion.

pub const TOP: &[&str] = &[
    "space",
    "participants",
    "defaults",
    "gateway_logging",
    "gateway",
    "cleanup",
];

pub const SPACE: &[&str] = &[
    "id",
    "name",
    "description",
    "default_participant",
    "ui_theme",
    // mew
    "network",
    "allow_anonymous_joins",
];

pub const NETWORK: &[&str] = &["mode"];

/// Keys mew adds, accepted per participant and under `defaults`.
pub const LIFECYCLE: &[&str] = &[
    "image",
    "resources",
    "restart_policy",
    "logging",
    "stop_grace_period",
    "env",
    "volumes",
];

pub const PARTICIPANT: &[&str] = &[
    "type",
    "command",
    "args",
    "env",
    "auto_start",
    "tokens",
    "capabilities",
    "output_log",
    "auto_connect",
    "fifo",
    "restart_policy",
    "default_to",
    "mcp_server",
    "bridge_config",
    "io",
    "first_seen",
    // In upstream's mew-world template; upstream ignores it, and so does mew.
    "cwd",
    // mew
    "image",
    "resources",
    "logging",
    "stop_grace_period",
    "volumes",
];

pub const DEFAULTS: &[&str] = &[
    "capabilities",
    "routing",
    // mew
    "image",
    "resources",
    "restart_policy",
    "logging",
    "stop_grace_period",
    "env",
    "volumes",
];

pub const ROUTING: &[&str] = &["default_to"];

pub const GATEWAY: &[&str] = &[
    "port",
    "space",
    "image",
    "resources",
    "restart_policy",
    "logging",
];

pub const GATEWAY_LOGGING: &[&str] = &["enabled", "envelope_history", "capability_decisions"];

pub const ENABLED: &[&str] = &["enabled"];

pub const MCP_SERVER: &[&str] = &["command", "args", "env", "cwd"];

pub const BRIDGE_CONFIG: &[&str] = &["init_timeout", "reconnect", "max_reconnects"];

pub const RESOURCES: &[&str] = &["memory", "cpus", "pids"];

/// Compose's long syntax of a `volumes:` entry, as far as mew supports it.
pub const VOLUME: &[&str] = &["type", "source", "target", "read_only"];

pub const LOGGING: &[&str] = &["driver", "options"];

pub const CAPABILITY: &[&str] = &["kind", "payload"];

/// Whether a key outside the known set is allowed anyway (users' extensions).
pub fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

/// The known key closest to `key`, if it is close enough to be a plausible typo.
pub fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("auto_strat", PARTICIPANT), Some("auto_start"));
        assert_eq!(suggest("comand", PARTICIPANT), Some("command"));
        assert_eq!(suggest("Args", PARTICIPANT), Some("args"));
        assert_eq!(suggest("participant", TOP), Some("participants"));
        assert_eq!(suggest("zzzzzzzz", PARTICIPANT), None);
    }
}
