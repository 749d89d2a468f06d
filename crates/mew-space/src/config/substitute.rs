//! `${…}` expansion and gateway-URL rewriting at `up` (spec/cli.md §2.3–2.4, design.md §3).
use std::collections::BTreeMap;

/// The values of mew's own placeholders for one participant.
#[derive(Debug, Clone)]
pub struct Placeholders<'a> {
    pub port: u16,
    pub space: &'a str,
    pub token: &'a str,
    /// The gateway as participants reach it (`ws://gateway:P`).
    pub gateway_url: &'a str,
}

impl Placeholders<'_> {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "PORT" => self.port.to_string(),
            "SPACE" => self.space.to_string(),
            "TOKEN" => self.token.to_string(),
            "GATEWAY_URL" => self.gateway_url.to_string(),
            _ => return None,
        })
    }
}

/// In an `args` item: every `${PORT}`, `${SPACE}`, `${TOKEN}`, `${GATEWAY_URL}`; other `${X}`
/// stay as written.
pub fn arg(s: &str, ph: &Placeholders) -> String {
    expand(s, |name| ph.get(name))
}

/// In an `env` value: mew's placeholders, then `${VAR}` from the host environment when set and
/// non-empty; anything else stays literal (an unset `${OPENAI_API_KEY}` reaches the agent as is).
pub fn env_value(s: &str, ph: &Placeholders, host_env: &BTreeMap<String, String>) -> String {
    expand(s, |name| {
        ph.get(name)
            .or_else(|| host_env.get(name).filter(|v| !v.is_empty()).cloned())
    })
}

/// In an `env` value whose placeholders were already filled: `${VAR}` from the host
/// environment when set and non-empty (the Kubernetes export's Secret values).
pub fn host_vars(s: &str, host_env: &BTreeMap<String, String>) -> String {
    expand(s, |name| {
        host_env.get(name).filter(|v| !v.is_empty()).cloned()
    })
}

/// The `${VAR}` names in an `env` value that neither mew's placeholders nor a non-empty host
/// variable fill: the agent would get the text `${VAR}` (warned about before `up` waits).
pub fn unset_vars(s: &str, host_env: &BTreeMap<String, String>) -> Vec<String> {
    let missing = std::cell::RefCell::new(Vec::new());
    expand(s, |name| {
        let known = matches!(name, "PORT" | "SPACE" | "TOKEN" | "GATEWAY_URL")
            || host_env.get(name).is_some_and(|v| !v.is_empty());
        if !known {
            missing.borrow_mut().push(name.to_string());
        }
        None
    });
    missing.into_inner()
}

/// Replace each `${NAME}` (letters, digits, `_`) for which `lookup` has a value; the others
/// stay as written. Single pass: substituted text is not scanned again, so a value containing
/// `${…}` is inserted literally. `lookup` is called once per occurrence, in order.
pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if is_var_name(&after[..end]) => {
                let name = &after[..end];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_var_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Rewrite gateway URLs on a loopback host with the gateway's port (`ws://localhost:P`,
/// `http://127.0.0.1:P/x`, `wss://[::1]:P`) to the in-network address `<scheme>://gateway:P`,
/// so that upstream templates work unchanged inside containers.
pub fn rewrite_loopback(s: &str, port: u16) -> String {
    const SCHEMES: [&str; 4] = ["wss", "ws", "https", "http"];
    const HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];
    let port_text = port.to_string();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let mut matched = None;
        // A scheme only counts at a word boundary (not `xws://`).
        let boundary = s[..i]
            .chars()
            .last()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary {
            for scheme in SCHEMES {
                let Some(after_scheme) = rest
                    .strip_prefix(scheme)
                    .and_then(|r| r.strip_prefix("://"))
                else {
                    continue;
                };
                for host in HOSTS {
                    let Some(after_host) = after_scheme
                        .strip_prefix(host)
                        .and_then(|r| r.strip_prefix(':'))
                    else {
                        continue;
                    };
                    if let Some(after_port) = after_host.strip_prefix(port_text.as_str()) {
                        if !after_port.starts_with(|c: char| c.is_ascii_digit()) {
                            let consumed = rest.len() - after_port.len();
                            matched = Some((format!("{scheme}://gateway:{port}"), consumed));
                        }
                    }
                }
                break;
            }
        }
        match matched {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                i += consumed;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph() -> Placeholders<'static> {
        Placeholders {
            port: 8080,
            space: "demo",
            token: "tok",
            gateway_url: "ws://gateway:8080",
        }
    }

    #[test]
    fn unset_vars_names_what_stays_literal() {
        let env = BTreeMap::from([
            ("SET".to_string(), "x".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]);
        assert_eq!(
            unset_vars("${SET} ${OPENAI_API_KEY} ${PORT} ${EMPTY} $${TOKEN}", &env),
            vec!["OPENAI_API_KEY".to_string(), "EMPTY".to_string()]
        );
        assert!(unset_vars("plain", &env).is_empty());
    }

    #[test]
    fn args_replace_every_occurrence() {
        assert_eq!(arg("${PORT}-${PORT}", &ph()), "8080-8080");
        assert_eq!(arg("--space=${SPACE} ${TOKEN}", &ph()), "--space=demo tok");
        assert_eq!(arg("${GATEWAY_URL}", &ph()), "ws://gateway:8080");
        assert_eq!(arg("${HOME} ${} ${PORT", &ph()), "${HOME} ${} ${PORT");
    }

    #[test]
    fn env_from_host_and_placeholders() {
        let host = BTreeMap::from([
            ("KEY".to_string(), "sk-1".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]);
        assert_eq!(env_value("${KEY}", &ph(), &host), "sk-1");
        assert_eq!(env_value("${EMPTY}", &ph(), &host), "${EMPTY}");
        assert_eq!(env_value("${UNSET}/x", &ph(), &host), "${UNSET}/x");
        assert_eq!(env_value("${TOKEN}:${PORT}", &ph(), &host), "tok:8080");
        // A host value is inserted literally, not expanded again.
        let tricky = BTreeMap::from([("A".to_string(), "${PORT}".to_string())]);
        assert_eq!(env_value("${A}", &ph(), &tricky), "${PORT}");
    }

    #[test]
    fn loopback_urls_are_rewritten() {
        assert_eq!(
            rewrite_loopback("ws://localhost:8080", 8080),
            "ws://gateway:8080"
        );
        assert_eq!(
            rewrite_loopback("wss://127.0.0.1:8080/x", 8080),
            "wss://gateway:8080/x"
        );
        assert_eq!(
            rewrite_loopback("http://[::1]:8080/health", 8080),
            "http://gateway:8080/health"
        );
        assert_eq!(
            rewrite_loopback(
                "--gateway=ws://localhost:8080 and https://localhost:8080",
                8080
            ),
            "--gateway=ws://gateway:8080 and https://gateway:8080"
        );
        // Other ports, hosts and look-alikes stay.
        assert_eq!(
            rewrite_loopback("ws://localhost:80801", 8080),
            "ws://localhost:80801"
        );
        assert_eq!(
            rewrite_loopback("ws://localhost:9090", 8080),
            "ws://localhost:9090"
        );
        assert_eq!(
            rewrite_loopback("ws://example.com:8080", 8080),
            "ws://example.com:8080"
        );
        assert_eq!(
            rewrite_loopback("ws://localhost.evil:8080", 8080),
            "ws://localhost.evil:8080"
        );
        assert_eq!(
            rewrite_loopback("xws://localhost:8080", 8080),
            "xws://localhost:8080"
        );
        assert_eq!(
            rewrite_loopback("ünï ws://localhost:8080", 8080),
            "ünï ws://gateway:8080"
        );
    }
}
