//! Building what the gateway sends, for `route`: messages serialised once and the effects that
//! deliver and log them; capability decisions (§4.4, §6); welcome and presence messages (§1.4,
//! §1.5).
use super::effect::{Delivery, DeliveryLog, Effect, Outgoing, Received, Record};
use super::logs::js;
use super::state::{Ctx, State};
use mew_protocol::{self as protocol, gen_id, iso_now, matches, truthy};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

pub(super) const GATEWAY: &str = "system:gateway";

// ---------------------------------------------------------------------------------------------
// Delivery: who receives what

/// Send to one participant of a space, `delivered` logged as `log_as` with `meta` (not logged
/// when `meta` is None). Nothing when `pid` is not registered there.
pub(super) fn send_one(
    st: &State,
    out: &mut Vec<Effect>,
    space_id: &str,
    pid: &str,
    msg: Outgoing,
    meta: Option<String>,
    log_as: &str,
) {
    let Some((to, ep)) = st
        .spaces
        .get(space_id)
        .and_then(|s| s.registry.get_key_value(pid))
    else {
        return;
    };
    let log = meta.map(|meta| DeliveryLog {
        space: space_id.to_string(),
        meta,
        as_name: (log_as != pid).then(|| log_as.to_string()),
    });
    out.push(Effect::Deliver {
        to: to.clone(),
        ep: ep.clone(),
        msg: Arc::new(Delivery { msg, log }),
    });
}

/// Send to every participant of a space in registry order, except `except`.
pub(super) fn send_all(
    st: &State,
    out: &mut Vec<Effect>,
    space_id: &str,
    msg: Outgoing,
    meta: String,
    except: Option<&str>,
) {
    let Some(space) = st.spaces.get(space_id) else {
        return;
    };
    let shared = Arc::new(Delivery {
        msg,
        log: Some(DeliveryLog {
            space: space_id.to_string(),
            meta,
            as_name: None,
        }),
    });
    out.reserve(space.registry.len());
    for (pid, ep) in &space.registry {
        if except == Some(&**pid) {
            continue;
        }
        out.push(Effect::Deliver {
            to: pid.clone(),
            ep: ep.clone(),
            msg: shared.clone(),
        });
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

/// The `received` record of an inbound envelope.
pub(super) fn log_received(
    ctx: &Ctx,
    out: &mut Vec<Effect>,
    msg: &Outgoing,
    pid: &str,
    space_id: &str,
    transport: &'static str,
) {
    if ctx.switches.envelope_history {
        out.push(Effect::Log(Record::Received(Box::new(Received {
            msg: msg.clone(),
            from: pid.to_string(),
            space: space_id.to_string(),
            transport,
        }))));
    }
}

// ---------------------------------------------------------------------------------------------
// Capability decisions (§4.4, §6)

/// One capability check: what `pid` in `space` attempts, and where the attempt came from
/// (the decision record's `metadata`).
pub(super) struct Attempt<'a> {
    pub space: &'a str,
    pub pid: &'a str,
    pub kind: Option<&'a str>,
    pub payload: Option<&'a Value>,
    pub envelope_id: Option<&'a Value>,
    pub corr: Option<&'a Value>,
    pub source: &'a str,
    pub transport: &'a str,
}

/// Whether `pid`'s capabilities allow the attempt; the decision is logged either way.
pub(super) fn check(ctx: &Ctx, st: &State, out: &mut Vec<Effect>, a: Attempt<'_>) -> bool {
    let Attempt {
        space: space_id,
        pid,
        kind,
        payload,
        envelope_id,
        corr,
        source,
        transport,
    } = a;
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
    if ctx.switches.capability_decisions {
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
        out.push(Effect::Log(Record::Decision(s)));
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
                .filter(|id| &***id != pid)
                .map(|id| json!({"id": &**id, "capabilities": st.static_value(id)}))
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
                .filter(|id| &***id != pid)
                .map(|id| json!({"id": &**id, "capabilities": st.effective_value(id)}))
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
