//! Building and reading envelopes as a participant does (spec/gateway.md §2). Envelopes stay
//! `serde_json::Value` objects so unknown fields pass through untouched. Ids and timestamps are
//! the crate's own (`gen_id`, `iso_now`), the same the gateway stamps.
use crate::{gen_id, iso_now, PROTOCOL};
use serde_json::{json, Map, Value};

/// A fresh envelope id from `from`: `<from>-<ms>-<random>`.
pub fn new_id(from: &str) -> String {
    gen_id(&format!("{from}-"))
}

/// The legacy join every reference client sends.
pub fn join(participant_id: &str, space: &str, token: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("join"));
    m.insert("participantId".into(), json!(participant_id));
    m.insert("space".into(), json!(space));
    if let Some(t) = token {
        m.insert("token".into(), json!(t));
    }
    Value::Object(m)
}

/// A complete envelope from `from`. `to` and `correlation_id` are omitted when empty.
pub fn build(
    from: &str,
    kind: &str,
    to: &[String],
    correlation_id: &[String],
    payload: Value,
) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), json!(PROTOCOL));
    m.insert("id".into(), json!(new_id(from)));
    m.insert("ts".into(), json!(iso_now()));
    m.insert("from".into(), json!(from));
    if !to.is_empty() {
        m.insert("to".into(), json!(to));
    }
    m.insert("kind".into(), json!(kind));
    if !correlation_id.is_empty() {
        m.insert("correlation_id".into(), json!(correlation_id));
    }
    m.insert("payload".into(), payload);
    Value::Object(m)
}

/// A chat envelope.
pub fn chat(from: &str, text: &str) -> Value {
    build(from, "chat", &[], &[], json!({ "text": text }))
}

pub fn kind(env: &Value) -> Option<&str> {
    env.get("kind").and_then(Value::as_str)
}

pub fn from(env: &Value) -> Option<&str> {
    env.get("from").and_then(Value::as_str)
}

pub fn id(env: &Value) -> Option<&str> {
    env.get("id").and_then(Value::as_str)
}

/// `to` as a list of ids (the gateway keeps it verbatim, so accept a bare string as well).
pub fn to(env: &Value) -> Vec<&str> {
    match env.get("to") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// Whether `me` should act on `env`: someone else sent it, and it is broadcast (no `to`) or
/// addressed to `me`. The gateway relays everything to everyone, so this is the only filter.
/// The ids an envelope answers (`correlation_id`, an array or, from older peers, a string).
pub fn correlation(env: &Value) -> Vec<&str> {
    match env.get("correlation_id") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

pub fn is_for_me(env: &Value, me: &str) -> bool {
    if from(env) == Some(me) {
        return false;
    }
    let to = to(env);
    to.is_empty() || to.contains(&me)
}

/// The `mcp/request` that carries out a proposal on the proposer's behalf: the proposed JSON-RPC
/// call (`payload`), sent to the proposal's addressees `to` and correlated to the proposal's id.
/// `rpc_id` is used when the proposed call has no id of its own.
pub fn fulfilment(
    me: &str,
    proposal_id: &str,
    to: &[String],
    payload: &Value,
    rpc_id: Value,
) -> Value {
    let mut call = match payload {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    call.entry("jsonrpc").or_insert(json!("2.0"));
    call.entry("id").or_insert(rpc_id);
    build(
        me,
        "mcp/request",
        to,
        &[proposal_id.to_string()],
        Value::Object(call),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_omits_missing_token() {
        assert_eq!(
            serde_json::to_string(&join("a", "s", None)).unwrap_or_default(),
            r#"{"type":"join","participantId":"a","space":"s"}"#
        );
        assert_eq!(join("a", "s", Some("t"))["token"], "t");
    }

    #[test]
    fn build_orders_fields_and_skips_empty_lists() {
        let env = build("me", "chat", &[], &[], json!({"text": "hi"}));
        let keys: Vec<&String> = env
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["protocol", "id", "ts", "from", "kind", "payload"]);
        let env = build("me", "chat", &["b".into()], &["x".into()], json!({}));
        assert_eq!(env["to"], json!(["b"]));
        assert_eq!(env["correlation_id"], json!(["x"]));
        assert_ne!(new_id("p"), new_id("p"));
    }

    #[test]
    fn addressing_rules() {
        let broadcast = json!({"from": "alice", "kind": "chat"});
        assert!(is_for_me(&broadcast, "bot"));
        assert!(!is_for_me(&broadcast, "alice"));
        let to_bot = json!({"from": "alice", "to": ["bot"]});
        assert!(is_for_me(&to_bot, "bot"));
        assert!(!is_for_me(&to_bot, "other"));
        assert!(is_for_me(&json!({"from": "a", "to": "bot"}), "bot"));
        assert!(is_for_me(&json!({"from": "a", "to": []}), "bot"));
    }
}
