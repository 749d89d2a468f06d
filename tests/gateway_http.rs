//! HTTP API (spec/gateway.md §5) and virtual participants (§7.5): checklist rows 18, 22-27.
mod common;
use common::gateway::*;
use serde_json::{json, Value};
use std::time::Duration;

const YAML: &str = r#"
space:
  id: web
  # Anonymous joins stand in for ad-hoc participants here (mew allows them only when asked).
  allow_anonymous_joins: true
participants:
  test-client:
    tokens: [test-token]
    capabilities:
      - kind: chat
      - kind: system/*
    output_log: ./logs/test-client.jsonl
    auto_connect: true
  limited-agent:
    tokens: [limited-token]
    capabilities:
      - kind: chat
  lazy:
    tokens: [lazy-token]
    capabilities:
      - kind: chat
    output_log: logs/lazy.jsonl
  fileonly:
    capabilities:
      - kind: chat
defaults:
  capabilities:
    - kind: "*"
"#;

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    TestGateway::lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).expect("compact JSON line"))
        .collect()
}

#[tokio::test]
async fn auth_and_body_errors() {
    let gw = TestGateway::start(YAML);
    let path = "/participants/test-client/messages";
    let ct = ("Content-Type", "application/json");
    let chat = r#"{"kind":"chat","payload":{"text":"x"}}"#;
    // 1. no / wrong header
    let (s, b) = gw.http("POST", path, &[ct], chat).await;
    assert_eq!(
        (s, b.as_str()),
        (
            401,
            r#"{"error":"Missing or invalid authorization header"}"#
        )
    );
    let (s, _) = gw
        .http("POST", path, &[ct, ("Authorization", "Basic abc")], chat)
        .await;
    assert_eq!(s, 401);
    // 2. wrong token, unknown id
    let (s, b) = gw.post("test-client", "nope", chat).await;
    assert_eq!(
        (s, b),
        (403, json!({"error":"Invalid token for participant"}))
    );
    let (s, _) = gw.post("ghost", "test-token", chat).await;
    assert_eq!(s, 403);
    // bad JSON before anything else
    for bad in ["{oops", r#"{"kind":"chat""#, "5", "\"str\""] {
        let (s, b) = gw.post("test-client", "test-token", bad).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(b, json!({"error":"invalid_json"}));
    }
    let (s, b) = gw.post("test-client", "test-token", "[]").await;
    assert_eq!(
        (s, b),
        (400, json!({"error":"Request body must be a JSON object"}))
    );
    for body in [
        "{}",
        r#"{"payload":{}}"#,
        r#"{"kind":"  "}"#,
        r#"{"kind":5}"#,
    ] {
        let (s, b) = gw.post("test-client", "test-token", body).await;
        assert_eq!(
            (s, b),
            (400, json!({"error":"Message kind is required"})),
            "{body}"
        );
    }
    // non-JSON content type → body {}
    let (s, b) = gw
        .http(
            "POST",
            path,
            &[
                ("Authorization", "Bearer test-token"),
                ("Content-Type", "text/plain"),
            ],
            chat,
        )
        .await;
    assert_eq!(
        (s, b.as_str()),
        (400, r#"{"error":"Message kind is required"}"#)
    );
    // body limit
    let big = format!(
        r#"{{"kind":"chat","payload":{{"text":"{}"}}}}"#,
        "a".repeat(110 * 1024)
    );
    let (s, _) = gw.post("test-client", "test-token", &big).await;
    assert_eq!(s, 413);
    // a trailing slash is tolerated
    let (s, _) = gw
        .http(
            "POST",
            "/participants/test-client/messages/",
            &[ct, ("Authorization", "Bearer test-token")],
            chat,
        )
        .await;
    assert_eq!(s, 200);
    // unknown routes
    assert_eq!(
        gw.http("GET", "/participants/x/messages", &[], "").await.0,
        404
    );
    assert_eq!(gw.http("POST", "/other", &[ct], "{}").await.0, 404);
}

#[tokio::test]
async fn accepted_post_reaches_everyone_and_output_log() {
    let gw = TestGateway::start(YAML);
    let out = gw.root().join("logs/test-client.jsonl");
    // row 26: start-up auto-connect writes a welcome
    let first = gw
        .wait_line(&out, "system/welcome", Duration::from_secs(2))
        .await
        .expect("welcome");
    let w: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(w["payload"]["you"]["id"], "test-client");
    assert_eq!(
        w["payload"]["you"]["capabilities"],
        json!([{"kind":"chat"},{"kind":"system/*"}])
    );
    let (mut a, welcome) = gw.join("watcher", "web", "").await;
    let roster = &welcome["payload"]["participants"];
    assert_eq!(roster[0]["id"], "test-client");
    // row 24: accepted, echoing the body id, long and non-ASCII text
    let text = format!("héllo ✓ {}", "z".repeat(10_000));
    let body = json!({"id":"h-1","kind":"chat","to":["watcher"],"payload":{"text":text},"correlation_id":"c1"}).to_string();
    let (s, b) = gw.post("test-client", "test-token", &body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], "h-1");
    assert_eq!(b["status"], "accepted");
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
    let m = a.recv_kind("chat").await;
    assert_eq!(m["from"], "test-client");
    assert_eq!(m["payload"]["text"], text);
    assert_eq!(m["correlation_id"], json!(["c1"]));
    let line = gw
        .wait_line(&out, r#""id":"h-1""#, Duration::from_secs(1))
        .await
        .expect("own message in file");
    assert!(
        line.starts_with(r#"{"protocol":"mew/v0.4","id":"h-1","ts":"#),
        "{line}"
    );
    // generated http- id
    let (s, b) = gw
        .post(
            "test-client",
            "test-token",
            r#"{"kind":"chat","payload":{"text":"x"}}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert!(b["id"].as_str().unwrap().starts_with("http-"));
    // the file holds only compact JSON lines: welcome, presence of watcher, then messages
    let lines = read_lines(&out);
    assert_eq!(lines[0]["kind"], "system/welcome");
    assert!(lines.iter().any(|l| l["kind"] == "system/presence"));
    // GET /participants
    let (s, b) = gw.http("GET", "/participants?space=web", &[], "").await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&b).unwrap();
    let ids: Vec<&str> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["test-client", "watcher"]);
    assert_eq!(v["participants"][1]["connected"], true);
    let (_, b) = gw.http("GET", "/participants", &[], "").await;
    assert!(b.contains("watcher"), "default → config space: {b}");
    let (_, b) = gw.http("GET", "/participants?space=none", &[], "").await;
    assert_eq!(b, r#"{"participants":[]}"#);
}

#[tokio::test]
async fn violation_register_and_lazy_connect() {
    let gw = TestGateway::start(YAML);
    let (mut a, _) = gw.join("watcher", "web", "").await;
    // row 25
    let (s, b) = gw
        .post(
            "limited-agent",
            "limited-token",
            r#"{"id":"v-1","kind":"mcp/proposal","payload":{}}"#,
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        json!({"error":"capability_violation","message":"Participant limited-agent lacks capability for mcp/proposal"})
    );
    let env = gw.log_path("envelope-history.jsonl");
    let line = gw
        .wait_line(&env, r#""event":"rejected""#, Duration::from_millis(200))
        .await
        .expect("rejected record");
    let re_ok = line.find(r#""id":"v-1""#).unwrap()
        < line.find(r#""participant":"limited-agent""#).unwrap()
        && line.find(r#""participant":"limited-agent""#).unwrap()
            < line.find(r#""reason":"capability_violation""#).unwrap();
    assert!(re_ok, "{line}");
    a.expect_none(Duration::from_millis(150), |t| t.contains("v-1"))
        .await;
    // row 18 (HTTP): exact 400 text and the error line in the sender's output file
    let (s, b) = gw
        .post(
            "test-client",
            "test-token",
            r#"{"id":"reg-1","kind":"system/register","payload":{}}"#,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error":"invalid_request","message":"system/register is reserved for the gateway. Use capability/grant instead."})
    );
    let out = gw.root().join("logs/test-client.jsonl");
    let line = gw
        .wait_line(&out, "system/register is reserved", Duration::from_secs(1))
        .await
        .expect("error in file");
    assert!(line.contains(r#""correlation_id":["reg-1"]"#), "{line}");
    // row 27: lazy auto-connect on first post (even a rejected one) with active_streams
    let lazy = gw.root().join("logs/lazy.jsonl");
    assert!(!lazy.exists());
    a.send(json!({"id":"sr","kind":"stream/request","to":["gateway"],"payload":{"direction":"upload","description":"d"}})).await;
    let open = a.recv_kind("stream/open").await;
    assert_eq!(open["payload"]["stream_id"], "stream-1");
    let (s, _) = gw
        .post(
            "lazy",
            "lazy-token",
            r#"{"kind":"mcp/proposal","payload":{}}"#,
        )
        .await;
    assert_eq!(s, 403);
    let w = read_lines(&lazy);
    assert_eq!(w[0]["kind"], "system/welcome");
    assert_eq!(
        w[0]["payload"]["active_streams"][0]["stream_id"],
        "stream-1"
    );
    assert_eq!(w[0]["payload"]["active_streams"][0]["description"], "d");
    let env_line = gw
        .wait_line(&env, r#""auto_connect":true"#, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(env_line.contains(r#""transport":"virtual""#));
    // a file-token participant can post with its file token
    let tok = std::fs::read_to_string(gw.mew_dir().join("tokens/fileonly.token")).unwrap();
    let (s, _) = gw
        .post(
            "fileonly",
            &tok,
            r#"{"kind":"chat","payload":{"text":"f"}}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a.recv_kind("chat").await["from"], "fileonly");
}

#[tokio::test]
async fn ws_join_token_becomes_http_credential() {
    let gw = TestGateway::start(YAML);
    let (mut a, _) = gw.join("adhoc", "web", "my-secret").await;
    let (s, _) = gw
        .post(
            "adhoc",
            "my-secret",
            r#"{"kind":"chat","payload":{"text":"via http"}}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a.recv_kind("chat").await["payload"]["text"], "via http");
    // the join token (its own token file, not the config literal) replaces the config literal
    // for a config participant
    let file_token =
        std::fs::read_to_string(gw.mew_dir().join("tokens/limited-agent.token")).unwrap();
    let (_b, _) = gw.join("limited-agent", "web", &file_token).await;
    let (s, _) = gw
        .post(
            "limited-agent",
            "limited-token",
            r#"{"kind":"chat","payload":{"text":"x"}}"#,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = gw
        .post(
            "limited-agent",
            &file_token,
            r#"{"kind":"chat","payload":{"text":"x"}}"#,
        )
        .await;
    assert_eq!(s, 200);
}
