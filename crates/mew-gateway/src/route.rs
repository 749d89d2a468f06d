//! Where the gateway routes a message: the WebSocket pipeline of spec/gateway.md §3.1
//! (`ws_message`), the HTTP pipeline of §5.3 (`http_post`), joins and disconnects.
//!
//! Every handler takes the state lock once, does its bookkeeping, queues outbound messages
//! (non-blocking) and log records, then releases the lock; appends to virtual participants'
//! files are collected in an `Outbox` and done after the lock is released.
use super::emit::*;
use super::grants::*;
use super::identity;
use super::logs::{envelope_record, js};
use super::state::{text, Caps, Endpoint, Gateway, State};
use super::streams::*;
use super::virtual_participant;
use axum::extract::ws::Message;
use mew_protocol::{self as protocol, bare_error, baseline, fill_in_owned, wrap_correlation};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

const REGISTER_TEXT: &str =
    "system/register is reserved for the gateway. Use capability/grant instead.";

/// Per-connection routing context.
pub struct ConnCtx {
    pub conn: Arc<super::state::Conn>,
    pub joined: Option<Joined>,
    /// (R) fall-backs from the upgrade request (`?space=`, Bearer header).
    pub fallback_space: Option<String>,
    pub fallback_token: Option<String>,
}

#[derive(Clone)]
pub struct Joined {
    pub space: String,
    pub id: String,
}

// ---------------------------------------------------------------------------------------------
// WebSocket

pub(super) fn reply(cx: &ConnCtx, s: String) {
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
    let claimed = field("participantId")
        // [R] the upstream interactive CLI sends `payload.participant`.
        .or_else(|| str_of(payload.and_then(|p| p.get("participant"))))
        .map(str::to_string);
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
    let (claimed, authenticated) =
        match identity::decide_join(gw, &st, claimed.as_deref(), token.as_deref()) {
            identity::Decision::Accept { id, authenticated } => (id, authenticated),
            identity::Decision::Refuse { reason, message } => {
                drop(st);
                refuse_join(gw, cx, obj, &space_id, claimed.as_deref(), reason, &message);
                return;
            }
        };
    let mut out = Outbox::default();
    let id = claimed.unwrap_or_else(|| {
        // `participant-<unix ms>`, moved past ids already held (in any space) or configured.
        let mut ms = protocol::now_ms();
        while identity::protection(gw, &st, &format!("participant-{ms}")).is_some() {
            ms += 1;
        }
        format!("participant-{ms}")
    });
    let previous = st
        .space_mut(&space_id)
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
    // Only accepted joins get here: the token is the id's own, or an anonymous session's.
    match &token {
        Some(t) => st.participant_tokens.insert(id.clone(), t.clone()),
        None => st.participant_tokens.remove(&id),
    };
    let caps = Caps::new(baseline(&resolve_static(gw, &st, &id, authenticated)));
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
    // The newer connection wins; the old one is told and closed, never left unregistered.
    if let Some(Endpoint::Socket(old)) =
        previous.filter(|ep| matches!(ep, Endpoint::Socket(c) if c.serial != cx.conn.serial))
    {
        let err = error_envelope(
            GATEWAY,
            json!([id]),
            None,
            json!({
                "error": "replaced",
                "message": format!("{id} joined again from another connection; this one is closed"),
            }),
        );
        old.close_with(
            text(err.to_string()),
            1000,
            "replaced by a newer connection",
        );
        gw.console.warn(&format!(
            "Participant {id} joined again: closing its previous connection"
        ));
    }
    cx.joined = Some(Joined {
        space: space_id.clone(),
        id: id.clone(),
    });
    gw.console
        .info(&format!("Participant {id} joined space {space_id}"));
}

/// A refused join (mew, §4.2): `system/error` with the reason, a `rejected` record, a console
/// warning (never the token), then the socket is closed.
fn refuse_join(
    gw: &Gateway,
    cx: &ConnCtx,
    obj: &Map<String, Value>,
    space_id: &str,
    claimed: Option<&str>,
    reason: &str,
    message: &str,
) {
    let msg_id = obj.get("id");
    let to = claimed.map_or(Value::Null, |c| json!(c));
    let err = error_envelope(
        GATEWAY,
        json!([to]),
        correlation_of(msg_id),
        json!({"error": "join_refused", "reason": reason, "message": message}),
    );
    if gw.logs.switches.envelope_history {
        let id_json = msg_id.filter(|v| !v.is_null()).map(Value::to_string);
        gw.logs.envelope(envelope_record(
            "rejected",
            id_json.as_deref(),
            &redacted(obj),
            claimed.unwrap_or(""),
            space_id,
            "inbound",
            "websocket",
            &format!("{{\"reason\":\"join_refused\",\"detail\":{}}}", js(reason)),
        ));
    }
    gw.console
        .warn(&format!("Refused a join in space {space_id}: {message}"));
    cx.conn
        .close_with(text(err.to_string()), 1008, "join refused");
}

/// §4.2 as mew applies it: `identity` has already checked that an authenticated join's token
/// is the id's own, so the id's own list applies; anonymous joins get the defaults.
fn resolve_static(gw: &Gateway, st: &State, id: &str, authenticated: bool) -> Vec<Value> {
    let defaults = gw.default_capabilities();
    if authenticated {
        if let Some(c) = st.static_caps.get(id).or_else(|| st.invited.get(id)) {
            return c.list.clone();
        }
        if let Some(pc) = gw.participant_config(id) {
            return pc
                .capabilities
                .clone()
                .or(defaults.cloned())
                .unwrap_or_default();
        }
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
    let source_meta = |reason: &str| reason_meta(reason, msg_id);

    // 5. system/register is never accepted
    if kind == Some("system/register") {
        let err = error_envelope(
            GATEWAY,
            json!([pid]),
            correlation_of(msg_id),
            json!({"error":"invalid_request","message":REGISTER_TEXT}),
        );
        let meta = source_meta("system_register_blocked");
        error_to_sender(gw, &st, &mut out, space_id, pid, &err, &meta);
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
        p.insert("your_capabilities".into(), st.static_value(pid));
        send_violation(gw, &st, &mut out, space_id, pid, msg_id, Value::Object(p));
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
            let payload = json!({
                "error": "capability_violation",
                "message": format!("You do not have permission to {verb} capabilities"),
                "attempted_kind": op,
            });
            send_violation(gw, &st, &mut out, space_id, pid, msg_id, payload);
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
                    error_to_sender(gw, &st, &mut out, space_id, pid, &err, &meta);
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
    debug_relayed(gw, kind_owned.as_deref(), &outgoing, pid, space_id);
}

fn debug_relayed(gw: &Gateway, kind: Option<&str>, msg: &Outgoing, pid: &str, space_id: &str) {
    if gw.console.debug_enabled() {
        gw.console.debug(&format!(
            "Relayed {} {} from {pid} in space {space_id}",
            kind.unwrap_or("(no kind)"),
            msg.id_json
        ));
    }
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
    // 2. token. A remembered token comes from an accepted join only: the id's own token, or
    // the one an anonymous session under a new id joined with (valid while it is connected),
    // so a token never authenticates an id it does not belong to (mew, §4.2).
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
        error_to_sender(gw, st, out, space_id, pid, &err, &meta);
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
                "your_capabilities": st.static_value(pid),
            }),
        );
        let meta = id_meta("capability_violation");
        error_to_sender(gw, st, out, space_id, pid, &err, &meta);
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
    debug_relayed(gw, Some(&kind), &outgoing, pid, space_id);
    let mut m = Map::new();
    m.insert("id".into(), env.get("id").cloned().unwrap_or(Value::Null));
    m.insert("status".into(), json!("accepted"));
    m.insert(
        "timestamp".into(),
        env.get("ts").cloned().unwrap_or(Value::Null),
    );
    resp(200, Value::Object(m))
}

/// A §2.4 `capability_violation` error to the sender, logged as delivered with the reason.
fn send_violation(
    gw: &Gateway,
    st: &State,
    out: &mut Outbox,
    space_id: &str,
    pid: &str,
    msg_id: Option<&Value>,
    payload: Value,
) {
    let err = error_envelope(GATEWAY, json!([pid]), correlation_of(msg_id), payload);
    let meta = reason_meta("capability_violation", msg_id);
    error_to_sender(gw, st, out, space_id, pid, &err, &meta);
}

/// Send an error envelope back to the sender `pid`, logged as `delivered` with `meta`.
fn error_to_sender(
    gw: &Gateway,
    st: &State,
    out: &mut Outbox,
    space_id: &str,
    pid: &str,
    err: &Value,
    meta: &str,
) {
    let msg = Outgoing::new(err);
    send_one(gw, st, out, space_id, pid, &msg, Some(meta), pid);
}

/// Log metadata `{"reason":…,"source_envelope":…}` for an error sent back to a sender.
fn reason_meta(reason: &str, msg_id: Option<&Value>) -> String {
    let mut m = format!("{{\"reason\":{}", js(reason));
    if let Some(id) = msg_id.filter(|v| !v.is_null()) {
        m.push_str(",\"source_envelope\":");
        m.push_str(&id.to_string());
    }
    m.push('}');
    m
}
