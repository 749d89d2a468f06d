//! Capability grants and revokes (§3.4, §3.5) and invites (§3.6).
use super::effect::{Effect, Level, Outgoing};
use super::emit::*;
use super::logs::js;
use super::state::{Caps, Ctx, State};
use mew_protocol::{self as protocol, baseline, gen_id, iso_now, truthy};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Grants (§3.4, §3.5)

/// The connected participant a grant for logical name `recipient` applies to.
pub(super) fn resolve_recipient(
    ctx: &Ctx,
    st: &State,
    space_id: &str,
    recipient: &str,
) -> Option<String> {
    let space = st.spaces.get(space_id)?;
    let token = ctx
        .participant_config(recipient)
        .and_then(|p| p.tokens.first().cloned())
        .or_else(|| st.token_map.get(recipient).cloned());
    if let Some(token) = token {
        let hit = space
            .registry
            .keys()
            .find(|id| st.participant_tokens.get(&***id) == Some(&token));
        if let Some(id) = hit {
            return Some(id.to_string());
        }
    }
    // [R] fall back to a participant whose id is the recipient name.
    space
        .registry
        .contains_key(recipient)
        .then(|| recipient.to_string())
}

pub(super) fn apply_grant(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
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
    let Some(target) = resolve_recipient(ctx, st, space_id, recipient) else {
        out.push(Effect::Console(
            Level::Error,
            format!("Cannot apply capability grant: recipient {recipient} is not connected"),
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
    send_one(st, out, space_id, &target, upd, Some(meta), log_as);
    out.push(Effect::Console(
        Level::Info,
        format!("Granted capabilities to {target} (requested by {sender})"),
    ));
}

pub(super) fn apply_revoke(st: &mut State, obj: &Map<String, Value>) {
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

pub(super) enum InviteOutcome {
    Invalid(&'static str),
    Exists(String),
    Created {
        ack_id: String,
        id: String,
        token: String,
    },
}

pub(super) fn invite_ack(inviter: &str, corr: Option<Value>, payload: Value) -> Value {
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

pub(super) fn invite(
    ctx: &Ctx,
    st: &mut State,
    out: &mut Vec<Effect>,
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
    if ctx.participant_config(new_id).is_some() || st.token_map.contains_key(new_id) {
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
        let meta = via_ws.then_some(meta);
        send_one(st, out, space_id, inviter, ack, meta, inviter);
        return InviteOutcome::Exists(new_id.to_string());
    }
    let token = mew_space::tokens::generate_token();
    out.push(Effect::SaveToken {
        id: new_id.to_string(),
        token: token.clone(),
    });
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

    let port = ctx.port;
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
    send_one(st, out, space_id, inviter, ack, Some(meta), inviter);

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
    send_all(st, out, space_id, pres, meta, Some(inviter));
    out.push(Effect::Console(
        Level::Info,
        format!("{inviter} invited participant {new_id}"),
    ));
    InviteOutcome::Created {
        ack_id: ack_value["id"].as_str().unwrap_or("").to_string(),
        id: new_id.to_string(),
        token,
    }
}
