//! Routing as one step: `route(ctx, state, inbound) -> effects`. An inbound item is a WebSocket
//! message of a connection (a join, an envelope, a stream data frame), an HTTP post on behalf of
//! a participant (§5.3) or a disconnect; the result updates the state and lists what is to be
//! sent, closed, answered and logged, which `effect::apply` does. Nothing here does I/O, so the
//! WebSocket pipeline of spec/gateway.md §3.1 and the HTTP one of §5.3 are tested without
//! sockets (`route/tests.rs`).
use super::effect::{Effect, Level, Outgoing, Record};
use super::emit::*;
use super::grants::*;
use super::identity;
use super::logs::{envelope_record, js};
use super::state::{Caps, Conn, Ctx, Endpoint, Joined, State};
use super::streams::*;
use super::virtual_participant;
use axum::extract::ws::Message;
use indexmap::IndexMap;
use mew_protocol::{self as protocol, bare_error, baseline, fill_in_owned, wrap_correlation};
use mew_space::config::lenient::GatewayConfig;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

#[cfg(test)]
mod tests;

const REGISTER_TEXT: &str =
    "system/register is reserved for the gateway. Use capability/grant instead.";

/// Per-connection routing context.
pub struct ConnCtx {
    pub conn: Arc<Conn>,
    pub joined: Option<Joined>,
    /// (R) fall-backs from the upgrade request (`?space=`, Bearer header).
    pub fallback_space: Option<String>,
    pub fallback_token: Option<String>,
}

/// One thing for the gateway to route.
pub enum Inbound<'a> {
    /// A WebSocket message on a connection (see `parse_ws`): a join, an envelope, a stream data
    /// frame, or something that does not parse or validate. A join updates `cx.joined`.
    Ws { cx: &'a mut ConnCtx, msg: WsInbound },
    /// `POST /participants/{pid}/messages[?space=]` with its `Authorization` header.
    Http {
        pid: &'a str,
        space: Option<&'a str>,
        auth: Option<&'a str>,
        body: Body,
    },
    /// The connection closed: its registration (if still its own) goes, the others are told.
    Disconnect { cx: &'a mut ConnCtx },
}

/// Parsed request body as the HTTP layer hands it over.
pub enum Body {
    Json(Value),
    /// A non-JSON content type: treated as `{}`.
    Empty,
}

/// Route one inbound item: update `st`, return what is to be done, in order. An HTTP post
/// always yields exactly one `Effect::Answer`.
pub fn route(ctx: &Ctx, st: &mut State, inbound: Inbound<'_>) -> Vec<Effect> {
    let mut out = Vec::new();
    match inbound {
        Inbound::Ws { cx, msg } => ws_message(ctx, st, &mut out, cx, msg),
        Inbound::Http {
            pid,
            space,
            auth,
            body,
        } => {
            let (status, body) = http_post(ctx, st, &mut out, pid, space, auth, body);
            out.push(Effect::Answer { status, body });
        }
        Inbound::Disconnect { cx } => disconnect(st, &mut out, cx),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// WebSocket

fn reply(out: &mut Vec<Effect>, cx: &ConnCtx, text: String) {
    out.push(Effect::Reply {
        conn: cx.conn.clone(),
        text,
    });
}

/// `#<streamId>#<data>`: starts with `#` and has another `#` at index ≥ 1.
fn frame_stream_id(t: &str) -> Option<&str> {
    let rest = t.strip_prefix('#')?;
    rest.find('#').map(|i| &rest[..i])
}

/// A WebSocket data message, classified (§3.1 steps 1-4). Done before the state lock is
/// taken: parsing is the costly part of a big message.
pub enum WsInbound {
    /// `#<streamId>#<data>`, kept as it came (its opcode is relayed too).
    Frame {
        sid: String,
        msg: Message,
    },
    Join(Map<String, Value>),
    Envelope(Map<String, Value>),
    /// Not JSON, or not a valid message: the bare error to send back.
    Malformed(String),
}

/// Classify a text or binary message; None for control frames and valid non-objects.
pub fn parse_ws(msg: Message) -> Option<WsInbound> {
    let decoded: Cow<'_, str> = match &msg {
        Message::Text(t) => Cow::Borrowed(t.as_str()),
        Message::Binary(b) => String::from_utf8_lossy(b),
        _ => return None,
    };
    // 1. stream data frame
    if let Some(sid) = frame_stream_id(&decoded) {
        let sid = sid.to_string();
        drop(decoded);
        return Some(WsInbound::Frame { sid, msg });
    }
    // 2. parse
    let value: Value = match serde_json::from_str(&decoded) {
        Ok(v) => v,
        Err(e) => {
            return Some(WsInbound::Malformed(bare_error(
                &e.to_string(),
                "PROCESSING_ERROR",
            )))
        }
    };
    // 3. validate
    if let Err(e) = protocol::validate(&value) {
        return Some(WsInbound::Malformed(bare_error(&e, "VALIDATION_ERROR")));
    }
    let Value::Object(obj) = value else {
        return None;
    };
    // 4. join
    let is_join = obj.get("type").and_then(Value::as_str) == Some("join")
        || obj.get("kind").and_then(Value::as_str) == Some("system/join");
    Some(if is_join {
        WsInbound::Join(obj)
    } else {
        WsInbound::Envelope(obj)
    })
}

fn ws_message(ctx: &Ctx, st: &mut State, out: &mut Vec<Effect>, cx: &mut ConnCtx, msg: WsInbound) {
    match msg {
        WsInbound::Frame { sid, msg } => {
            if let Some(j) = &cx.joined {
                stream_frame(st, out, &cx.conn, j, &sid, msg);
            }
        }
        WsInbound::Malformed(err) => reply(out, cx, err),
        WsInbound::Join(obj) => join(ctx, st, out, cx, &obj),
        WsInbound::Envelope(obj) => ws_envelope(ctx, st, out, cx, obj),
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

fn join(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
    cx: &mut ConnCtx,
    obj: &Map<String, Value>,
) {
    let payload = obj.get("payload");
    let field = |k: &str| str_of(obj.get(k)).or_else(|| str_of(payload.and_then(|p| p.get(k))));
    let claimed = field("participantId")
        // [R] the upstream interactive CLI sends `payload.participant`.
        .or_else(|| str_of(payload.and_then(|p| p.get("participant"))))
        .map(str::to_string);
    let space_id = field("space")
        .map(str::to_string)
        .or_else(|| cx.fallback_space.clone())
        .unwrap_or_else(|| ctx.default_space());
    let token = field("token")
        .map(str::to_string)
        .or_else(|| cx.fallback_token.clone());

    // A socket that joins again leaves its previous identity first.
    if cx.joined.is_some() {
        disconnect(st, out, cx);
    }

    let (claimed, authenticated) =
        match identity::decide_join(ctx, st, claimed.as_deref(), token.as_deref()) {
            identity::Decision::Accept { id, authenticated } => (id, authenticated),
            identity::Decision::Refuse { reason, message } => {
                refuse_join(
                    ctx,
                    out,
                    cx,
                    obj,
                    &space_id,
                    claimed.as_deref(),
                    reason,
                    &message,
                );
                return;
            }
        };
    let id = claimed.unwrap_or_else(|| {
        // `participant-<unix ms>`, moved past ids already held (in any space) or configured.
        let mut ms = protocol::now_ms();
        while identity::protection(ctx, st, &format!("participant-{ms}")).is_some() {
            ms += 1;
        }
        format!("participant-{ms}")
    });
    let previous = st
        .space_mut(&space_id)
        .registry
        .insert(id.as_str().into(), Endpoint::Socket(cx.conn.clone()));
    if ctx.switches.envelope_history {
        let id_json = obj.get("id").filter(|v| !v.is_null()).map(Value::to_string);
        out.push(Effect::Log(Record::Envelope(envelope_record(
            "received",
            id_json.as_deref(),
            &redacted(obj),
            &id,
            &space_id,
            "inbound",
            "websocket",
            "",
        ))));
    }
    // Only accepted joins get here: the token is the id's own, or an anonymous session's.
    match &token {
        Some(t) => st.participant_tokens.insert(id.clone(), t.clone()),
        None => st.participant_tokens.remove(&id),
    };
    let caps = Caps::new(baseline(&resolve_static(ctx, st, &id, authenticated)));
    let you_caps = Value::Array(caps.list.clone());
    let presence_caps = you_caps.clone();
    st.static_caps.insert(id.clone(), caps);

    let w = Outgoing::new(&welcome(st, &space_id, &id, you_caps));
    let welcome_meta = "{\"type\":\"system/welcome\"}".to_string();
    send_one(st, out, &space_id, &id, w, Some(welcome_meta), &id);
    let p = Outgoing::new(&presence(
        "join",
        json!({"id": id, "capabilities": presence_caps}),
    ));
    let meta = format!(
        "{{\"type\":\"system/presence\",\"source_participant\":{}}}",
        js(&id)
    );
    send_all(st, out, &space_id, p, meta, Some(&id));
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
        out.push(Effect::Close {
            conn: old,
            last: err.to_string(),
            code: 1000,
            reason: "replaced by a newer connection",
        });
        out.push(Effect::Console(
            Level::Warn,
            format!("Participant {id} joined again: closing its previous connection"),
        ));
    }
    out.push(Effect::Console(
        Level::Info,
        format!("Participant {id} joined space {space_id}"),
    ));
    cx.joined = Some(Joined {
        space: space_id,
        id,
    });
}

/// A refused join (mew, §4.2): `system/error` with the reason, a `rejected` record, a console
/// warning (never the token), then the socket is closed.
#[allow(clippy::too_many_arguments)]
fn refuse_join(
    ctx: &Ctx,
    out: &mut Vec<Effect>,
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
    if ctx.switches.envelope_history {
        let id_json = msg_id.filter(|v| !v.is_null()).map(Value::to_string);
        out.push(Effect::Log(Record::Envelope(envelope_record(
            "rejected",
            id_json.as_deref(),
            &redacted(obj),
            claimed.unwrap_or(""),
            space_id,
            "inbound",
            "websocket",
            &format!("{{\"reason\":\"join_refused\",\"detail\":{}}}", js(reason)),
        ))));
    }
    out.push(Effect::Console(
        Level::Warn,
        format!("Refused a join in space {space_id}: {message}"),
    ));
    out.push(Effect::Close {
        conn: cx.conn.clone(),
        last: err.to_string(),
        code: 1008,
        reason: "join refused",
    });
}

/// §4.2 as mew applies it: `identity` has already checked that an authenticated join's token
/// is the id's own, so the id's own list applies; anonymous joins get the defaults.
fn resolve_static(ctx: &Ctx, st: &State, id: &str, authenticated: bool) -> Vec<Value> {
    let defaults = ctx.default_capabilities();
    if authenticated {
        if let Some(c) = st.static_caps.get(id).or_else(|| st.invited.get(id)) {
            return c.list.clone();
        }
        if let Some(pc) = ctx.participant_config(id) {
            return ctx.config_capabilities(pc);
        }
    }
    defaults
        .cloned()
        .unwrap_or_else(|| vec![json!({"kind":"chat"})])
}

/// Forget a closing socket's registration (§1.6) and tell the others.
fn disconnect(st: &mut State, out: &mut Vec<Effect>, cx: &mut ConnCtx) {
    let Some(j) = cx.joined.take() else {
        return;
    };
    let still_ours = st
        .spaces
        .get(&j.space)
        .and_then(|s| s.registry.get(j.id.as_str()))
        .is_some_and(|ep| matches!(ep, Endpoint::Socket(c) if c.serial == cx.conn.serial));
    if !still_ours {
        return;
    }
    leave(st, out, &j.space, &j.id);
}

/// Take `id` out of `space_id` and tell the others: its socket closed, or a reload removed it
/// from the configuration.
fn leave(st: &mut State, out: &mut Vec<Effect>, space_id: &str, id: &str) {
    let space = st.space_mut(space_id);
    space.registry.shift_remove(id);
    for s in space.streams.values_mut() {
        if s.owner != id {
            s.writers.retain(|w| w != id);
        }
    }
    // Tokens, capabilities and grants are kept per id, not per space: while the same id is
    // still joined in another space they stay (dropping them let a late close of one socket
    // strip the id's token, and a third join under it was then refused).
    if !st.spaces.values().any(|s| s.registry.contains_key(id)) {
        st.participant_tokens.remove(id);
        st.static_caps.remove(id);
        st.dynamic.remove(id);
    }
    let p = Outgoing::new(&presence("leave", json!({"id": id})));
    let meta = format!(
        "{{\"type\":\"system/presence\",\"source_participant\":{},\"reason\":\"disconnect\"}}",
        js(id)
    );
    send_all(st, out, space_id, p, meta, None);
    out.push(Effect::Console(
        Level::Info,
        format!("Participant {id} left"),
    ));
}

/// A config participant with a token (at start and when a reload adds it): its HTTP
/// credential, its static capabilities, and its virtual connection when it has an
/// auto-connecting `output_log`.
pub fn register_config_participant(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
    space_id: &str,
    id: &str,
) {
    let Some(pc) = ctx.participant_config(id) else {
        return;
    };
    let Some(first) = pc.tokens.first() else {
        return;
    };
    st.participant_tokens.insert(id.to_string(), first.clone());
    st.static_caps.insert(
        id.to_string(),
        Caps::new(baseline(&ctx.config_capabilities(pc))),
    );
    if pc.io.as_deref() == Some("http") {
        out.push(Effect::Console(
            Level::Info,
            format!("Registered HTTP participant: {id}"),
        ));
    }
    if pc.output_log.is_some() && pc.auto_connect {
        virtual_participant::connect(ctx, st, out, space_id, id);
    }
}

/// A reloaded configuration (`ctx` carries the new one, `old` the one it replaces): removed
/// participants are disconnected with a presence leave, participants whose capabilities
/// changed get them for their next envelope and a grant-update welcome, new ones are
/// registered like at start. `tokens` are the token-file tokens of the new config's participants.
pub fn reconfigure(
    ctx: &Ctx,
    old: Option<&GatewayConfig>,
    st: &mut State,
    tokens: IndexMap<String, String>,
) -> Vec<Effect> {
    let mut out = Vec::new();
    let Some(new) = ctx.config else {
        return out;
    };
    let space_id = ctx.default_space();
    let old_participants = old.map(|c| &c.participants);
    for id in old_participants.into_iter().flat_map(|p| p.keys()) {
        if new.participants.contains_key(id) {
            continue;
        }
        let spaces = spaces_holding(st, id);
        for sp in spaces {
            if let Some(Endpoint::Socket(conn)) = st
                .spaces
                .get(&sp)
                .and_then(|s| s.registry.get(id.as_str()))
                .cloned()
            {
                let err = error_envelope(
                    GATEWAY,
                    json!([id]),
                    None,
                    json!({"error": "removed", "message": format!("{id} is no longer a participant of this space")}),
                );
                out.push(Effect::Close {
                    conn,
                    last: err.to_string(),
                    code: 1008,
                    reason: "removed from the space configuration",
                });
            }
            leave(st, &mut out, &sp, id);
        }
        st.token_map.shift_remove(id);
        st.participant_tokens.remove(id);
        st.static_caps.remove(id);
        st.dynamic.remove(id);
    }
    st.token_map.extend(tokens);
    let old_defaults = old.and_then(|c| c.default_capabilities.clone());
    for (id, pc) in &new.participants {
        let Some(before) = old_participants.and_then(|p| p.get(id)) else {
            register_config_participant(ctx, st, &mut out, &space_id, id);
            continue;
        };
        if let Some(first) = pc.tokens.first().filter(|_| pc.tokens != before.tokens) {
            st.participant_tokens.insert(id.clone(), first.clone());
        }
        let list = ctx.config_capabilities(pc);
        let was = before
            .capabilities
            .clone()
            .or(old_defaults.clone())
            .unwrap_or_default();
        // Only an id that holds static capabilities (joined, or registered by token) has any
        // to replace; the others resolve theirs from the new config when they join.
        if list == was || !st.static_caps.contains_key(id) {
            continue;
        }
        st.static_caps
            .insert(id.clone(), Caps::new(baseline(&list)));
        let spaces = spaces_holding(st, id);
        for sp in spaces {
            let upd = Outgoing::new(&welcome_update(st, &sp, id));
            let meta = "{\"type\":\"system/welcome\",\"reason\":\"config_reload\"}".to_string();
            send_one(st, &mut out, &sp, id, upd, Some(meta), id);
        }
        out.push(Effect::Console(
            Level::Info,
            format!("Capabilities of {id} changed by a configuration reload"),
        ));
    }
    out
}

fn ws_envelope(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
    cx: &mut ConnCtx,
    obj: Map<String, Value>,
) {
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
        reply(out, cx, err.to_string());
        return;
    };
    let (space_id, pid) = (j.space.as_str(), j.id.as_str());
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
        error_to_sender(st, out, space_id, pid, &err, meta);
        return;
    }
    // 6. capability check
    let attempt = Attempt {
        space: space_id,
        pid,
        kind,
        payload: obj.get("payload"),
        envelope_id: msg_id,
        corr: obj.get("correlation_id"),
        source: "websocket",
        transport: "websocket",
    };
    if !check(ctx, st, out, attempt) {
        let mut p = Map::new();
        p.insert("error".into(), json!("capability_violation"));
        if let Some(k) = kind {
            p.insert("attempted_kind".into(), json!(k));
        }
        p.insert("your_capabilities".into(), st.static_value(pid));
        send_violation(st, out, space_id, pid, msg_id, Value::Object(p));
        return;
    }
    // 7. grant / revoke: a second, synthetic check, then apply (they are relayed too)
    if let Some(op @ ("capability/grant" | "capability/revoke")) = kind {
        let attempt = Attempt {
            space: space_id,
            pid,
            kind: Some(op),
            payload: None,
            envelope_id: None,
            corr: None,
            source: op,
            transport: "websocket",
        };
        if !check(ctx, st, out, attempt) {
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
            send_violation(st, out, space_id, pid, msg_id, payload);
            return;
        }
        if op == "capability/grant" {
            apply_grant(ctx, st, out, space_id, pid, &obj, true);
        } else {
            apply_revoke(st, &obj);
        }
    }
    // 8. invite
    if kind == Some("space/invite") {
        match invite(ctx, st, out, space_id, pid, &obj, true) {
            InviteOutcome::Invalid(message) => {
                let err = error_envelope(
                    GATEWAY,
                    json!([pid]),
                    correlation_of(msg_id),
                    json!({"error":"invalid_request","message":message}),
                );
                reply(out, cx, err.to_string());
            }
            InviteOutcome::Exists(_) | InviteOutcome::Created { .. } => {}
        }
        return;
    }
    // 9. build, log `received`, wrap correlation_id
    let mut env = fill_in_owned(obj, pid, "msg-");
    let mut outgoing = Outgoing::from_map(&env);
    log_received(ctx, out, &outgoing, pid, space_id, "websocket");
    if wrap_correlation(&mut env) {
        outgoing = Outgoing::from_map(&env);
    }
    match kind_owned.as_deref() {
        // 10. stream/request → stream/open, then the request is relayed too
        Some("stream/request") => {
            if let Err(err) = stream_request(st, out, space_id, pid, &env) {
                reply(out, cx, err.to_string());
                return;
            }
        }
        // 11. stream/close
        Some("stream/close") => stream_close(st, space_id, &env),
        // 12. stream ownership
        Some(k @ ("stream/grant-write" | "stream/revoke-write" | "stream/transfer-ownership")) => {
            if let Err((_, err)) = s2w(st, out, space_id, pid, k, &env) {
                let code = err["payload"]["error"].as_str().unwrap_or("").to_string();
                let meta = source_meta(&code);
                error_to_sender(st, out, space_id, pid, &err, meta);
            }
            return;
        }
        _ => {}
    }
    // 13. relay to everyone, sender included
    debug_relayed(ctx, out, kind_owned.as_deref(), &outgoing, pid, space_id);
    send_all(st, out, space_id, outgoing, meta_source(pid), None);
}

/// The debug line for a relayed message.
fn debug_relayed(
    ctx: &Ctx,
    out: &mut Vec<Effect>,
    kind: Option<&str>,
    msg: &Outgoing,
    pid: &str,
    space_id: &str,
) {
    if ctx.debug {
        out.push(Effect::Console(
            Level::Debug,
            format!(
                "Relayed {} {} from {pid} in space {space_id}",
                kind.unwrap_or("(no kind)"),
                msg.id_json
            ),
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP (§5.3)

/// `POST /participants/{id}/messages`: returns (status, JSON body).
fn http_post(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
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
    let pc = ctx.participant_config(pid);
    if !st.static_caps.contains_key(pid) {
        if let Some(c) = st.invited.get(pid).cloned() {
            st.static_caps.insert(pid.to_string(), c);
        } else if let Some(pc) = pc {
            let list = ctx.config_capabilities(pc);
            st.static_caps
                .insert(pid.to_string(), Caps::new(baseline(&list)));
        }
    }
    // 4. space
    let space_id = match space_q {
        Some(s) if !s.is_empty() && s != "default" => s.to_string(),
        _ => ctx.default_space(),
    };
    st.space_mut(&space_id);
    // 5. lazy auto-connect of an output_log participant
    if pc.is_some_and(|p| p.output_log.is_some())
        && !st
            .spaces
            .get(&space_id)
            .is_some_and(|s| s.registry.contains_key(pid))
    {
        virtual_participant::connect(ctx, st, out, &space_id, pid);
    }
    http_route(ctx, st, out, &space_id, pid, body)
}

fn http_route(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
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
    log_received(ctx, out, &outgoing, pid, space_id, "http");
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
        error_to_sender(st, out, space_id, pid, &err, meta);
        return resp(
            400,
            json!({"error":"invalid_request","message":REGISTER_TEXT}),
        );
    }
    // 10. capability check
    let attempt = Attempt {
        space: space_id,
        pid,
        kind: Some(&kind),
        payload: env.get("payload"),
        envelope_id: env_id.as_ref(),
        corr: env.get("correlation_id"),
        source: "http_api",
        transport: "http",
    };
    let allowed = check(ctx, st, out, attempt);
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
        error_to_sender(st, out, space_id, pid, &err, meta);
        if ctx.switches.envelope_history {
            let id = outgoing.id_json.as_str();
            out.push(Effect::Log(Record::Envelope(envelope_record(
                "rejected",
                (!id.is_empty()).then_some(id),
                &outgoing.text,
                pid,
                space_id,
                "inbound",
                "http",
                "{\"reason\":\"capability_violation\"}",
            ))));
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
        "capability/grant" => apply_grant(ctx, st, out, space_id, pid, &env, false),
        "capability/revoke" => apply_revoke(st, &env),
        // 12. invite
        "space/invite" => {
            return match invite(ctx, st, out, space_id, pid, &env, false) {
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
                    let port = ctx.port;
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
            return match stream_request(st, out, space_id, pid, &env) {
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
            return match s2w(st, out, space_id, pid, &kind, &env) {
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
    debug_relayed(ctx, out, Some(&kind), &outgoing, pid, space_id);
    send_all(st, out, space_id, outgoing, meta_source(pid), None);
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
    st: &State,
    out: &mut Vec<Effect>,
    space_id: &str,
    pid: &str,
    msg_id: Option<&Value>,
    payload: Value,
) {
    let err = error_envelope(GATEWAY, json!([pid]), correlation_of(msg_id), payload);
    let meta = reason_meta("capability_violation", msg_id);
    error_to_sender(st, out, space_id, pid, &err, meta);
}

/// Send an error envelope back to the sender `pid`, logged as `delivered` with `meta`.
fn error_to_sender(
    st: &State,
    out: &mut Vec<Effect>,
    space_id: &str,
    pid: &str,
    err: &Value,
    meta: String,
) {
    send_one(st, out, space_id, pid, Outgoing::new(err), Some(meta), pid);
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

/// The spaces in which `id` is registered right now.
fn spaces_holding(st: &State, id: &str) -> Vec<String> {
    st.spaces
        .iter()
        .filter(|(_, s)| s.registry.contains_key(id))
        .map(|(k, _)| k.clone())
        .collect()
}
