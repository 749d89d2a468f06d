//! Capability matching exactly as spec/gateway.md §4.5 defines it, and the baseline of §4.3.
use super::truthy;
use serde_json::{json, Map, Value};

/// Does a message of `kind` with `payload` match capability `cap`?
pub fn matches(kind: Option<&str>, payload: Option<&Value>, cap: &Value) -> bool {
    let Some(cap_kind) = cap.get("kind").and_then(Value::as_str) else {
        return false;
    };
    if cap_kind == "*" {
        return true;
    }
    let Some(kind) = kind else {
        return false;
    };
    let kind_ok = match cap_kind.strip_suffix("/*") {
        // The prefix spans levels: `mcp/*` matches `mcp/a/b` but not `mcp`.
        Some(prefix) => {
            kind.len() > prefix.len() + 1 && kind.starts_with(prefix) && {
                kind.as_bytes()[prefix.len()] == b'/'
            }
        }
        None => cap_kind == kind,
    };
    kind_ok && payload_ok(payload, cap.get("payload"))
}

/// Does `value` satisfy the payload `pattern`?
pub fn payload_ok(value: Option<&Value>, pattern: Option<&Value>) -> bool {
    let pattern = match pattern {
        None | Some(Value::Null) => return true,
        Some(p) => p,
    };
    let value = match value {
        Some(v) if truthy(v) => v,
        _ => return false,
    };
    let entries: Vec<(String, &Value)> = match pattern {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        // A primitive pattern has no entries, so it constrains nothing.
        _ => return true,
    };
    entries.into_iter().all(|(key, pv)| {
        let actual = member(value, &key);
        match pv {
            Value::String(p) => string_ok(actual, p),
            Value::Object(_) | Value::Array(_) => payload_ok(actual, Some(pv)),
            // Numbers, booleans and null are not compared (upstream behaviour).
            _ => true,
        }
    })
}

fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn string_ok(actual: Option<&Value>, pattern: &str) -> bool {
    if let Some(negated) = pattern.strip_prefix('!') {
        return actual.and_then(Value::as_str) != Some(negated);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        // [R] a non-string value simply does not match (upstream throws).
        return match actual {
            Some(Value::String(s)) => !s.is_empty() && s.starts_with(prefix),
            _ => false,
        };
    }
    actual.and_then(Value::as_str) == Some(pattern)
}

/// §4.3: drop entries without a string `kind`, de-duplicate (top-level keys sorted), then append
/// `{"id":"mcp-response","kind":"mcp/response"}` unless an identical object is present.
pub fn baseline(list: &[Value]) -> Vec<Value> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for cap in list {
        if cap.get("kind").and_then(Value::as_str).is_none() {
            continue;
        }
        let key = canonical(cap);
        if !seen.contains(&key) {
            seen.push(key);
            out.push(cap.clone());
        }
    }
    let response = json!({"id":"mcp-response","kind":"mcp/response"});
    if !seen.contains(&canonical(&response)) {
        out.push(response);
    }
    out
}

/// JSON with top-level keys sorted, used to compare capabilities regardless of key order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for k in keys {
                sorted.insert(k.clone(), m[k].clone());
            }
            Value::Object(sorted).to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: &str, payload: Value, cap: Value) -> bool {
        let p = if payload.is_null() {
            None
        } else {
            Some(&payload)
        };
        matches(Some(kind), p, &cap)
    }

    #[test]
    fn kind_wildcards() {
        assert!(m("anything/x", Value::Null, json!({"kind":"*"})));
        assert!(m(
            "x",
            json!({"a":1}),
            json!({"kind":"*","payload":{"a":"zzz"}})
        ));
        assert!(m("mcp/response", Value::Null, json!({"kind":"mcp/*"})));
        assert!(m("mcp/a/b", Value::Null, json!({"kind":"mcp/*"})));
        assert!(!m("mcp", Value::Null, json!({"kind":"mcp/*"})));
        assert!(!m("mcpx/a", Value::Null, json!({"kind":"mcp/*"})));
        assert!(!m("chat/cancel", Value::Null, json!({"kind":"chat"})));
        assert!(m("chat", Value::Null, json!({"kind":"chat"})));
        assert!(!m("mcp/request", Value::Null, json!({"kind":"mcp/req*"})));
        assert!(m("mcp/req*", Value::Null, json!({"kind":"mcp/req*"})));
        assert!(!m("chat", Value::Null, json!({"kind":["chat"]})));
        assert!(!m("chat", Value::Null, json!({"nokind":"chat"})));
        assert!(!matches(None, None, &json!({"kind":"chat"})));
        assert!(matches(None, None, &json!({"kind":"*"})));
    }

    #[test]
    fn spec_payload_examples() {
        let tools = json!({"kind":"mcp/request","payload":{"method":"tools/*"}});
        assert!(m(
            "mcp/request",
            json!({"method":"tools/list"}),
            tools.clone()
        ));
        assert!(!m(
            "mcp/request",
            json!({"method":"resources/read"}),
            tools.clone()
        ));
        assert!(!m("mcp/request", Value::Null, tools.clone()));
        assert!(!m(
            "mcp/request",
            json!({"method":"tools/"}),
            json!({"kind":"mcp/request","payload":{"method":"tools/x*"}})
        ));

        let read = json!({"kind":"mcp/request","payload":{"method":"tools/call","params":{"name":"read_*"}}});
        assert!(m(
            "mcp/request",
            json!({"method":"tools/call","params":{"name":"read_file"}}),
            read.clone()
        ));
        assert!(!m(
            "mcp/request",
            json!({"method":"tools/call","params":{"name":"write_file"}}),
            read.clone()
        ));
        assert!(!m("mcp/request", json!({"method":"tools/call"}), read));

        let not_call = json!({"kind":"mcp/request","payload":{"method":"!tools/call"}});
        assert!(m(
            "mcp/request",
            json!({"method":"resources/list"}),
            not_call.clone()
        ));
        assert!(!m(
            "mcp/request",
            json!({"method":"tools/call"}),
            not_call.clone()
        ));
        // A missing key passes a negation; `!` is literal, not a glob.
        assert!(m("mcp/request", json!({"other":1}), not_call));
        assert!(m(
            "mcp/request",
            json!({"method":"tools/call"}),
            json!({"kind":"mcp/request","payload":{"method":"!tools/*"}})
        ));
    }

    #[test]
    fn payload_details() {
        // `*` alone means any non-empty string.
        let any = json!({"kind":"k","payload":{"a":"*"}});
        assert!(m("k", json!({"a":"x"}), any.clone()));
        assert!(!m("k", json!({"a":""}), any.clone()));
        assert!(!m("k", json!({"a":5}), any.clone()));
        assert!(!m("k", json!({}), any));
        // `/public/**` needs the prefix `/public/*`.
        let public = json!({"kind":"k","payload":{"path":"/public/**"}});
        assert!(!m("k", json!({"path":"/public/a"}), public.clone()));
        assert!(m("k", json!({"path":"/public/*a"}), public));
        // Exact strings are strict.
        assert!(!m(
            "k",
            json!({"a":"xy"}),
            json!({"kind":"k","payload":{"a":"x"}})
        ));
        // Numbers and booleans are ignored.
        assert!(m(
            "k",
            json!({"a":2}),
            json!({"kind":"k","payload":{"a":1,"b":true}})
        ));
        // Arrays compare by index.
        let arr = json!({"kind":"k","payload":{"l":["a","b*"]}});
        assert!(m("k", json!({"l":["a","bc"]}), arr.clone()));
        assert!(!m("k", json!({"l":["bc","a"]}), arr));
        // Falsy payloads fail any pattern.
        assert!(!m("k", json!(""), json!({"kind":"k","payload":{}})));
        assert!(m("k", json!({}), json!({"kind":"k","payload":{}})));
        assert!(m("k", Value::Null, json!({"kind":"k","payload":null})));
    }

    #[test]
    fn baseline_rules() {
        let out = baseline(&[
            json!({"kind":"chat"}),
            json!({"kind":"chat"}),
            json!({"x":1}),
            json!({"kind":5}),
        ]);
        assert_eq!(
            Value::Array(out).to_string(),
            r#"[{"kind":"chat"},{"id":"mcp-response","kind":"mcp/response"}]"#
        );
        let out = baseline(&[json!({"kind":"mcp/response"})]);
        assert_eq!(out.len(), 2);
        let out = baseline(&[json!({"kind":"mcp/response","id":"mcp-response"})]);
        assert_eq!(out.len(), 1);
        let out = baseline(&[json!({"a":1,"kind":"x"}), json!({"kind":"x","a":1})]);
        assert_eq!(out.len(), 2);
        assert_eq!(baseline(&[]).len(), 1);
    }
}
