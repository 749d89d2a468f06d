//! Capability grants, revokes and invites (spec/gateway.md §3.4-§3.6): checklist rows 32-38.
mod common;
use common::gateway::*;
use serde_json::{json, Value};
use std::time::Duration;

const YAML: &str = r#"
space:
  id: g
participants:
  admin:
    tokens: [admin-token]
    capabilities:
      - kind: "*"
    output_log: logs/admin.jsonl
  test-agent:
    tokens: [agent-token]
    capabilities:
      - kind: chat
      - kind: capability/grant-ack
  weak:
    tokens: [weak-token]
    capabilities:
      - kind: chat
      - kind: capability/revoke
  observer:
    tokens: [observer-token]
"#;

fn write_req(name: &str, id: &str) -> Value {
    json!({"id":id,"kind":"mcp/request","payload":{"method":"tools/call","params":{"name":name}}})
}

#[tokio::test]
async fn grant_then_revoke_by_id_and_by_capability() {
    let gw = TestGateway::start(YAML);
    let (mut admin, _) = gw.join("admin", "g", "admin-token").await;
    let (mut agent, _) = gw.join("test-agent", "g", "agent-token").await;
    let _ = admin.recv_kind("system/presence").await;
    // denied before the grant
    agent.send(write_req("write_file", "w0")).await;
    assert_eq!(
        agent.recv_kind("system/error").await["payload"]["error"],
        "capability_violation"
    );
    let cap = json!({"kind":"mcp/request","payload":{"method":"tools/call","params":{"name":"write_file"}}});
    admin
        .send(json!({"id":"grant-5","kind":"capability/grant","to":["test-agent"],"payload":{"recipient":"test-agent","capabilities":[cap],"reason":"trusted"}}))
        .await;
    // row 32: grant-update welcome first, then the relayed grant
    let upd = agent.recv().await;
    assert_eq!(upd["kind"], "system/welcome");
    assert!(upd["id"].as_str().unwrap().starts_with("welcome-update-"));
    assert!(upd["payload"].get("active_streams").is_none());
    assert_eq!(
        upd["payload"]["you"]["capabilities"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &cap
    );
    let g = agent.recv().await;
    assert_eq!(
        (g["kind"].as_str(), g["id"].as_str()),
        (Some("capability/grant"), Some("grant-5"))
    );
    assert_eq!(admin.recv_kind("capability/grant").await["id"], "grant-5");
    // row 35: no forged ack; the recipient's own ack is relayed and logged
    admin
        .expect_none(Duration::from_millis(150), |t| t.contains("grant-ack"))
        .await;
    agent.send(json!({"id":"ack-1","kind":"capability/grant-ack","correlation_id":"grant-5","payload":{"status":"accepted"}})).await;
    let ack = admin.recv_kind("capability/grant-ack").await;
    assert_eq!(ack["from"], "test-agent");
    let env = gw.log_path("envelope-history.jsonl");
    assert!(gw
        .wait_line(
            &env,
            r#""event":"received","id":"ack-1""#,
            Duration::from_millis(300)
        )
        .await
        .is_some());
    // allowed now, from the dynamic grant
    agent.send(write_req("write_file", "w1")).await;
    assert_eq!(agent.recv_kind("mcp/request").await["id"], "w1");
    let dec = gw.log_path("capability-decisions.jsonl");
    let line = gw
        .wait_line(&dec, r#""envelope_id":"w1""#, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(
        line.contains(r#""result":"allowed""#) && line.contains(r#""matched_source":"dynamic""#),
        "{line}"
    );
    // the synthetic check record for the grant exists, without envelope_id
    let synth = gw
        .wait_line(
            &dec,
            r#""source":"capability/grant""#,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert!(!synth.contains("envelope_id"), "{synth}");
    // row 34: revoke by grant id
    admin.send(json!({"id":"rv1","kind":"capability/revoke","payload":{"recipient":"test-agent","grant_id":"grant-5"}})).await;
    assert_eq!(agent.recv_kind("capability/revoke").await["id"], "rv1");
    agent.send(write_req("write_file", "w2")).await;
    assert_eq!(
        agent.recv_kind("system/error").await["correlation_id"],
        json!(["w2"])
    );
    // grant again, revoke by identical capability
    admin.send(json!({"id":"grant-6","kind":"capability/grant","payload":{"recipient":"test-agent","capabilities":[cap]}})).await;
    let _ = agent.recv_kind("capability/grant").await;
    agent.send(write_req("write_file", "w3")).await;
    assert_eq!(agent.recv_kind("mcp/request").await["id"], "w3");
    admin.send(json!({"id":"rv2","kind":"capability/revoke","payload":{"recipient":"test-agent","capabilities":[cap]}})).await;
    let _ = agent.recv_kind("capability/revoke").await;
    agent.send(write_req("write_file", "w4")).await;
    assert_eq!(
        agent.recv_kind("system/error").await["correlation_id"],
        json!(["w4"])
    );
}

#[tokio::test]
async fn grant_permission_and_http_grant() {
    let gw = TestGateway::start(YAML);
    let (mut weak, _) = gw.join("weak", "g", "weak-token").await;
    let (mut agent, _) = gw.join("test-agent", "g", "agent-token").await;
    let _ = weak.recv_kind("system/presence").await;
    // row 33: lacking capability/grant → violation, nothing stored
    weak.send(json!({"id":"bad-grant","kind":"capability/grant","payload":{"recipient":"test-agent","capabilities":[{"kind":"*"}]}})).await;
    let e = weak.recv_kind("system/error").await;
    assert_eq!(e["payload"]["attempted_kind"], "capability/grant");
    agent
        .expect_none(Duration::from_millis(150), |t| {
            t.contains("bad-grant") || t.contains("welcome-update")
        })
        .await;
    agent
        .send(json!({"id":"p1","kind":"mcp/proposal","payload":{}}))
        .await;
    assert_eq!(
        agent.recv_kind("system/error").await["correlation_id"],
        json!(["p1"])
    );
    // weak holds capability/revoke but the synthetic check uses the kind only → passes
    weak.send(json!({"id":"rv","kind":"capability/revoke","payload":{"recipient":"test-agent","grant_id":"none"}})).await;
    assert_eq!(agent.recv_kind("capability/revoke").await["id"], "rv");
    // HTTP grant by the admin (no synthetic check)
    let body = json!({"id":"hg","kind":"capability/grant","payload":{"recipient":"test-agent","capabilities":[{"kind":"mcp/proposal"}]}});
    let (s, b) = gw.post("admin", "admin-token", &body.to_string()).await;
    assert_eq!(s, 200, "{b}");
    let upd = agent.recv_kind("system/welcome").await;
    assert!(upd["id"].as_str().unwrap().starts_with("welcome-update-"));
    agent
        .send(json!({"id":"p2","kind":"mcp/proposal","payload":{}}))
        .await;
    assert_eq!(agent.recv_kind("mcp/proposal").await["id"], "p2");
    // [R] revokes apply over HTTP too (and are relayed)
    let body = json!({"id":"hr","kind":"capability/revoke","payload":{"recipient":"test-agent","capabilities":[{"kind":"mcp/proposal"}]}});
    let (s, _) = gw.post("admin", "admin-token", &body.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(agent.recv_kind("capability/revoke").await["id"], "hr");
    agent
        .send(json!({"id":"p3","kind":"mcp/proposal","payload":{}}))
        .await;
    assert_eq!(
        agent.recv_kind("system/error").await["correlation_id"],
        json!(["p3"])
    );
}

#[tokio::test]
async fn invites() {
    let gw = TestGateway::start(YAML);
    let (mut obs, _) = gw.join("observer", "g", "observer-token").await;
    let admin_file = gw.root().join("logs/admin.jsonl");
    // row 36: created over HTTP
    let body = json!({"id":"inv-9","kind":"space/invite","payload":{"participant_id":"new-agent","initial_capabilities":[{"kind":"mcp/proposal"},{"kind":"chat"}],"reason":"help"}});
    let (s, b) = gw.post("admin", "admin-token", &body.to_string()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "created");
    assert_eq!(b["participant_id"], "new-agent");
    assert!(b["id"].as_str().unwrap().starts_with("invite-ack-"));
    assert_eq!(b["connection_url"], format!("ws://localhost:{}/", gw.port));
    let token = b["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43);
    let ackline = gw
        .wait_line(&admin_file, "space/invite-ack", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(ackline.contains(&token) && ackline.contains(r#""correlation_id":["inv-9"]"#));
    let pres = obs.recv_kind("system/presence").await;
    assert_eq!(pres["payload"]["event"], "invited");
    assert_eq!(pres["payload"]["invited_by"], "admin");
    assert_eq!(pres["payload"]["participant"]["id"], "new-agent");
    assert!(
        !pres.to_string().contains(&token),
        "no one but the inviter sees the token"
    );
    let file = gw.mew_dir().join("tokens/new-agent.token");
    assert_eq!(std::fs::read_to_string(file).unwrap(), token);
    // row 37: the invitee works over HTTP with the invite's capabilities
    let (s, b) = gw
        .post(
            "new-agent",
            &token,
            r#"{"kind":"mcp/proposal","payload":{}}"#,
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("accepted")));
    let (s, _) = gw
        .post(
            "new-agent",
            &token,
            r#"{"kind":"mcp/request","payload":{"method":"x"}}"#,
        )
        .await;
    assert_eq!(s, 403);
    // and over WS
    let (_n, w) = gw.join("new-agent", "g", &token).await;
    assert_eq!(
        w["payload"]["you"]["capabilities"][0],
        json!({"kind":"mcp/proposal"})
    );
    // row 38: errors
    for (pid, status) in [("new-agent", 409), ("observer", 409)] {
        let body = json!({"kind":"space/invite","payload":{"participant_id":pid}});
        let (s, b) = gw.post("admin", "admin-token", &body.to_string()).await;
        assert_eq!(s, status);
        assert_eq!(
            b,
            json!({"status":"already_exists","participant_id":pid,"message":format!("Participant {pid} already exists")})
        );
    }
    for pid in ["../x", "a/b", "a\\b"] {
        let body = json!({"kind":"space/invite","payload":{"participant_id":pid}});
        let (s, b) = gw.post("admin", "admin-token", &body.to_string()).await;
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error":"invalid_request","message":"participant_id contains invalid characters"})
            )
        );
    }
    let (s, b) = gw
        .post("admin", "admin-token", r#"{"kind":"space/invite"}"#)
        .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error":"invalid_request","message":"space/invite requires participant_id in payload"})
        )
    );
    // WS invite: created ack only to the inviter; duplicate → already_exists ack
    let (mut admin, _) = gw.join("admin", "g", "admin-token").await;
    admin
        .send(json!({"id":"i2","kind":"space/invite","payload":{"participant_id":"second"}}))
        .await;
    let ack = admin.recv_kind("space/invite-ack").await;
    assert_eq!(ack["payload"]["status"], "created");
    let keys: Vec<&String> = ack.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "protocol",
            "id",
            "ts",
            "from",
            "to",
            "correlation_id",
            "kind",
            "payload"
        ]
    );
    admin
        .send(json!({"id":"i3","kind":"space/invite","payload":{"participant_id":"second"}}))
        .await;
    let dup = admin.recv_kind("space/invite-ack").await;
    assert_eq!(
        dup["payload"],
        json!({"status":"already_exists","participant_id":"second","error":"Participant second already exists in this space"})
    );
    admin
        .send(json!({"id":"i4","kind":"space/invite","payload":{}}))
        .await;
    let e = admin.recv_kind("system/error").await;
    assert_eq!(
        e["payload"]["message"],
        "space/invite requires participant_id in payload"
    );
    obs.expect_none(Duration::from_millis(150), |t| {
        t.contains("invite-ack") || t.contains("\"kind\":\"space/invite\"")
    })
    .await;
}
