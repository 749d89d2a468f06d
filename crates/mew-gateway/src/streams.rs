//! Streams (§1.8, §3.7-§3.9), for `route`: data frames, `stream/request` → `stream/open`,
//! `stream/close` and stream ownership (s2w). Each function updates the state and returns the
//! effects; none does I/O.
use super::effect::{Effect, Outgoing};
use super::emit::*;
use super::logs::js;
use super::state::{Conn, Endpoint, Joined, State, Stream};
use axum::extract::ws::Message;
use mew_protocol::{self as protocol, gen_id, iso_now};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// A data frame `#<sid>#…` from `from` (joined as `j`): to the stream's target, or everyone,
/// when `j` may write to the stream; otherwise an error back to the sender.
pub(super) fn stream_frame(
    st: &State,
    out: &mut Vec<Effect>,
    from: &Arc<Conn>,
    j: &Joined,
    sid: &str,
    msg: Message,
) {
    let space = st.spaces.get(&j.space);
    let stream = space.and_then(|s| s.streams.get(sid));
    match (space, stream) {
        (Some(space), Some(stream)) if stream.writers.iter().any(|w| w == &j.id) => {
            // [R] frames keep their inbound opcode and skip virtual participants.
            let mut push = |id: &Arc<str>, ep: &Endpoint| {
                if let Endpoint::Socket(c) = ep {
                    out.push(Effect::Frame {
                        to: id.clone(),
                        conn: c.clone(),
                        msg: msg.clone(),
                    });
                }
            };
            if stream.target.is_empty() {
                space.registry.iter().for_each(|(id, ep)| push(id, ep));
            } else {
                for t in &stream.target {
                    if let Some((_, id, ep)) = space.registry.get_full(t.as_str()) {
                        push(id, ep);
                    }
                }
            }
        }
        _ => {
            let err = json!({
                "protocol": protocol::PROTOCOL,
                "id": gen_id("error-"),
                "ts": iso_now(),
                "from": "gateway",
                "to": [j.id],
                "kind": "system/error",
                "payload": {
                    "error": "unauthorized_stream_write",
                    "stream_id": sid,
                    "message": format!("You are not authorized to write to stream {sid}"),
                }
            });
            out.push(Effect::Reply {
                conn: from.clone(),
                text: err.to_string(),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streams (§3.7-§3.9)

/// Open a stream; `Ok((stream_id, open_id, open_ts))`, or the `target_not_found` envelope.
pub(super) fn stream_request(
    st: &mut State,
    out: &mut Vec<Effect>,
    space_id: &str,
    sender: &str,
    env: &Map<String, Value>,
) -> Result<(String, String, String), Value> {
    let request: Map<String, Value> = env
        .get("payload")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let target_value = request
        .get("target")
        .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
        .cloned();
    let space = st.space_mut(space_id);
    let mut target = Vec::new();
    if let Some(Value::Array(list)) = &target_value {
        let mut missing = Vec::new();
        for t in list {
            match t.as_str() {
                Some(s) if space.registry.contains_key(s) => target.push(s.to_string()),
                _ => missing.push(t.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(error_envelope(
                GATEWAY,
                json!([sender]),
                correlation_of(env.get("id")),
                json!({
                    "error": "target_not_found",
                    "targets": missing,
                    "message": "One or more target participants do not exist in space",
                }),
            ));
        }
    }
    space.counter += 1;
    let sid = format!("stream-{}", space.counter);
    space.streams.insert(
        sid.clone(),
        Stream {
            owner: sender.to_string(),
            writers: vec![sender.to_string()],
            created: iso_now(),
            request,
            target,
        },
    );
    let mut payload = Map::new();
    payload.insert("stream_id".into(), json!(sid));
    payload.insert("encoding".into(), json!("text"));
    payload.insert("owner".into(), json!(sender));
    payload.insert("authorized_writers".into(), json!([sender]));
    if let Some(t) = target_value {
        payload.insert("target".into(), t);
    }
    let mut m = Map::new();
    let open_id = gen_id("stream-open-");
    let open_ts = iso_now();
    m.insert("protocol".into(), json!(protocol::PROTOCOL));
    m.insert("id".into(), json!(open_id));
    m.insert("ts".into(), json!(open_ts));
    m.insert("from".into(), json!("gateway"));
    m.insert("to".into(), json!([sender]));
    m.insert("kind".into(), json!("stream/open"));
    if let Some(c) = correlation_of(env.get("id")) {
        m.insert("correlation_id".into(), c);
    }
    m.insert("payload".into(), Value::Object(payload));
    let open = Outgoing::from_map(&m);
    let meta = format!(
        "{{\"type\":\"stream/open\",\"source_participant\":{},\"stream_id\":{}}}",
        js(sender),
        js(&sid)
    );
    send_all(st, out, space_id, open, meta, None);
    Ok((sid, open_id, open_ts))
}

pub(super) fn stream_close(st: &mut State, space_id: &str, env: &Map<String, Value>) {
    if let Some(sid) = env
        .get("payload")
        .and_then(|p| p.get("stream_id"))
        .and_then(Value::as_str)
    {
        if let Some(space) = st.spaces.get_mut(space_id) {
            space.streams.shift_remove(sid);
        }
    }
}

/// Grant/revoke/transfer stream write access. `Ok` = the ack (already sent to everyone);
/// `Err((http status, error envelope))`.
pub(super) fn s2w(
    st: &mut State,
    out: &mut Vec<Effect>,
    space_id: &str,
    sender: &str,
    kind: &str,
    env: &Map<String, Value>,
) -> Result<Value, (u16, Value)> {
    let payload = env.get("payload");
    let get = |k: &str| payload.and_then(|p| p.get(k));
    let fail = |status: u16, code: &str, message: String| {
        Err((
            status,
            error_envelope(
                "gateway",
                json!([sender]),
                correlation_of(env.get("id")),
                json!({"error": code, "message": message}),
            ),
        ))
    };
    let shown = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "undefined".to_string(),
    };
    let sid = shown(get("stream_id"));
    let space = st.space_mut(space_id);
    let registered: Vec<String> = space.registry.keys().map(|k| k.to_string()).collect();
    let Some(stream) = space.streams.get_mut(&sid) else {
        return fail(
            404,
            "stream_not_found",
            format!("Stream {sid} does not exist"),
        );
    };
    let action = match kind {
        "stream/grant-write" => "grant write access",
        "stream/revoke-write" => "revoke write access",
        _ => "transfer ownership",
    };
    if stream.owner != sender {
        return fail(
            403,
            "unauthorized",
            format!("Only the stream owner can {action}"),
        );
    }
    let subject_key = if kind == "stream/transfer-ownership" {
        "new_owner"
    } else {
        "participant_id"
    };
    let subject = shown(get(subject_key));
    if kind != "stream/revoke-write" && !registered.contains(&subject) {
        return fail(
            404,
            "participant_not_found",
            format!("Participant {subject} is not in the space"),
        );
    }
    let mut p = Map::new();
    p.insert("stream_id".into(), json!(sid));
    let (prefix, ack_kind) = match kind {
        "stream/grant-write" => {
            if !stream.writers.contains(&subject) {
                stream.writers.push(subject.clone());
            }
            p.insert("participant_id".into(), json!(subject));
            ("grant-ack-", "stream/write-granted")
        }
        "stream/revoke-write" => {
            if subject == stream.owner {
                return fail(
                    400,
                    "invalid_operation",
                    "Owner cannot revoke own write access".to_string(),
                );
            }
            stream.writers.retain(|w| w != &subject);
            p.insert("participant_id".into(), json!(subject));
            ("revoke-ack-", "stream/write-revoked")
        }
        _ => {
            let previous = std::mem::replace(&mut stream.owner, subject.clone());
            stream.writers.retain(|w| w != &previous);
            if !stream.writers.contains(&subject) {
                stream.writers.push(subject.clone());
            }
            p.insert("previous_owner".into(), json!(previous));
            p.insert("new_owner".into(), json!(subject));
            ("transfer-ack-", "stream/ownership-transferred")
        }
    };
    p.insert("authorized_writers".into(), json!(stream.writers));
    if let Some(r) = get("reason").filter(|v| !v.is_null()) {
        p.insert("reason".into(), r.clone());
    }
    let mut m = Map::new();
    m.insert("protocol".into(), json!(protocol::PROTOCOL));
    m.insert("id".into(), json!(gen_id(prefix)));
    m.insert("ts".into(), json!(iso_now()));
    m.insert("from".into(), json!("gateway"));
    m.insert("to".into(), json!(registered));
    m.insert("kind".into(), json!(ack_kind));
    if let Some(c) = correlation_of(env.get("id")) {
        m.insert("correlation_id".into(), c);
    }
    m.insert("payload".into(), Value::Object(p));
    let ack = Value::Object(m);
    send_all(
        st,
        out,
        space_id,
        Outgoing::new(&ack),
        meta_source(sender),
        None,
    );
    Ok(ack)
}
