//! SIGHUP re-reads space.yaml (what `mew space up` sends when only participants, capabilities
//! or tokens changed): nobody connected is dropped but the removed.
mod common;
use common::gateway::*;
use serde_json::{json, Value};
use std::time::Duration;

const BEFORE: &str = r#"
space:
  id: r
participants:
  alice:
    tokens: [alice-token]
    capabilities:
      - kind: chat
  bob:
    tokens: [bob-token]
    capabilities:
      - kind: chat
  carol:
    tokens: [carol-token]
    capabilities:
      - kind: chat
"#;

// bob removed; alice may send mcp/request but no longer chat; dave is new.
const AFTER: &str = r#"
space:
  id: r
participants:
  alice:
    tokens: [alice-token]
    capabilities:
      - kind: mcp/request
  carol:
    tokens: [carol-token]
    capabilities:
      - kind: chat
  dave:
    tokens: [dave-token]
    capabilities:
      - kind: chat
"#;

fn sighup(gw: &TestGateway) {
    unsafe {
        libc::kill(gw.child.id() as i32, libc::SIGHUP);
    }
}

async fn health(gw: &TestGateway) -> Value {
    let (status, body) = gw.http("GET", "/health", &[], "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn mcp() -> Value {
    json!({"id":"m1","kind":"mcp/request","to":["carol"],"payload":{"method":"tools/list"}})
}

fn chat(id: &str) -> Value {
    json!({"id":id,"kind":"chat","payload":{"text":"hi"}})
}

/// Whether `ws` is told it may not send (a `capability_violation` error) within a short wait.
async fn denied(ws: &mut Ws) -> bool {
    match tokio::time::timeout(
        Duration::from_secs(2),
        ws.recv_matching(|v| v["kind"] == "system/error"),
    )
    .await
    {
        Ok(v) => v["payload"]["error"] == "capability_violation",
        Err(_) => false,
    }
}

#[tokio::test]
async fn sighup_removes_changes_and_adds_participants_without_dropping_others() {
    let gw = TestGateway::start(BEFORE);
    let (mut alice, _) = gw.join("alice", "r", "alice-token").await;
    let (mut bob, _) = gw.join("bob", "r", "bob-token").await;
    let (mut carol, _) = gw.join("carol", "r", "carol-token").await;
    alice.send(mcp()).await;
    assert!(denied(&mut alice).await, "mcp/request is denied before");
    let h = health(&gw).await;
    assert_eq!(
        (h["reloads"].clone(), h["reload_error"].clone()),
        (json!(0), Value::Null)
    );

    std::fs::write(gw.mew_dir().join("space.yaml"), AFTER).unwrap();
    sighup(&gw);

    // alice: told her new capabilities, as a grant is announced (welcome-update)
    let upd = alice.recv_matching(|v| v["kind"] == "system/welcome").await;
    assert!(
        upd["id"].as_str().unwrap().starts_with("welcome-update-"),
        "{upd}"
    );
    assert!(upd["payload"]["you"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!({"kind":"mcp/request"})));
    // carol: sees bob leave
    let leave = carol
        .recv_matching(|v| v["kind"] == "system/presence" && v["payload"]["event"] == "leave")
        .await;
    assert_eq!(leave["payload"]["participant"]["id"], "bob");
    // bob: told why, then closed
    let err = bob.recv_matching(|v| v["kind"] == "system/error").await;
    assert_eq!(err["payload"]["error"], "removed", "{err}");
    assert!(
        bob.recv_raw(Duration::from_secs(5)).await.is_none(),
        "bob's socket is closed"
    );

    // alice's next envelopes use the new list, both ways; carol gets the request.
    alice.send(mcp()).await;
    let got = carol.recv_matching(|v| v["kind"] == "mcp/request").await;
    assert_eq!(got["from"], "alice");
    alice.send(chat("c1")).await;
    assert!(denied(&mut alice).await, "chat is denied after the reload");
    carol.send(chat("c2")).await;
    assert_eq!(
        alice.recv_matching(|v| v["kind"] == "chat").await["id"],
        "c2"
    );

    // dave, new, joins with his token; bob's token no longer works.
    let (_dave, welcome) = gw.join("dave", "r", "dave-token").await;
    assert_eq!(welcome["payload"]["you"]["id"], "dave");
    let joined = carol
        .recv_matching(|v| v["kind"] == "system/presence" && v["payload"]["event"] == "join")
        .await;
    assert_eq!(joined["payload"]["participant"]["id"], "dave");
    let mut bob2 = gw.ws().await;
    bob2.send(json!({"type":"join","participantId":"bob","space":"r","token":"bob-token"}))
        .await;
    let refused = bob2.recv_matching(|v| v["kind"] == "system/error").await;
    assert_eq!(refused["payload"]["error"], "join_refused", "{refused}");

    let h = health(&gw).await;
    assert_eq!(
        (h["reloads"].clone(), h["reload_error"].clone()),
        (json!(1), Value::Null)
    );
    assert_eq!(h["clients"], 3, "alice, carol and dave are connected: {h}");
}

#[tokio::test]
async fn a_reload_that_does_not_parse_keeps_the_old_configuration() {
    let gw = TestGateway::start(BEFORE);
    let (mut alice, _) = gw.join("alice", "r", "alice-token").await;
    std::fs::write(gw.mew_dir().join("space.yaml"), "participants: [unclosed\n").unwrap();
    sighup(&gw);
    let mut h = Value::Null;
    for _ in 0..100 {
        h = health(&gw).await;
        if !h["reload_error"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h["reload_error"].is_string(), "{h}");
    assert_eq!(h["reloads"], 0);
    // Still connected, still allowed to chat, bob still joins.
    let (mut bob, _) = gw.join("bob", "r", "bob-token").await;
    bob.send(chat("c1")).await;
    assert_eq!(
        alice.recv_matching(|v| v["kind"] == "chat").await["id"],
        "c1"
    );
}
