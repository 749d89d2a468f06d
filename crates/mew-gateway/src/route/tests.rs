//! The router without sockets: state + one inbound item in, effects out.
use super::*;
use crate::effect::{Delivery, Effect, Record};
use crate::logs::{Console, LogSink, LogSwitches};
use crate::state::{Gateway, Outbound};
use mew_space::config::lenient::GatewayConfig;
use std::path::Path;

const YAML: &str = r#"
space:
  id: s1
participants:
  alice:
    tokens: [ta]
    capabilities: [{kind: chat}]
  bob:
    tokens: [tb]
    capabilities:
      - {kind: chat}
      - {kind: capability/grant}
      - {kind: capability/revoke}
      - {kind: stream/request}
  carol:
    tokens: [tc]
    capabilities: [{kind: chat}, {kind: stream/request}]
"#;

/// A router's world: its state and config, and a source of connections (the gateway is only
/// used for `new_conn`; nothing is applied).
struct World {
    config: Option<GatewayConfig>,
    st: State,
    gw: Gateway,
    /// Kept so the connections' queues stay open.
    queues: Vec<Outbound>,
}

impl World {
    fn new() -> World {
        let console = Console::new("error", None);
        let off = LogSwitches {
            envelope_history: false,
            capability_decisions: false,
        };
        let logs = LogSink::start(Path::new("/nonexistent"), off, &console);
        let mut st = State::default();
        // As at start-up: the config participants' tokens (from their token files).
        for (id, token) in [("alice", "ta"), ("bob", "tb"), ("carol", "tc")] {
            st.token_map.insert(id.into(), token.into());
        }
        World {
            config: Some(GatewayConfig::parse(YAML).unwrap()),
            st,
            gw: Gateway::new(None, "/nonexistent".into(), logs, console),
            queues: Vec::new(),
        }
    }

    fn route(&mut self, inbound: Inbound<'_>) -> Vec<Effect> {
        let ctx = Ctx {
            config: self.config.as_ref(),
            switches: LogSwitches {
                envelope_history: true,
                capability_decisions: true,
            },
            port: 8080,
            debug: false,
        };
        route(&ctx, &mut self.st, inbound)
    }

    fn socket(&mut self) -> ConnCtx {
        let (conn, queue) = self.gw.new_conn();
        self.queues.push(queue);
        ConnCtx {
            conn,
            joined: None,
            fallback_space: None,
            fallback_token: None,
        }
    }

    fn ws(&mut self, cx: &mut ConnCtx, msg: Value) -> Vec<Effect> {
        self.ws_text(cx, &msg.to_string())
    }

    fn ws_text(&mut self, cx: &mut ConnCtx, text: &str) -> Vec<Effect> {
        let msg = parse_ws(Message::Text(text.into())).expect("a data message");
        self.route(Inbound::Ws { cx, msg })
    }

    /// A socket joined as `id` with `token`.
    fn joined(&mut self, id: &str, token: &str) -> ConnCtx {
        let mut cx = self.socket();
        let fx = self.ws(
            &mut cx,
            json!({"type": "join", "participantId": id, "token": token}),
        );
        assert!(cx.joined.is_some(), "{id} did not join: {}", describe(&fx));
        cx
    }

    fn http(&mut self, pid: &str, auth: Option<&str>, body: Value) -> Vec<Effect> {
        self.route(Inbound::Http {
            pid,
            space: None,
            auth,
            body: Body::Json(body),
        })
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// (recipient, message) of every envelope delivered, in order.
fn delivered(fx: &[Effect]) -> Vec<(String, Value)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver { to, msg, .. } => Some((to.to_string(), parse(&msg.msg.text))),
            _ => None,
        })
        .collect()
}

fn recipients(fx: &[Effect]) -> Vec<String> {
    delivered(fx).into_iter().map(|(to, _)| to).collect()
}

fn answer(fx: &[Effect]) -> (u16, Value) {
    let answers: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Answer { status, body } => Some((*status, parse(body))),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "one answer: {}", describe(fx));
    answers.into_iter().next().unwrap()
}

fn decisions(fx: &[Effect]) -> Vec<Value> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Log(Record::Decision(r)) => Some(parse(r)),
            _ => None,
        })
        .collect()
}

fn replies(fx: &[Effect]) -> Vec<Value> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Reply { text, .. } => Some(parse(text)),
            _ => None,
        })
        .collect()
}

fn describe(fx: &[Effect]) -> String {
    let names: Vec<String> = fx
        .iter()
        .map(|e| match e {
            Effect::Deliver { to, .. } => format!("deliver→{to}"),
            Effect::Frame { to, .. } => format!("frame→{to}"),
            Effect::Reply { text, .. } => format!("reply {text}"),
            Effect::Close { code, .. } => format!("close {code}"),
            Effect::Answer { status, .. } => format!("answer {status}"),
            Effect::Log(_) => "log".into(),
            Effect::SaveToken { .. } => "save token".into(),
            Effect::Console(_, l) => format!("console {l}"),
        })
        .collect();
    names.join(", ")
}

fn chat(text: &str) -> Value {
    json!({"protocol": "mew/v0.4", "id": "m1", "kind": "chat", "payload": {"text": text}})
}

#[test]
fn a_join_with_its_own_token_is_welcomed_and_announced_to_the_others() {
    let mut w = World::new();
    let _alice = w.joined("alice", "ta");
    let mut bob = w.socket();
    let fx = w.ws(
        &mut bob,
        json!({"type": "join", "participantId": "bob", "token": "tb"}),
    );
    assert_eq!(
        bob.joined,
        Some(Joined {
            space: "s1".into(),
            id: "bob".into()
        })
    );
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["bob", "alice"]);
    let (_, welcome) = &sent[0];
    assert_eq!(welcome["kind"], "system/welcome");
    assert_eq!(welcome["payload"]["you"]["id"], "bob");
    assert_eq!(welcome["payload"]["participants"][0]["id"], "alice");
    let (_, presence) = &sent[1];
    assert_eq!(presence["kind"], "system/presence");
    assert_eq!(presence["payload"]["event"], "join");
    assert_eq!(presence["payload"]["participant"]["id"], "bob");
    // The join is logged, its token hidden.
    let received: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Log(Record::Envelope(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1);
    assert!(received[0].contains("[redacted]") && !received[0].contains("\"tb\""));
    assert!(w.st.spaces["s1"].registry.contains_key("bob"));
}

#[test]
fn a_join_with_another_participants_token_is_refused_and_closed() {
    let mut w = World::new();
    let mut cx = w.socket();
    let fx = w.ws(
        &mut cx,
        json!({"id": "j1", "type": "join", "participantId": "alice", "token": "tb"}),
    );
    assert!(cx.joined.is_none());
    assert!(delivered(&fx).is_empty());
    let closes: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Close {
                conn,
                last,
                code,
                reason,
            } => Some((conn.serial, parse(last), *code, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(closes.len(), 1);
    let (serial, err, code, reason) = &closes[0];
    assert_eq!(*serial, cx.conn.serial);
    assert_eq!((*code, *reason), (1008, "join refused"));
    assert_eq!(err["kind"], "system/error");
    assert_eq!(err["payload"]["error"], "join_refused");
    assert_eq!(err["payload"]["reason"], "token_of_another_participant");
    assert_eq!(err["correlation_id"], json!(["j1"]));
    assert!(w.st.spaces.get("s1").is_none_or(|s| s.registry.is_empty()));
}

#[test]
fn an_allowed_message_goes_to_everyone_sharing_one_serialisation() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let _bob = w.joined("bob", "tb");
    let fx = w.ws(&mut alice, chat("hi"));
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["alice", "bob"]);
    assert!(sent
        .iter()
        .all(|(_, m)| m["from"] == "alice" && m["payload"]["text"] == "hi"));
    let shared: Vec<&Arc<Delivery>> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Deliver { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(
        Arc::ptr_eq(shared[0], shared[1]),
        "one copy for all receivers"
    );
    let d = decisions(&fx);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["result"], "allowed");
    assert_eq!(d[0]["matched_source"], "static");
    assert_eq!(d[0]["metadata"]["transport"], "websocket");
}

#[test]
fn an_addressed_message_is_still_relayed_to_all_and_errors_go_to_the_sender_only() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let _bob = w.joined("bob", "tb");
    let _carol = w.joined("carol", "tc");
    let mut addressed = chat("psst");
    addressed["to"] = json!(["bob"]);
    let fx = w.ws(&mut alice, addressed);
    assert_eq!(recipients(&fx), ["alice", "bob", "carol"]);
    let fx = w.ws(
        &mut alice,
        json!({"protocol": "mew/v0.4", "id": "r1", "kind": "system/register", "payload": {}}),
    );
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["alice"]);
    assert_eq!(sent[0].1["payload"]["error"], "invalid_request");
}

#[test]
fn a_denied_message_gets_a_capability_violation_back_and_is_not_relayed() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let _bob = w.joined("bob", "tb");
    let fx = w.ws(
        &mut alice,
        json!({"protocol": "mew/v0.4", "id": "q1", "kind": "mcp/request", "payload": {"method": "tools/list"}}),
    );
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["alice"]);
    let err = &sent[0].1;
    assert_eq!(err["kind"], "system/error");
    assert_eq!(err["from"], "system:gateway");
    assert_eq!(err["to"], json!(["alice"]));
    assert_eq!(err["correlation_id"], json!(["q1"]));
    assert_eq!(err["payload"]["error"], "capability_violation");
    assert_eq!(err["payload"]["attempted_kind"], "mcp/request");
    assert!(err["payload"]["your_capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!({"kind": "chat"})));
    let d = decisions(&fx);
    assert_eq!(d[0]["result"], "denied");
    assert_eq!(d[0]["required_capability"], "mcp/request");
}

#[test]
fn an_unjoined_socket_is_answered_to_null_and_heartbeats_are_ignored() {
    let mut w = World::new();
    let mut cx = w.socket();
    let fx = w.ws(&mut cx, chat("hello?"));
    assert!(delivered(&fx).is_empty());
    let r = replies(&fx);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["to"], json!([null]));
    assert_eq!(r[0]["payload"]["your_capabilities"], json!([]));
    let fx = w.ws(
        &mut cx,
        json!({"protocol": "mew/v0.4", "kind": "system/heartbeat", "payload": {}}),
    );
    assert!(fx.is_empty(), "{}", describe(&fx));
    // Not JSON: a bare error to the socket itself.
    let fx = w.ws_text(&mut cx, "{not json");
    assert_eq!(replies(&fx)[0]["payload"]["code"], "PROCESSING_ERROR");
}

#[test]
fn a_grant_allows_the_recipient_and_a_revoke_takes_it_back() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let mut bob = w.joined("bob", "tb");
    let grant = json!({
        "protocol": "mew/v0.4", "id": "g1", "kind": "capability/grant",
        "payload": {"recipient": "alice", "capabilities": [{"kind": "mcp/request"}]}
    });
    let fx = w.ws(&mut bob, grant);
    let sent = delivered(&fx);
    // The welcome update to alice, then the grant relayed to everyone.
    assert_eq!(recipients(&fx), ["alice", "alice", "bob"]);
    assert_eq!(sent[0].1["kind"], "system/welcome");
    assert!(sent[0].1["payload"]["you"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!({"kind": "mcp/request"})));
    assert_eq!(sent[1].1["kind"], "capability/grant");

    let request =
        json!({"protocol": "mew/v0.4", "kind": "mcp/request", "payload": {"method": "tools/list"}});
    let fx = w.ws(&mut alice, request.clone());
    assert!(!decisions(&fx).is_empty(), "{}", describe(&fx));
    assert_eq!(decisions(&fx)[0]["matched_source"], "dynamic");
    assert_eq!(recipients(&fx), ["alice", "bob"]);

    let revoke = json!({
        "protocol": "mew/v0.4", "kind": "capability/revoke",
        "payload": {"recipient": "alice", "grant_id": "g1"}
    });
    w.ws(&mut bob, revoke);
    let fx = w.ws(&mut alice, request);
    assert_eq!(decisions(&fx)[0]["result"], "denied");
    assert_eq!(recipients(&fx), ["alice"]);
}

#[test]
fn a_grant_without_the_grant_capability_is_refused() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let _bob = w.joined("bob", "tb");
    let fx = w.ws(
        &mut alice,
        json!({
            "protocol": "mew/v0.4", "kind": "capability/grant",
            "payload": {"recipient": "alice", "capabilities": [{"kind": "mcp/request"}]}
        }),
    );
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["alice"]);
    assert_eq!(sent[0].1["payload"]["error"], "capability_violation");
    assert!(!w.st.dynamic.contains_key("alice"));
}

#[test]
fn a_stream_is_opened_and_only_its_writers_frames_are_relayed() {
    let mut w = World::new();
    let mut alice = w.joined("alice", "ta");
    let mut bob = w.joined("bob", "tb");
    let fx = w.ws(
        &mut bob,
        json!({"protocol": "mew/v0.4", "id": "s1", "kind": "stream/request", "payload": {"direction": "upload"}}),
    );
    let sent = delivered(&fx);
    // stream/open to everyone, then the request itself relayed.
    assert_eq!(recipients(&fx), ["alice", "bob", "alice", "bob"]);
    assert_eq!(sent[0].1["kind"], "stream/open");
    assert_eq!(sent[0].1["payload"]["stream_id"], "stream-1");
    assert_eq!(sent[0].1["correlation_id"], json!(["s1"]));
    assert_eq!(w.st.spaces["s1"].streams["stream-1"].owner, "bob");

    let fx = w.ws_text(&mut bob, "#stream-1#chunk");
    let frames: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Frame { to, msg, .. } => {
                assert!(matches!(msg, Message::Text(t) if t.as_str() == "#stream-1#chunk"));
                Some(to.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(frames, ["alice", "bob"]);

    let fx = w.ws_text(&mut alice, "#stream-1#forged");
    assert!(!fx.iter().any(|e| matches!(e, Effect::Frame { .. })));
    assert_eq!(
        replies(&fx)[0]["payload"]["error"],
        "unauthorized_stream_write"
    );
}

#[test]
fn a_targeted_stream_reaches_only_its_targets() {
    let mut w = World::new();
    let _alice = w.joined("alice", "ta");
    let mut bob = w.joined("bob", "tb");
    let _carol = w.joined("carol", "tc");
    w.ws(
        &mut bob,
        json!({"protocol": "mew/v0.4", "kind": "stream/request", "payload": {"target": ["carol"]}}),
    );
    let fx = w.ws_text(&mut bob, "#stream-1#x");
    let to: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Frame { to, .. } => Some(to.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(to, ["carol"]);
    // A target that is not in the space: an error to the requester, no stream.
    let fx = w.ws(
        &mut bob,
        json!({"protocol": "mew/v0.4", "kind": "stream/request", "payload": {"target": ["nobody"]}}),
    );
    assert_eq!(replies(&fx)[0]["payload"]["error"], "target_not_found");
    assert_eq!(w.st.spaces["s1"].streams.len(), 1);
}

#[test]
fn an_http_post_is_checked_relayed_and_answered() {
    let mut w = World::new();
    let _bob = w.joined("bob", "tb");
    let fx = w.http("alice", Some("Bearer ta"), chat("from http"));
    let (status, body) = answer(&fx);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["id"], "m1");
    // alice is not connected: only bob receives it.
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["bob"]);
    assert_eq!(sent[0].1["from"], "alice");
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Log(Record::Received(r)) if r.transport == "http")));
    assert_eq!(decisions(&fx)[0]["metadata"]["source"], "http_api");

    let fx = w.http(
        "alice",
        Some("Bearer ta"),
        json!({"kind": "mcp/request", "payload": {}}),
    );
    assert_eq!(answer(&fx).0, 403);
    assert_eq!(answer(&fx).1["error"], "capability_violation");
    assert!(delivered(&fx).is_empty());
}

#[test]
fn an_http_post_needs_the_participants_own_token() {
    let mut w = World::new();
    let fx = w.http("alice", None, chat("x"));
    assert_eq!(answer(&fx).0, 401);
    let fx = w.http("alice", Some("Bearer tb"), chat("x"));
    assert_eq!(
        answer(&fx),
        (403, json!({"error": "Invalid token for participant"}))
    );
    let fx = w.http("alice", Some("Bearer ta"), json!({"payload": {}}));
    assert_eq!(
        answer(&fx),
        (400, json!({"error": "Message kind is required"}))
    );
}

#[test]
fn a_disconnect_forgets_the_participant_and_announces_the_leave() {
    let mut w = World::new();
    let _alice = w.joined("alice", "ta");
    let mut bob = w.joined("bob", "tb");
    w.st.dynamic.entry("bob".into()).or_default();
    let fx = w.route(Inbound::Disconnect { cx: &mut bob });
    let sent = delivered(&fx);
    assert_eq!(recipients(&fx), ["alice"]);
    assert_eq!(sent[0].1["payload"]["event"], "leave");
    assert_eq!(sent[0].1["payload"]["participant"]["id"], "bob");
    assert!(bob.joined.is_none());
    assert!(!w.st.spaces["s1"].registry.contains_key("bob"));
    assert!(!w.st.static_caps.contains_key("bob") && !w.st.dynamic.contains_key("bob"));
    // Already gone: nothing more.
    assert!(w.route(Inbound::Disconnect { cx: &mut bob }).is_empty());
}

#[test]
fn a_second_connection_replaces_the_first_whose_disconnect_then_changes_nothing() {
    let mut w = World::new();
    let mut first = w.joined("alice", "ta");
    let mut second = w.socket();
    let fx = w.ws(
        &mut second,
        json!({"type": "join", "participantId": "alice", "token": "ta"}),
    );
    let closed: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Close { conn, code, .. } => Some((conn.serial, *code)),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [(first.conn.serial, 1000)]);
    let fx = w.route(Inbound::Disconnect { cx: &mut first });
    assert!(delivered(&fx).is_empty(), "{}", describe(&fx));
    assert!(w.st.spaces["s1"].registry.contains_key("alice"));
}
