//! Building and delivering what the gateway sends: serialise once, queue to sockets or
//! virtual participants, write the matching log records; capability decisions (§4.4, §6);
//! welcome and presence messages (§1.4, §1.5).
use super::logs::{envelope_record, js};
use super::state::{Endpoint, Gateway, State, VirtualSink};
use axum::extract::ws::{Message, Utf8Bytes};
use mew_protocol::{self as protocol, gen_id, iso_now, matches, truthy};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

pub(super) const GATEWAY: &str = "system:gateway";

/// File appends owed to virtual participants, done once the state lock is released.
#[derive(Default)]
pub struct Outbox {
    virt: Vec<(Arc<VirtualSink>, Utf8Bytes)>,
}

impl Outbox {
    pub fn virtual_write(&mut self, sink: Arc<VirtualSink>, text: impl Into<Utf8Bytes>) {
        self.virt.push((sink, text.into()));
    }

    pub fn flush(self, gw: &Gateway) {
        for (sink, line) in self.virt {
            if let Err(e) = sink.append(&line) {
                gw.console.warn(&format!(
                    "Cannot write output log {}: {e}",
                    sink.path.display()
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery helpers

pub(super) fn deliver(ep: &Endpoint, msg: &Utf8Bytes, out: &mut Outbox) -> bool {
    match ep {
        Endpoint::Socket(conn) => conn.push(Message::Text(msg.clone())),
        Endpoint::Virtual(sink) => {
            out.virtual_write(sink.clone(), msg.clone());
            true
        }
    }
}

/// A message serialised once, with the id used in log records.
pub(super) struct Outgoing {
    pub(super) text: Utf8Bytes,
    pub(super) id_json: String,
}

impl Outgoing {
    pub(super) fn new(v: &Value) -> Outgoing {
        Outgoing {
            text: super::state::counted(v.to_string()),
            id_json: v.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
    pub(super) fn from_map(m: &Map<String, Value>) -> Outgoing {
        Outgoing {
            text: super::state::counted(serde_json::to_string(m).unwrap_or_default()),
            id_json: m.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
}

pub(super) fn log_delivered(gw: &Gateway, msg: &Outgoing, pid: &str, space_id: &str, meta: &str) {
    if gw.logs.switches.envelope_history {
        let id = (!msg.id_json.is_empty() && msg.id_json != "null").then_some(msg.id_json.as_str());
        gw.logs.envelope_sized(msg.text.len() + 256, || {
            envelope_record(
                "delivered",
                id,
                &msg.text,
                pid,
                space_id,
                "outbound",
                "websocket",
                meta,
            )
        });
    }
}

/// Send to one participant of a space; logs `delivered` (as `log_as`) when it went out.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_one(
    gw: &Gateway,
    st: &State,
    out: &mut Outbox,
    space_id: &str,
    pid: &str,
    msg: &Outgoing,
    meta: Option<&str>,
    log_as: &str,
) -> bool {
    let Some(ep) = st.spaces.get(space_id).and_then(|s| s.registry.get(pid)) else {
        return false;
    };
    let sent = deliver(ep, &msg.text, out);
    if let (true, Some(meta)) = (sent, meta) {
        log_delivered(gw, msg, log_as, space_id, meta);
    }
    sent
}

/// Send to every participant of a space in registry order, except `except`.
pub(super) fn send_all(
    gw: &Gateway,
    st: &State,
    out: &mut Outbox,
    space_id: &str,
    msg: &Outgoing,
    meta: &str,
    except: Option<&str>,
) {
    let Some(space) = st.spaces.get(space_id) else {
        return;
    };
    for (pid, ep) in &space.registry {
        if except == Some(pid.as_str()) {
            continue;
        }
        if deliver(ep, &msg.text, out) {
            log_delivered(gw, msg, pid, space_id, meta);
        }
    }
}

pub(super) fn meta_source(sender: &str) -> String {
    format!("{{\"source_participant\":{}}}", js(sender))
}

pub(super) fn str_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `[id]` when the message had a (truthy) id.
pub(super) fn correlation_of(id: Option<&Value>) -> Option<Value> {
    id.filter(|v| truthy(v))
        .map(|v| Value::Array(vec![v.clone()]))
}

/// An error envelope addressed to one participant, with `correlation_id` after `kind`.
pub(super) fn error_envelope(from: &str, to: Value, corr: Option<Value>, payload: Value) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), json!(protocol::PROTOCOL));
    m.insert("id".into(), json!(gen_id("error-")));
    m.insert("ts".into(), json!(iso_now()));
    m.insert("from".into(), json!(from));
    m.insert("to".into(), to);
    m.insert("kind".into(), json!("system/error"));
    if let Some(c) = corr {
        m.insert("correlation_id".into(), c);
    }
    m.insert("payload".into(), payload);
    Value::Object(m)
}

pub(super) fn log_received(
    gw: &Gateway,
    msg: &Outgoing,
    pid: &str,
    space_id: &str,
    transport: &str,
) {
    if gw.logs.switches.envelope_history {
        let id = (!msg.id_json.is_empty() && msg.id_json != "null").then_some(msg.id_json.as_str());
        gw.logs.envelope_sized(msg.text.len() + 256, || {
            envelope_record(
                "received", id, &msg.text, pid, space_id, "inbound", transport, "",
            )
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Capability decisions (§4.4, §6)

#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    gw: &Gateway,
    st: &State,
    space_id: &str,
    pid: &str,
    kind: Option<&str>,
    payload: Option<&Value>,
    envelope_id: Option<&Value>,
    corr: Option<&Value>,
    source: &str,
    transport: &str,
) -> bool {
    let (effective, n_static) = st.effective(pid);
    let matched: Option<(Cow<'_, Value>, &str)> = if kind == Some("system/heartbeat") {
        Some((Cow::Owned(json!({"kind":"system/heartbeat"})), "implicit"))
    } else {
        effective
            .iter()
            .position(|cap| matches(kind, payload, cap))
            .map(|i| {
                let src = if i < n_static { "static" } else { "dynamic" };
                (Cow::Borrowed(effective[i]), src)
            })
    };
    if gw.logs.switches.capability_decisions {
        let mut s = String::with_capacity(512);
        s.push_str("{\"timestamp\":\"");
        s.push_str(&iso_now());
        s.push_str("\",\"event\":\"capability_check\"");
        if let Some(id) = envelope_id.filter(|v| !v.is_null()) {
            s.push_str(",\"envelope_id\":");
            s.push_str(&id.to_string());
        }
        s.push_str(",\"participant\":");
        s.push_str(&js(pid));
        s.push_str(",\"space_id\":");
        s.push_str(&js(space_id));
        s.push_str(",\"result\":\"");
        s.push_str(if matched.is_some() {
            "allowed"
        } else {
            "denied"
        });
        s.push_str("\",\"required_capability\":");
        s.push_str(&js(kind.unwrap_or("unknown")));
        if let Some((cap, src)) = &matched {
            s.push_str(",\"matched_capability\":");
            s.push_str(&cap.to_string());
            s.push_str(",\"matched_source\":\"");
            s.push_str(src);
            s.push('"');
        }
        s.push_str(",\"granted_capabilities\":");
        if effective.len() == n_static {
            s.push_str(st.static_json(pid));
        } else {
            s.push_str(&Value::Array(effective.iter().map(|v| (*v).clone()).collect()).to_string());
        }
        s.push_str(",\"metadata\":{\"source\":");
        s.push_str(&js(source));
        s.push_str(",\"transport\":");
        s.push_str(&js(transport));
        if let Some(c) = corr.filter(|v| !v.is_null()) {
            s.push_str(",\"correlation_id\":");
            match c {
                Value::Array(_) => s.push_str(&c.to_string()),
                other => s.push_str(&Value::Array(vec![other.clone()]).to_string()),
            }
        }
        s.push_str("}}");
        gw.logs.decision(s);
    }
    matched.is_some()
}

// ---------------------------------------------------------------------------------------------
// Welcome and presence (§1.4, §1.5)

pub(super) fn active_streams(st: &State, space_id: &str) -> Value {
    let mut list = Vec::new();
    if let Some(space) = st.spaces.get(space_id) {
        for (sid, s) in &space.streams {
            let mut m = Map::new();
            m.insert("stream_id".into(), json!(sid));
            m.insert("owner".into(), json!(s.owner));
            m.insert("authorized_writers".into(), json!(s.writers));
            m.insert("created".into(), json!(s.created));
            for (k, v) in &s.request {
                // [R] server-owned values win over request fields of the same name.
                if !m.contains_key(k) {
                    m.insert(k.clone(), v.clone());
                }
            }
            list.push(Value::Object(m));
        }
    }
    Value::Array(list)
}

/// The `system/welcome` for `pid` (`you_caps` differs for virtual participants).
pub fn welcome(st: &State, space_id: &str, pid: &str, you_caps: Value) -> Value {
    let participants: Vec<Value> = st
        .spaces
        .get(space_id)
        .map(|s| {
            s.registry
                .keys()
                .filter(|id| id.as_str() != pid)
                .map(|id| json!({"id": id, "capabilities": st.static_value(id)}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "protocol": protocol::PROTOCOL,
        "id": gen_id("welcome-"),
        "ts": iso_now(),
        "from": GATEWAY,
        "to": [pid],
        "kind": "system/welcome",
        "payload": {
            "you": {"id": pid, "capabilities": you_caps},
            "participants": participants,
            "active_streams": active_streams(st, space_id),
        }
    })
}

/// Grant-update welcome: static + dynamic capabilities everywhere, no `active_streams`.
pub(super) fn welcome_update(st: &State, space_id: &str, pid: &str) -> Value {
    let participants: Vec<Value> = st
        .spaces
        .get(space_id)
        .map(|s| {
            s.registry
                .keys()
                .filter(|id| id.as_str() != pid)
                .map(|id| json!({"id": id, "capabilities": st.effective_value(id)}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "protocol": protocol::PROTOCOL,
        "id": gen_id("welcome-update-"),
        "ts": iso_now(),
        "from": GATEWAY,
        "to": [pid],
        "kind": "system/welcome",
        "payload": {
            "you": {"id": pid, "capabilities": st.effective_value(pid)},
            "participants": participants,
        }
    })
}

pub(super) fn presence(event: &str, participant: Value) -> Value {
    json!({
        "protocol": protocol::PROTOCOL,
        "id": gen_id("presence-"),
        "ts": iso_now(),
        "from": GATEWAY,
        "kind": "system/presence",
        "payload": {"event": event, "participant": participant}
    })
}
