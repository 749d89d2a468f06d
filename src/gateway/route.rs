//! Where the gateway routes a message: the WebSocket pipeline of spec/gateway.md §3.1
//! (`ws_message`), the HTTP pipeline of §5.3 (`http_post`), joins and disconnects.
//!
//! Every handler takes the state lock once, does its bookkeeping, queues outbound messages
//! (non-blocking) and log records, then releases the lock; appends to virtual participants'
//! files are collected in an [`Outbox`] and done after the lock is released.
use super::logs::{envelope_record, js};
use super::state::{text, Caps, Endpoint, Gateway, State, Stream, VirtualSink};
use super::virtual_participant;
use crate::protocol::{
    self, bare_error, baseline, fill_in_owned, gen_id, iso_now, matches, truthy, wrap_correlation,
};
use axum::extract::ws::{Message, Utf8Bytes};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

const GATEWAY: &str = "system:gateway";
const REGISTER_TEXT: &str =
    "system/register is reserved for the gateway. Use capability/grant instead.";

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

/// Per-connection routing context.
pub struct ConnCtx {
    pub conn: Arc<super::state::Conn>,
    pub joined: Option<Joined>,
    /// [R] fall-backs from the upgrade request (`?space=`, Bearer header).
    pub fallback_space: Option<String>,
    pub fallback_token: Option<String>,
}

#[derive(Clone)]
pub struct Joined {
    pub space: String,
    pub id: String,
}

// ---------------------------------------------------------------------------------------------
// Delivery helpers

fn deliver(ep: &Endpoint, msg: &Utf8Bytes, out: &mut Outbox) -> bool {
    match ep {
        Endpoint::Socket(conn) => conn.push(Message::Text(msg.clone())),
        Endpoint::Virtual(sink) => {
            out.virtual_write(sink.clone(), msg.clone());
            true
        }
    }
}

/// A message serialised once, with the id used in log records.
struct Outgoing {
    text: Utf8Bytes,
    id_json: String,
}

impl Outgoing {
    fn new(v: &Value) -> Outgoing {
        Outgoing {
            text: Utf8Bytes::from(v.to_string()),
            id_json: v.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
    fn from_map(m: &Map<String, Value>) -> Outgoing {
        Outgoing {
            text: Utf8Bytes::from(serde_json::to_string(m).unwrap_or_default()),
            id_json: m.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
}

fn log_delivered(gw: &Gateway, msg: &Outgoing, pid: &str, space_id: &str, meta: &str) {
    if gw.logs.switches.envelope_history {
        let id = (!msg.id_json.is_empty() && msg.id_json != "null").then_some(msg.id_json.as_str());
        gw.logs.envelope(envelope_record(
            "delivered",
            id,
            &msg.text,
            pid,
            space_id,
            "outbound",
            "websocket",
            meta,
        ));
    }
}

/// Send to one participant of a space; logs `delivered` (as `log_as`) when it went out.
#[allow(clippy::too_many_arguments)]
fn send_one(
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
fn send_all(
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

fn meta_source(sender: &str) -> String {
    format!("{{\"source_participant\":{}}}", js(sender))
}

fn str_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `[id]` when the message had a (truthy) id.
fn correlation_of(id: Option<&Value>) -> Option<Value> {
    id.filter(|v| truthy(v))
        .map(|v| Value::Array(vec![v.clone()]))
}

/// An error envelope addressed to one participant, with `correlation_id` after `kind`.
fn error_envelope(from: &str, to: Value, corr: Option<Value>, payload: Value) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Capability decisions (§4.4, §6)

#[allow(clippy::too_many_arguments)]
fn check(
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

fn active_streams(st: &State, space_id: &str) -> Value {
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
                .map(|id| {
                    let caps = st
                        .static_caps
                        .get(id)
                        .map(|c| Value::Array(c.list.clone()))
                        .unwrap_or_else(|| json!([]));
                    json!({"id": id, "capabilities": caps})
                })
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
fn welcome_update(st: &State, space_id: &str, pid: &str) -> Value {
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

fn presence(event: &str, participant: Value) -> Value {
    json!({
        "protocol": protocol::PROTOCOL,
        "id": gen_id("presence-"),
        "ts": iso_now(),
        "from": GATEWAY,
        "kind": "system/presence",
        "payload": {"event": event, "participant": participant}
    })
}

// ---------------------------------------------------------------------------------------------
// WebSocket

fn reply(cx: &ConnCtx, s: String) {
    cx.conn.push(text(s));
}

/// `#<streamId>#<data>`: starts with `#` and has another `#` at index ≥ 1.
fn frame_stream_id(t: &str) -> Option<&str> {
    let rest = t.strip_prefix('#')?;
    rest.find('#').map(|i| &rest[..i])
}

/// Handle one inbound WebSocket data message (§3.1).
pub fn ws_message(gw: &Gateway, cx: &mut ConnCtx, msg: Message) {
    let decoded: Cow<'_, str> = match &msg {
        Message::Text(t) => Cow::Borrowed(t.as_str()),
        Message::Binary(b) => String::from_utf8_lossy(b),
        _ => return,
    };
    // 1. stream data frame
    if let Some(sid) = frame_stream_id(&decoded) {
        let sid = sid.to_string();
        drop(decoded);
        stream_frame(gw, cx, &sid, msg);
        return;
    }
    // 2. parse
    let value: Value = match serde_json::from_str(&decoded) {
        Ok(v) => v,
        Err(e) => {
            reply(cx, bare_error(&e.to_string(), "PROCESSING_ERROR"));
            return;
        }
    };
    drop(decoded);
    // 3. validate
    if let Err(e) = protocol::validate(&value) {
        reply(cx, bare_error(&e, "VALIDATION_ERROR"));
        return;
    }
    let Value::Object(obj) = value else {
        return;
    };
    // 4. join
    let is_join = obj.get("type").and_then(Value::as_str) == Some("join")
        || obj.get("kind").and_then(Value::as_str) == Some("system/join");
    if is_join {
        join(gw, cx, &obj);
        return;
    }
    ws_envelope(gw, cx, obj);
}

fn stream_frame(gw: &Gateway, cx: &ConnCtx, sid: &str, msg: Message) {
    let Some(j) = &cx.joined else {
        return;
    };
    let st = gw.lock();
    let space = st.spaces.get(&j.space);
    let stream = space.and_then(|s| s.streams.get(sid));
    match (space, stream) {
        (Some(space), Some(stream)) if stream.writers.iter().any(|w| w == &j.id) => {
            // [R] frames keep their inbound opcode and skip virtual participants.
            let push = |ep: &Endpoint| {
                if let Endpoint::Socket(c) = ep {
                    c.push(msg.clone());
                }
            };
            if stream.target.is_empty() {
                space.registry.values().for_each(push);
            } else {
                for t in &stream.target {
                    if let Some(ep) = space.registry.get(t) {
                        push(ep);
                    }
                }
            }
        }
        _ => {
            drop(st);
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
            reply(cx, err.to_string());
        }
    }
}

/// A token with secrets hidden, for the `received` record of a join.
fn redacted(obj: &Map<String, Value>) -> String {
    let mut copy = obj.clone();
    if copy.contains_key("token") {
        copy.insert("token".into(), json!("[redacted]"));
    }
    if let Some(Value::Object(p)) = copy.get_mut("payload") {
        if p.contains_key("token") {
            p.insert("token".into(), json!("[redacted]"));
        }
    }
    serde_json::to_string(&copy).unwrap_or_default()
}

fn join(gw: &Gateway, cx: &mut ConnCtx, obj: &Map<String, Value>) {
    let payload = obj.get("payload");
    let field = |k: &str| str_of(obj.get(k)).or_else(|| str_of(payload.and_then(|p| p.get(k))));
    let id = field("participantId")
        // [R] the upstream interactive CLI sends `payload.participant`.
        .or_else(|| str_of(payload.and_then(|p| p.get("participant"))))
        .map(str::to_string)
        .unwrap_or_else(|| format!("participant-{}", protocol::now_ms()));
    let space_id = field("space")
        .map(str::to_string)
        .or_else(|| cx.fallback_space.clone())
        .unwrap_or_else(|| gw.default_space());
    let token = field("token")
        .map(str::to_string)
        .or_else(|| cx.fallback_token.clone());

    // A socket that joins again leaves its previous identity first.
    if cx.joined.is_some() {
        disconnect(gw, cx);
    }

    let mut st = gw.lock();
    let mut out = Outbox::default();
    st.space_mut(&space_id)
        .registry
        .insert(id.clone(), Endpoint::Socket(cx.conn.clone()));
    if gw.logs.switches.envelope_history {
        let id_json = obj.get("id").filter(|v| !v.is_null()).map(Value::to_string);
        gw.logs.envelope(envelope_record(
            "received",
            id_json.as_deref(),
            &redacted(obj),
            &id,
            &space_id,
            "inbound",
            "websocket",
            "",
        ));
    }
    match &token {
        Some(t) => st.participant_tokens.insert(id.clone(), t.clone()),
        None => st.participant_tokens.remove(&id),
    };
    let caps = Caps::new(baseline(&resolve_static(gw, &st, &id, token.as_deref())));
    let you_caps = Value::Array(caps.list.clone());
    let presence_caps = you_caps.clone();
    st.static_caps.insert(id.clone(), caps);

    let w = Outgoing::new(&welcome(&st, &space_id, &id, you_caps));
    send_one(
        gw,
        &st,
        &mut out,
        &space_id,
        &id,
        &w,
        Some("{\"type\":\"system/welcome\"}"),
        &id,
    );
    let p = Outgoing::new(&presence(
        "join",
        json!({"id": id, "capabilities": presence_caps}),
    ));
    let meta = format!(
        "{{\"type\":\"system/presence\",\"source_participant\":{}}}",
        js(&id)
    );
    send_all(gw, &st, &mut out, &space_id, &p, &meta, Some(&id));
    drop(st);
    out.flush(gw);
    cx.joined = Some(Joined {
        space: space_id.clone(),
        id: id.clone(),
    });
    gw.console
        .info(&format!("Participant {id} joined space {space_id}"));
}

/// §4.2: the token decides, not the claimed id.
fn resolve_static(gw: &Gateway, st: &State, id: &str, token: Option<&str>) -> Vec<Value> {
    let defaults = gw.default_capabilities();
    if let Some(tok) = token {
        if let Some(name) = st.name_for_token(tok) {
            if let Some(c) = st.static_caps.get(name).or_else(|| st.invited.get(name)) {
                return c.list.clone();
            }
            if let Some(list) = gw
                .participant_config(name)
                .and_then(|p| p.capabilities.as_ref())
                .or(defaults)
            {
                return list.clone();
            }
            if gw.config.is_some() {
                return Vec::new();
            }
        }
        if let Some(cfg) = &gw.config {
            if let Some(p) = cfg
                .participants
                .values()
                .find(|p| p.tokens.iter().any(|t| t == tok))
            {
                return p
                    .capabilities
                    .clone()
                    .or(defaults.cloned())
                    .unwrap_or_default();
            }
        }
    }
    // [U] a list already registered under the claimed id.
    if let Some(c) = st.static_caps.get(id) {
        return c.list.clone();
    }
    defaults
        .cloned()
        .unwrap_or_else(|| vec![json!({"kind":"chat"})])
}

/// Forget a closing socket's registration (§1.6) and tell the others.
pub fn disconnect(gw: &Gateway, cx: &mut ConnCtx) {
    let Some(j) = cx.joined.take() else {
        return;
    };
    let mut st = gw.lock();
    let mut out = Outbox::default();
    let still_ours = st
        .spaces
        .get(&j.space)
        .and_then(|s| s.registry.get(&j.id))
        .is_some_and(|ep| matches!(ep, Endpoint::Socket(c) if c.serial == cx.conn.serial));
    if !still_ours {
        return;
    }
    let space = st.space_mut(&j.space);
    space.registry.shift_remove(&j.id);
    for s in space.streams.values_mut() {
        if s.owner != j.id {
            s.writers.retain(|w| w != &j.id);
        }
    }
    st.participant_tokens.remove(&j.id);
    st.static_caps.remove(&j.id);
    st.dynamic.remove(&j.id);
    let p = Outgoing::new(&presence("leave", json!({"id": j.id})));
    let meta = format!(
        "{{\"type\":\"system/presence\",\"source_participant\":{},\"reason\":\"disconnect\"}}",
        js(&j.id)
    );
    send_all(gw, &st, &mut out, &j.space, &p, &meta, None);
    drop(st);
    out.flush(gw);
    gw.console.info(&format!("Participant {} left", j.id));
}

fn ws_envelope(gw: &Gateway, cx: &mut ConnCtx, obj: Map<String, Value>) {
    let kind_owned = obj.get("kind").and_then(Value::as_str).map(str::to_string);
    let kind = kind_owned.as_deref();
    let msg_id_owned = obj.get("id").cloned();
    let msg_id = msg_id_owned.as_ref();
    let Some(j) = cx.joined.clone() else {
        if kind == Some("system/heartbeat") {
            return;
        }
        // [U] an un-joined socket has no id: the error goes `to: [null]`.
        let mut payload = Map::new();
        payload.insert("error".into(), json!("capability_violation"));
        if let Some(k) = kind {
            payload.insert("attempted_kind".into(), json!(k));
        }
        payload.insert("your_capabilities".into(), json!([]));
        let err = error_envelope(
            GATEWAY,
            json!([null]),
            correlation_of(msg_id),
            Value::Object(payload),
        );
        reply(cx, err.to_string());
        return;
    };
    let (space_id, pid) = (j.space.as_str(), j.id.as_str());
    let mut st = gw.lock();
    let mut out = Outbox::default();
    let source_meta = |reason: &str| {
        let mut m = format!("{{\"reason\":{}", js(reason));
        if let Some(id) = msg_id.filter(|v| !v.is_null()) {
            m.push_str(",\"source_envelope\":");
            m.push_str(&id.to_string());
        }
        m.push('}');
        m
    };

    // 5. system/register is never accepted
    if kind == Some("system/register") {
        let err = error_envelope(
            GATEWAY,
            json!([pid]),
            correlation_of(msg_id),
            json!({"error":"invalid_request","message":REGISTER_TEXT}),
        );
        let meta = source_meta("system_register_blocked");
        send_one(
            gw,
            &st,
            &mut out,
            space_id,
            pid,
            &Outgoing::new(&err),
            Some(&meta),
            pid,
        );
        drop(st);
        out.flush(gw);
        return;
    }
    // 6. capability check
    let payload = obj.get("payload");
    let corr = obj.get("correlation_id");
    if !check(
        gw,
        &st,
        space_id,
        pid,
        kind,
        payload,
        msg_id,
        corr,
        "websocket",
        "websocket",
    ) {
        let mut p = Map::new();
        p.insert("error".into(), json!("capability_violation"));
        if let Some(k) = kind {
            p.insert("attempted_kind".into(), json!(k));
        }
        p.insert(
            "your_capabilities".into(),
            st.static_caps
                .get(pid)
                .map(|c| Value::Array(c.list.clone()))
                .unwrap_or_else(|| json!([])),
        );
        let err = error_envelope(
            GATEWAY,
            json!([pid]),
            correlation_of(msg_id),
            Value::Object(p),
        );
        let meta = source_meta("capability_violation");
        send_one(
            gw,
            &st,
            &mut out,
            space_id,
            pid,
            &Outgoing::new(&err),
            Some(&meta),
            pid,
        );
        drop(st);
        out.flush(gw);
        return;
    }
    // 7. grant / revoke: a second, synthetic check, then apply (they are relayed too)
    if let Some(op @ ("capability/grant" | "capability/revoke")) = kind {
        let allowed = check(
            gw,
            &st,
            space_id,
            pid,
            Some(op),
            None,
            None,
            None,
            op,
            "websocket",
        );
        if !allowed {
            let verb = if op == "capability/grant" {
                "grant"
            } else {
                "revoke"
            };
            let err = error_envelope(
                GATEWAY,
                json!([pid]),
                correlation_of(msg_id),
                json!({
                    "error": "capability_violation",
                    "message": format!("You do not have permission to {verb} capabilities"),
                    "attempted_kind": op,
                }),
            );
            let meta = source_meta("capability_violation");
            send_one(
                gw,
                &st,
                &mut out,
                space_id,
                pid,
                &Outgoing::new(&err),
                Some(&meta),
                pid,
            );
            drop(st);
            out.flush(gw);
            return;
        }
        if op == "capability/grant" {
            apply_grant(gw, &mut st, &mut out, space_id, pid, &obj, true);
        } else {
            apply_revoke(&mut st, &obj);
        }
    }
    // 8. invite
    if kind == Some("space/invite") {
        match invite(gw, &mut st, &mut out, space_id, pid, &obj) {
            InviteOutcome::Invalid(message) => {
                let err = error_envelope(
                    GATEWAY,
                    json!([pid]),
                    correlation_of(msg_id),
                    json!({"error":"invalid_request","message":message}),
                );
                reply(cx, err.to_string());
            }
            InviteOutcome::Exists(_) | InviteOutcome::Created { .. } => {}
        }
        drop(st);
        out.flush(gw);
        return;
    }
    // 9. build, log `received`, wrap correlation_id
    let mut env = fill_in_owned(obj, pid, "msg-");
    let mut outgoing = Outgoing::from_map(&env);
    log_received(gw, &outgoing, pid, space_id, "websocket");
    if wrap_correlation(&mut env) {
        outgoing = Outgoing::from_map(&env);
    }
    match kind_owned.as_deref() {
        // 10. stream/request → stream/open, then the request is relayed too
        Some("stream/request") => {
            if let Err(err) = stream_request(gw, &mut st, &mut out, space_id, pid, &env) {
                reply(cx, err.to_string());
                drop(st);
                out.flush(gw);
                return;
            }
        }
        // 11. stream/close
        Some("stream/close") => stream_close(&mut st, space_id, &env),
        // 12. stream ownership
        Some(k @ ("stream/grant-write" | "stream/revoke-write" | "stream/transfer-ownership")) => {
            match s2w(gw, &mut st, &mut out, space_id, pid, k, &env) {
                Ok(_) => {}
                Err((_, err)) => {
                    let code = err["payload"]["error"].as_str().unwrap_or("").to_string();
                    let meta = source_meta(&code);
                    send_one(
                        gw,
                        &st,
                        &mut out,
                        space_id,
                        pid,
                        &Outgoing::new(&err),
                        Some(&meta),
                        pid,
                    );
                }
            }
            drop(st);
            out.flush(gw);
            return;
        }
        _ => {}
    }
    // 13. relay to everyone, sender included
    send_all(
        gw,
        &st,
        &mut out,
        space_id,
        &outgoing,
        &meta_source(pid),
        None,
    );
    drop(st);
    out.flush(gw);
}

fn log_received(gw: &Gateway, msg: &Outgoing, pid: &str, space_id: &str, transport: &str) {
    if gw.logs.switches.envelope_history {
        let id = (!msg.id_json.is_empty() && msg.id_json != "null").then_some(msg.id_json.as_str());
        gw.logs.envelope(envelope_record(
            "received", id, &msg.text, pid, space_id, "inbound", transport, "",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Grants (§3.4, §3.5)

/// The connected participant a grant for logical name `recipient` applies to.
fn resolve_recipient(gw: &Gateway, st: &State, space_id: &str, recipient: &str) -> Option<String> {
    let space = st.spaces.get(space_id)?;
    let token = gw
        .participant_config(recipient)
        .and_then(|p| p.tokens.first().cloned())
        .or_else(|| st.token_map.get(recipient).cloned());
    if let Some(token) = token {
        let hit = space
            .registry
            .keys()
            .find(|id| st.participant_tokens.get(*id) == Some(&token));
        if let Some(id) = hit {
            return Some(id.clone());
        }
    }
    // [R] fall back to a participant whose id is the recipient name.
    space
        .registry
        .contains_key(recipient)
        .then(|| recipient.to_string())
}

fn apply_grant(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
    space_id: &str,
    sender: &str,
    obj: &Map<String, Value>,
    via_ws: bool,
) {
    let payload = obj.get("payload");
    let Some(recipient) = str_of(payload.and_then(|p| p.get("recipient"))) else {
        return;
    };
    let Some(caps) = payload
        .and_then(|p| p.get("capabilities"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        return;
    };
    let Some(target) = resolve_recipient(gw, st, space_id, recipient) else {
        gw.console.error(&format!(
            "Cannot apply capability grant: recipient {recipient} is not connected"
        ));
        return;
    };
    let grant_id = match obj.get("id").filter(|v| truthy(v)) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => format!("grant-{}", protocol::now_ms()),
    };
    st.dynamic
        .entry(target.clone())
        .or_default()
        .insert(grant_id, caps.clone());
    let upd = Outgoing::new(&welcome_update(st, space_id, &target));
    let meta = format!(
        "{{\"type\":\"system/welcome\",\"reason\":\"capability_grant_update\",\"source_participant\":{}}}",
        js(sender)
    );
    // [U] the WebSocket path logs the recipient's logical name, HTTP the resolved id.
    let log_as = if via_ws { recipient } else { target.as_str() };
    send_one(gw, st, out, space_id, &target, &upd, Some(&meta), log_as);
    gw.console.info(&format!(
        "Granted capabilities to {target} (requested by {sender})"
    ));
}

fn apply_revoke(st: &mut State, obj: &Map<String, Value>) {
    let payload = obj.get("payload");
    let Some(recipient) = str_of(payload.and_then(|p| p.get("recipient"))) else {
        return;
    };
    let Some(grants) = st.dynamic.get_mut(recipient) else {
        return;
    };
    if let Some(gid) = payload
        .and_then(|p| p.get("grant_id"))
        .filter(|v| truthy(v))
    {
        let key = match gid {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        grants.shift_remove(&key);
    } else if let Some(list) = payload
        .and_then(|p| p.get("capabilities"))
        .and_then(Value::as_array)
    {
        // Structural identity including key order ([U]), hence the serialised comparison.
        let doomed: Vec<String> = list.iter().map(Value::to_string).collect();
        for caps in grants.values_mut() {
            caps.retain(|c| !doomed.contains(&c.to_string()));
        }
        grants.retain(|_, caps| !caps.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Invites (§3.6)

enum InviteOutcome {
    Invalid(&'static str),
    Exists(String),
    Created {
        ack_id: String,
        id: String,
        token: String,
    },
}

fn invite(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
    space_id: &str,
    inviter: &str,
    obj: &Map<String, Value>,
) -> InviteOutcome {
    invite_inner(gw, st, out, space_id, inviter, obj, true)
}

fn invite_ack(inviter: &str, corr: Option<Value>, payload: Value) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), json!(protocol::PROTOCOL));
    m.insert("id".into(), json!(gen_id("invite-ack-")));
    m.insert("ts".into(), json!(iso_now()));
    m.insert("from".into(), json!(GATEWAY));
    m.insert("to".into(), json!([inviter]));
    if let Some(c) = corr {
        m.insert("correlation_id".into(), c);
    }
    m.insert("kind".into(), json!("space/invite-ack"));
    m.insert("payload".into(), payload);
    Value::Object(m)
}

fn invite_inner(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
    space_id: &str,
    inviter: &str,
    obj: &Map<String, Value>,
    via_ws: bool,
) -> InviteOutcome {
    let payload = obj.get("payload");
    let Some(new_id) = str_of(payload.and_then(|p| p.get("participant_id"))) else {
        return InviteOutcome::Invalid("space/invite requires participant_id in payload");
    };
    if new_id.contains('/') || new_id.contains('\\') || new_id.contains("..") {
        return InviteOutcome::Invalid("participant_id contains invalid characters");
    }
    let corr = correlation_of(obj.get("id"));
    if gw.participant_config(new_id).is_some() || st.token_map.contains_key(new_id) {
        let ack = Outgoing::new(&invite_ack(
            inviter,
            corr,
            json!({
                "status": "already_exists",
                "participant_id": new_id,
                "error": format!("Participant {new_id} already exists in this space"),
            }),
        ));
        // [U] the HTTP duplicate push is not logged.
        let meta = format!(
            "{{\"type\":\"space/invite-ack\",\"invited_participant\":{},\"status\":\"already_exists\"}}",
            js(new_id)
        );
        let meta = via_ws.then_some(meta.as_str());
        send_one(gw, st, out, space_id, inviter, &ack, meta, inviter);
        return InviteOutcome::Exists(new_id.to_string());
    }
    let token = crate::tokens::generate_token();
    let dir = crate::tokens::tokens_dir(&gw.mew_dir);
    if let Err(e) = crate::tokens::write_token(&dir, new_id, &token) {
        gw.console.warn(&format!("Cannot save invite token: {e}"));
    }
    st.token_map.insert(new_id.to_string(), token.clone());
    let initial = payload
        .and_then(|p| p.get("initial_capabilities"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let caps = Caps::new(baseline(&initial));
    let caps_value = Value::Array(caps.list.clone());
    st.invited.insert(new_id.to_string(), caps.clone());
    st.static_caps.insert(new_id.to_string(), caps);

    let port = gw.port.load(std::sync::atomic::Ordering::Relaxed);
    let ack_value = invite_ack(
        inviter,
        corr,
        json!({
            "status": "created",
            "participant_id": new_id,
            "token": token,
            "connection_url": format!("ws://localhost:{port}/"),
        }),
    );
    let ack = Outgoing::new(&ack_value);
    let meta = format!(
        "{{\"type\":\"space/invite-ack\",\"invited_participant\":{}}}",
        js(new_id)
    );
    send_one(gw, st, out, space_id, inviter, &ack, Some(&meta), inviter);

    let mut p = Map::new();
    p.insert("event".into(), json!("invited"));
    p.insert(
        "participant".into(),
        json!({"id": new_id, "capabilities": caps_value}),
    );
    p.insert("invited_by".into(), json!(inviter));
    if let Some(r) = payload
        .and_then(|p| p.get("reason"))
        .filter(|v| !v.is_null())
    {
        p.insert("reason".into(), r.clone());
    }
    let pres = Outgoing::new(&json!({
        "protocol": protocol::PROTOCOL,
        "id": gen_id("presence-invite-"),
        "ts": iso_now(),
        "from": GATEWAY,
        "kind": "system/presence",
        "payload": Value::Object(p),
    }));
    let meta = format!(
        "{{\"type\":\"system/presence\",\"event\":\"invited\",\"invited_participant\":{}}}",
        js(new_id)
    );
    send_all(gw, st, out, space_id, &pres, &meta, Some(inviter));
    gw.console
        .info(&format!("{inviter} invited participant {new_id}"));
    InviteOutcome::Created {
        ack_id: ack_value["id"].as_str().unwrap_or("").to_string(),
        id: new_id.to_string(),
        token,
    }
}

// ---------------------------------------------------------------------------------------------
// Streams (§3.7-§3.9)

/// Open a stream; `Ok((stream_id, open_id, open_ts))`, or the `target_not_found` envelope.
fn stream_request(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
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
    send_all(gw, st, out, space_id, &open, &meta, None);
    Ok((sid, open_id, open_ts))
}

fn stream_close(st: &mut State, space_id: &str, env: &Map<String, Value>) {
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
fn s2w(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
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
    let registered: Vec<String> = space.registry.keys().cloned().collect();
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
        gw,
        st,
        out,
        space_id,
        &Outgoing::new(&ack),
        &meta_source(sender),
        None,
    );
    Ok(ack)
}

// ---------------------------------------------------------------------------------------------
// HTTP (§5.3)

/// Parsed request body as the HTTP layer hands it over.
pub enum Body {
    Json(Value),
    /// A non-JSON content type: treated as `{}`.
    Empty,
}

/// `POST /participants/{id}/messages`: returns (status, JSON body).
pub fn http_post(
    gw: &Gateway,
    pid: &str,
    space_q: Option<&str>,
    auth: Option<&str>,
    body: Body,
) -> (u16, String) {
    let resp = |status: u16, v: Value| (status, v.to_string());
    // 1. bearer header
    let Some(given) = auth.and_then(|a| a.strip_prefix("Bearer ")) else {
        return resp(
            401,
            json!({"error":"Missing or invalid authorization header"}),
        );
    };
    let mut st = gw.lock();
    let mut out = Outbox::default();
    // 2. token
    let expected = st
        .participant_tokens
        .get(pid)
        .or_else(|| st.token_map.get(pid))
        .cloned();
    if expected.as_deref() != Some(given) {
        return resp(403, json!({"error":"Invalid token for participant"}));
    }
    // 3. register static capabilities on first use
    let pc = gw.participant_config(pid);
    if !st.static_caps.contains_key(pid) {
        if let Some(c) = st.invited.get(pid).cloned() {
            st.static_caps.insert(pid.to_string(), c);
        } else if let Some(pc) = pc {
            let list = pc
                .capabilities
                .clone()
                .or_else(|| gw.default_capabilities().cloned())
                .unwrap_or_default();
            st.static_caps
                .insert(pid.to_string(), Caps::new(baseline(&list)));
        }
    }
    // 4. space
    let space_id = match space_q {
        Some(s) if !s.is_empty() && s != "default" => s.to_string(),
        _ => gw.default_space(),
    };
    st.space_mut(&space_id);
    // 5. lazy auto-connect of an output_log participant
    if pc.is_some_and(|p| p.output_log.is_some())
        && !st
            .spaces
            .get(&space_id)
            .is_some_and(|s| s.registry.contains_key(pid))
    {
        virtual_participant::connect(gw, &mut st, &mut out, &space_id, pid);
    }
    let result = http_route(gw, &mut st, &mut out, &space_id, pid, body);
    drop(st);
    out.flush(gw);
    result
}

fn http_route(
    gw: &Gateway,
    st: &mut State,
    out: &mut Outbox,
    space_id: &str,
    pid: &str,
    body: Body,
) -> (u16, String) {
    let resp = |status: u16, v: Value| (status, v.to_string());
    // 6. object body
    let obj = match body {
        Body::Json(Value::Object(m)) => m,
        Body::Empty => Map::new(),
        Body::Json(_) => return resp(400, json!({"error":"Request body must be a JSON object"})),
    };
    // 7. kind
    let Some(kind) = obj
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
        .map(str::to_string)
    else {
        return resp(400, json!({"error":"Message kind is required"}));
    };
    // 8. build and log `received`
    let mut env = fill_in_owned(obj, pid, "http-");
    let mut outgoing = Outgoing::from_map(&env);
    log_received(gw, &outgoing, pid, space_id, "http");
    if wrap_correlation(&mut env) {
        outgoing = Outgoing::from_map(&env);
    }
    let env_id = env.get("id").cloned();
    let id_meta = |reason: &str| {
        let mut m = format!("{{\"reason\":{}", js(reason));
        if let Some(id) = env_id.as_ref().filter(|v| !v.is_null()) {
            m.push_str(",\"source_envelope\":");
            m.push_str(&id.to_string());
        }
        m.push('}');
        m
    };
    // 9. system/register
    if kind == "system/register" {
        let err = error_envelope(
            GATEWAY,
            json!([pid]),
            correlation_of(env_id.as_ref()),
            json!({"error":"invalid_request","message":REGISTER_TEXT}),
        );
        let meta = id_meta("invalid_request");
        send_one(
            gw,
            st,
            out,
            space_id,
            pid,
            &Outgoing::new(&err),
            Some(&meta),
            pid,
        );
        return resp(
            400,
            json!({"error":"invalid_request","message":REGISTER_TEXT}),
        );
    }
    // 10. capability check
    let allowed = check(
        gw,
        st,
        space_id,
        pid,
        Some(&kind),
        env.get("payload"),
        env_id.as_ref(),
        env.get("correlation_id"),
        "http_api",
        "http",
    );
    if !allowed {
        let err = error_envelope(
            GATEWAY,
            json!([pid]),
            correlation_of(env_id.as_ref()),
            json!({
                "error": "capability_violation",
                "attempted_kind": kind,
                "your_capabilities": st.static_caps.get(pid).map(|c| Value::Array(c.list.clone())).unwrap_or_else(|| json!([])),
            }),
        );
        let meta = id_meta("capability_violation");
        send_one(
            gw,
            st,
            out,
            space_id,
            pid,
            &Outgoing::new(&err),
            Some(&meta),
            pid,
        );
        if gw.logs.switches.envelope_history {
            let id = outgoing.id_json.as_str();
            gw.logs.envelope(envelope_record(
                "rejected",
                (!id.is_empty()).then_some(id),
                &outgoing.text,
                pid,
                space_id,
                "inbound",
                "http",
                "{\"reason\":\"capability_violation\"}",
            ));
        }
        return resp(
            403,
            json!({
                "error": "capability_violation",
                "message": format!("Participant {pid} lacks capability for {kind}"),
            }),
        );
    }
    match kind.as_str() {
        // 11. grant / revoke ([R] revokes apply on HTTP too)
        "capability/grant" => apply_grant(gw, st, out, space_id, pid, &env, false),
        "capability/revoke" => apply_revoke(st, &env),
        // 12. invite
        "space/invite" => {
            return match invite_inner(gw, st, out, space_id, pid, &env, false) {
                InviteOutcome::Invalid(message) => {
                    resp(400, json!({"error":"invalid_request","message":message}))
                }
                InviteOutcome::Exists(id) => resp(
                    409,
                    json!({
                        "status": "already_exists",
                        "participant_id": id,
                        "message": format!("Participant {id} already exists"),
                    }),
                ),
                InviteOutcome::Created { ack_id, id, token } => {
                    let port = gw.port.load(std::sync::atomic::Ordering::Relaxed);
                    resp(
                        200,
                        json!({
                            "id": ack_id,
                            "status": "created",
                            "participant_id": id,
                            "token": token,
                            "connection_url": format!("ws://localhost:{port}/"),
                        }),
                    )
                }
            };
        }
        // 13. stream/request (not relayed on HTTP)
        "stream/request" => {
            return match stream_request(gw, st, out, space_id, pid, &env) {
                Ok((sid, open_id, ts)) => resp(
                    200,
                    json!({"id": open_id, "status": "stream_opened", "stream_id": sid, "timestamp": ts}),
                ),
                Err(err) => resp(400, err),
            };
        }
        // 14. stream/close
        "stream/close" => stream_close(st, space_id, &env),
        // 15. stream ownership
        "stream/grant-write" | "stream/revoke-write" | "stream/transfer-ownership" => {
            return match s2w(gw, st, out, space_id, pid, &kind, &env) {
                Ok(ack) => {
                    let p = &ack["payload"];
                    let status = match kind.as_str() {
                        "stream/grant-write" => "granted",
                        "stream/revoke-write" => "revoked",
                        _ => "transferred",
                    };
                    let mut m = Map::new();
                    m.insert("id".into(), ack["id"].clone());
                    m.insert("status".into(), json!(status));
                    m.insert("stream_id".into(), p["stream_id"].clone());
                    m.insert("authorized_writers".into(), p["authorized_writers"].clone());
                    if status == "transferred" {
                        m.insert("previous_owner".into(), p["previous_owner"].clone());
                        m.insert("new_owner".into(), p["new_owner"].clone());
                    }
                    resp(200, Value::Object(m))
                }
                Err((status, err)) => resp(status, err),
            };
        }
        _ => {}
    }
    // 16. relay
    send_all(gw, st, out, space_id, &outgoing, &meta_source(pid), None);
    let mut m = Map::new();
    m.insert("id".into(), env.get("id").cloned().unwrap_or(Value::Null));
    m.insert("status".into(), json!("accepted"));
    m.insert(
        "timestamp".into(),
        env.get("ts").cloned().unwrap_or(Value::Null),
    );
    resp(200, Value::Object(m))
}

// ---------------------------------------------------------------------------------------------
// Read-only views (§5)

/// `GET /health`.
pub fn health(gw: &Gateway) -> String {
    let st = gw.lock();
    let clients: usize = st.spaces.values().map(|s| s.registry.len()).sum();
    json!({
        "status": "ok",
        "spaces": st.spaces.len(),
        "clients": clients,
        "uptime": gw.started.elapsed().as_secs_f64(),
        "features": ["capabilities", "context", "validation", "http-io"],
    })
    .to_string()
}

/// `GET /participants[?space=]`.
pub fn participants(gw: &Gateway, space_q: Option<&str>) -> String {
    let space_id = match space_q {
        Some(s) if !s.is_empty() && s != "default" => s.to_string(),
        _ => gw.default_space(),
    };
    let st = gw.lock();
    let list: Vec<Value> = st
        .spaces
        .get(&space_id)
        .map(|s| {
            s.registry
                .keys()
                .map(|id| {
                    let caps = st
                        .static_caps
                        .get(id)
                        .map(|c| Value::Array(c.list.clone()))
                        .unwrap_or_else(|| json!([]));
                    json!({"id": id, "connected": true, "capabilities": caps})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "participants": list }).to_string()
}

/// Close every socket with 1001 (going away) at shutdown.
pub fn close_all(gw: &Gateway) {
    let st = gw.lock();
    for space in st.spaces.values() {
        for ep in space.registry.values() {
            if let Endpoint::Socket(c) = ep {
                c.push(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: Utf8Bytes::from_static("gateway shutting down"),
                })));
            }
        }
    }
}
