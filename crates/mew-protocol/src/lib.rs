//! MEW envelopes (spec/gateway.md §2) and capability matching (§4): pure functions, no I/O.
pub mod capability;
pub mod envelope;

use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub use capability::{baseline, matches, payload_ok};

/// The protocol version the gateway speaks and stamps on envelopes.
pub const PROTOCOL: &str = "mew/v0.4";

/// Largest WebSocket message (and frame) the gateway accepts from a participant. The spec asks
/// for at least 10 MiB; the gateway's memory budget (`gateway::limits`) is built around this.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Largest message a mew participant accepts from the gateway: what the gateway relays is the
/// sender's message plus the fields it stamps (`from`, `id`, `ts`, `protocol`, a wrapped
/// `correlation_id`, a `system/error`'s short reason), so the margin keeps every message the
/// gateway relays deliverable to every built-in agent and client.
pub const CLIENT_MAX_MESSAGE: usize = MAX_MESSAGE + (1 << 20);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Now as `2025-12-01T10:00:00.123Z`.
pub fn iso_now() -> String {
    use std::cell::RefCell;
    // Formatting costs more than a clock read, and busy routing asks many times per
    // millisecond: reuse the last string while the millisecond is the same.
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let ms = now.timestamp_millis();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != ms {
            *c = (ms, now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
        c.1.clone()
    })
}

/// `n` random base-36 characters.
pub fn rand_base36(n: usize) -> String {
    use rand::Rng;
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| DIGITS[rng.random_range(0..DIGITS.len())] as char)
        .collect()
}

/// `<prefix><ms>-<9 base36>`: unique gateway ids (the random part avoids same-millisecond clashes).
pub fn gen_id(prefix: &str) -> String {
    format!("{prefix}{}-{}", now_ms(), rand_base36(9))
}

/// Why an inbound WebSocket message is refused before routing (§2.3).
pub fn validate(msg: &Value) -> Result<(), String> {
    let obj = match msg {
        Value::Object(o) => o,
        // Arrays are refused too ([R]; upstream relays them to `*` holders).
        _ => return Err("Message must be an object".to_string()),
    };
    if let Some(p) = obj.get("protocol") {
        let ok = matches!(p.as_str(), Some("mew/v0.4") | Some("mew/v0.3"));
        // Falsy values count as absent, as upstream's check does.
        if !ok && truthy(p) {
            let shown = match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(format!("Invalid protocol version: {shown}"));
        }
    }
    let nonempty = |key: &str| {
        obj.get("payload")
            .and_then(|p| p.get(key))
            .is_some_and(truthy)
    };
    match obj.get("kind").and_then(Value::as_str) {
        Some("chat") if !nonempty("text") => Err("Chat message requires payload.text".to_string()),
        Some("mcp/request") if !nonempty("method") => {
            Err("MCP request requires payload.method".to_string())
        }
        _ => Ok(()),
    }
}

/// JavaScript truthiness, which upstream's checks rely on.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Build the relayed envelope (§2.2): `protocol, id, ts, from` first, then the client's other
/// keys in their original order. `from` is always the authenticated id (spec: R).
pub fn fill_in(client: &Map<String, Value>, from: &str, id_prefix: &str) -> Map<String, Value> {
    let mut env = Map::with_capacity(client.len() + 4);
    let protocol = client
        .get("protocol")
        .filter(|v| truthy(v))
        .cloned()
        .unwrap_or_else(|| Value::String(PROTOCOL.to_string()));
    env.insert("protocol".into(), protocol);
    let id = client
        .get("id")
        .filter(|v| truthy(v))
        .cloned()
        .unwrap_or_else(|| Value::String(gen_id(id_prefix)));
    env.insert("id".into(), id);
    let ts = client
        .get("ts")
        .filter(|v| truthy(v))
        .cloned()
        .unwrap_or_else(|| Value::String(iso_now()));
    env.insert("ts".into(), ts);
    env.insert("from".into(), Value::String(from.to_string()));
    for (k, v) in client {
        match k.as_str() {
            "protocol" | "id" | "ts" | "from" => {}
            _ => {
                env.insert(k.clone(), v.clone());
            }
        }
    }
    env
}

/// Same as [`fill_in`], taking the client's map by value (no copy of the payload).
pub fn fill_in_owned(
    client: Map<String, Value>,
    from: &str,
    id_prefix: &str,
) -> Map<String, Value> {
    let mut env = Map::with_capacity(client.len() + 4);
    env.insert("protocol".into(), Value::Null);
    env.insert("id".into(), Value::Null);
    env.insert("ts".into(), Value::Null);
    env.insert("from".into(), Value::String(from.to_string()));
    for (k, v) in client {
        match k.as_str() {
            "from" => {}
            "protocol" | "id" | "ts" => {
                if truthy(&v) {
                    env.insert(k, v);
                }
            }
            _ => {
                env.insert(k, v);
            }
        }
    }
    let defaults = [
        ("protocol", Value::String(PROTOCOL.to_string())),
        ("id", Value::Null),
        ("ts", Value::Null),
    ];
    for (k, default) in defaults {
        if env.get(k).is_some_and(Value::is_null) {
            let v = match k {
                "id" => Value::String(gen_id(id_prefix)),
                "ts" => Value::String(iso_now()),
                _ => default,
            };
            env.insert(k.to_string(), v);
        }
    }
    env
}

/// Wrap a non-array `correlation_id` into a one-element array. Returns whether it changed.
pub fn wrap_correlation(env: &mut Map<String, Value>) -> bool {
    match env.get_mut("correlation_id") {
        Some(Value::Array(_)) | None => false,
        Some(Value::Null) => false,
        Some(v) => {
            let inner = v.take();
            *v = Value::Array(vec![inner]);
            true
        }
    }
}

/// A gateway-generated error reply without id/ts/from/to (§1.2, §2.3).
pub fn bare_error(error: &str, code: &str) -> String {
    let mut payload = Map::new();
    payload.insert("error".into(), Value::String(error.to_string()));
    payload.insert("code".into(), Value::String(code.to_string()));
    let mut m = Map::new();
    m.insert("protocol".into(), Value::String(PROTOCOL.to_string()));
    m.insert("kind".into(), Value::String("system/error".into()));
    m.insert("payload".into(), Value::Object(payload));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn validation_texts() {
        assert_eq!(
            validate(&json!(null)).unwrap_err(),
            "Message must be an object"
        );
        assert_eq!(
            validate(&json!(5)).unwrap_err(),
            "Message must be an object"
        );
        assert_eq!(
            validate(&json!("x")).unwrap_err(),
            "Message must be an object"
        );
        assert_eq!(
            validate(&json!([1])).unwrap_err(),
            "Message must be an object"
        );
        assert_eq!(
            validate(&json!({"protocol":"mew/v9","kind":"chat"})).unwrap_err(),
            "Invalid protocol version: mew/v9"
        );
        assert!(validate(&json!({"protocol":"mew/v0.3","kind":"x"})).is_ok());
        assert!(validate(&json!({"protocol":"","kind":"x"})).is_ok());
        assert!(validate(&json!({"protocol":null,"kind":"x"})).is_ok());
        assert_eq!(
            validate(&json!({"protocol":5,"kind":"x"})).unwrap_err(),
            "Invalid protocol version: 5"
        );
        assert!(validate(&json!({"kind":"x"})).is_ok());
        assert_eq!(
            validate(&json!({"kind":"chat","payload":{"text":""}})).unwrap_err(),
            "Chat message requires payload.text"
        );
        assert_eq!(
            validate(&json!({"kind":"chat"})).unwrap_err(),
            "Chat message requires payload.text"
        );
        assert_eq!(
            validate(&json!({"kind":"mcp/request","payload":{}})).unwrap_err(),
            "MCP request requires payload.method"
        );
        assert!(validate(&json!({"kind":"mcp/request","payload":{"method":"tools/list"}})).is_ok());
    }

    #[test]
    fn fill_in_order_and_defaults() {
        let client = obj(json!({"kind":"chat","payload":{"text":"x"},"from":"evil","id":"m1"}));
        let env = fill_in(&client, "alice", "msg-");
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["protocol", "id", "ts", "from", "kind", "payload"]);
        assert_eq!(env["id"], "m1");
        assert_eq!(env["from"], "alice");
        assert_eq!(env["protocol"], PROTOCOL);
        let generated = fill_in(&obj(json!({"kind":"chat"})), "a", "msg-");
        let id = generated["id"].as_str().unwrap();
        assert!(id.starts_with("msg-"));
        let suffix = id.rsplit('-').next().unwrap();
        assert_eq!(suffix.len(), 9);
        let ts = generated["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }

    #[test]
    fn owned_fill_in_matches_borrowed() {
        let client =
            obj(json!({"x":1,"kind":"chat","id":"","protocol":"mew/v0.3","from":"e","ts":"t"}));
        let a = fill_in(&client, "me", "msg-");
        let b = fill_in_owned(client, "me", "msg-");
        let keys = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        assert_eq!(b["protocol"], "mew/v0.3");
        assert_eq!(b["ts"], "t");
        assert_eq!(b["from"], "me");
        assert!(b["id"].as_str().unwrap().starts_with("msg-"));
    }

    #[test]
    fn integers_keep_their_form() {
        let client: Map<String, Value> = serde_json::from_str(
            r#"{"kind":"x","payload":{"n":10000000000000000000001,"f":1.50}}"#,
        )
        .unwrap();
        let env = Value::Object(fill_in(&client, "a", "msg-")).to_string();
        assert!(env.contains(r#""n":10000000000000000000001"#), "{env}");
    }

    #[test]
    fn correlation_wrapping() {
        let mut env = obj(json!({"correlation_id":"abc"}));
        assert!(wrap_correlation(&mut env));
        assert_eq!(
            Value::Object(env).to_string(),
            r#"{"correlation_id":["abc"]}"#
        );
        let mut env = obj(json!({"correlation_id":["a"]}));
        assert!(!wrap_correlation(&mut env));
    }

    #[test]
    fn compact_output() {
        let s = bare_error("a/b é", "PROCESSING_ERROR");
        assert_eq!(
            s,
            r#"{"protocol":"mew/v0.4","kind":"system/error","payload":{"error":"a/b é","code":"PROCESSING_ERROR"}}"#
        );
    }
}
