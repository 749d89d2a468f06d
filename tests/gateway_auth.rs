//! Gateway identity rules (issue 8, holes 1 and 2; spec/gateway.md §4.2, mew's departure):
//! a configured, invited or connected id is joined only with its own token, a token is valid
//! only for its own id, anonymous joins need `space.allow_anonymous_joins: true`, and no join
//! ever leaves another live connection unregistered.
mod common;
use common::gateway::{Opts, TestGateway, Ws};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const SPACE: &str = "auth-test";

fn yaml(extra_space_keys: &str) -> String {
    format!(
        r#"space:
  id: {SPACE}
{extra_space_keys}participants:
  client:
    tokens: ["client-token"]
    capabilities:
      - kind: "*"
  echo:
    tokens: ["echo-token"]
    capabilities:
      - kind: chat
"#
    )
}

async fn send_join(gw: &TestGateway, id: Option<&str>, token: Option<&str>) -> Ws {
    let mut ws = gw.ws().await;
    let mut join = json!({"type": "join", "space": SPACE});
    if let Some(id) = id {
        join["participantId"] = json!(id);
    }
    if let Some(t) = token {
        join["token"] = json!(t);
    }
    ws.send(join).await;
    ws
}

/// The refusal: a `system/error` `join_refused` with `reason`, then the socket is closed.
async fn expect_refused(ws: &mut Ws, reason: &str) -> Value {
    let err = ws.recv_json().await;
    assert_eq!(err["kind"], "system/error", "{err}");
    assert_eq!(err["protocol"], "mew/v0.4", "{err}");
    assert_eq!(err["from"], "system:gateway", "{err}");
    assert_eq!(err["payload"]["error"], "join_refused", "{err}");
    assert_eq!(err["payload"]["reason"], reason, "{err}");
    assert!(
        err["payload"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused")),
        "{err}"
    );
    expect_closed(ws).await;
    err
}

/// Nothing more but the close: the server ends the connection within a few seconds.
async fn expect_closed(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.s.next()).await {
            Err(_) => panic!("the socket is still open"),
            Ok(Some(Ok(Message::Text(t)))) => panic!("unexpected message before close: {t}"),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn participants(gw: &TestGateway) -> Vec<String> {
    let (status, body) = gw
        .http("GET", &format!("/participants?space={SPACE}"), &[], "")
        .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn chat(text: &str) -> Value {
    json!({"protocol": "mew/v0.4", "kind": "chat", "payload": {"text": text}})
}

async fn recv_chat(ws: &mut Ws, from: &str, text: &str) {
    ws.recv_matching(|v| v["kind"] == "chat" && v["from"] == from && v["payload"]["text"] == text)
        .await;
}

/// A gateway on `yaml` whose console (stdout and stderr) also goes to `<tmp>/console.log`.
fn start_logged(yaml: &str) -> (TestGateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_with(Opts {
        yaml,
        env: vec![(
            "GATEWAY_LOG_FILE",
            tmp.path().join("console.log").display().to_string(),
        )],
        ..Default::default()
    });
    (gw, tmp)
}

/// The console so far, once it shows `needle` (or after 5 s).
async fn console(tmp: &tempfile::TempDir, needle: &str) -> String {
    let path = tmp.path().join("console.log");
    for _ in 0..100 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::read_to_string(&path).unwrap_or_default()
}

#[tokio::test]
async fn tokenless_join_as_configured_participant_is_refused() {
    let (gw, tmp) = start_logged(&yaml("  allow_anonymous_joins: true\n"));
    // Even where anonymous joins are allowed, a configured id needs its token.
    let mut ws = send_join(&gw, Some("client"), None).await;
    let err = expect_refused(&mut ws, "token_required").await;
    assert!(
        err["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("configured"),
        "{err}"
    );
    // An unknown token is no better.
    let mut ws = send_join(&gw, Some("client"), Some("made-up")).await;
    expect_refused(&mut ws, "token_required").await;
    // The real client still joins with its token and gets its capabilities.
    let (_ws, welcome) = gw.join("client", SPACE, "client-token").await;
    assert_eq!(welcome["payload"]["you"]["id"], "client");
    assert_eq!(welcome["payload"]["you"]["capabilities"][0]["kind"], "*");
    let out = console(&tmp, "Refused a join").await;
    assert!(out.contains("Refused a join"), "{out}");
    assert!(!out.contains("made-up"), "the console shows a token: {out}");
}

#[tokio::test]
async fn join_with_another_participants_token_is_refused() {
    let (gw, tmp) = start_logged(&yaml("  allow_anonymous_joins: true\n"));
    // echo's token under client's id: refused, not given client's `*`.
    let mut ws = send_join(&gw, Some("client"), Some("echo-token")).await;
    expect_refused(&mut ws, "token_of_another_participant").await;
    // Nor under a new id, though anonymous joins are allowed here.
    let mut ws = send_join(&gw, Some("ghost"), Some("client-token")).await;
    expect_refused(&mut ws, "token_of_another_participant").await;
    // A token with no id takes its owner's id.
    let mut ws = send_join(&gw, None, Some("echo-token")).await;
    let welcome = ws.recv_kind("system/welcome").await;
    assert_eq!(welcome["payload"]["you"]["id"], "echo");
    assert_eq!(welcome["payload"]["you"]["capabilities"][0]["kind"], "chat");
    // The refusals are logged, without the tokens.
    let history = gw.log_path("envelope-history.jsonl");
    let line = gw
        .wait_line(&history, "join_refused", Duration::from_secs(5))
        .await
        .expect("a rejected record for the refused join");
    assert!(line.contains("\"event\":\"rejected\""), "{line}");
    let all = TestGateway::lines(&history).join("\n");
    assert!(
        !all.contains("echo-token") && !all.contains("client-token"),
        "the history shows a token: {all}"
    );
    let out = console(&tmp, "ghost refused").await;
    assert!(out.contains("ghost refused"), "{out}");
    assert!(
        !out.contains("echo-token") && !out.contains("client-token"),
        "{out}"
    );
}

#[tokio::test]
async fn tokenless_join_under_a_connected_id_does_not_evict_it() {
    let gw = TestGateway::start(&yaml("  allow_anonymous_joins: true\n"));
    let (mut echo, _) = gw.join("echo", SPACE, "echo-token").await;
    let (mut client, _) = gw.join("client", SPACE, "client-token").await;
    // An anonymous participant under a new id is connected too, so protected while it is.
    let mut visitor = send_join(&gw, Some("visitor"), None).await;
    visitor.recv_kind("system/welcome").await;

    let mut impostor = send_join(&gw, Some("echo"), None).await;
    expect_refused(&mut impostor, "token_required").await;
    let mut impostor = send_join(&gw, Some("visitor"), None).await;
    let err = expect_refused(&mut impostor, "token_required").await;
    assert!(
        err["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("connected"),
        "{err}"
    );

    // The real echo still receives and answers; the visitor still receives.
    client.send(chat("ping")).await;
    recv_chat(&mut echo, "client", "ping").await;
    recv_chat(&mut visitor, "client", "ping").await;
    echo.send(chat("pong")).await;
    recv_chat(&mut client, "echo", "pong").await;
    let ids = participants(&gw).await;
    assert!(
        ids.contains(&"echo".into()) && ids.contains(&"visitor".into()),
        "{ids:?}"
    );
    // Nobody saw echo leave.
    client
        .expect_none(Duration::from_millis(300), |t| {
            t.contains("\"leave\"") && t.contains("\"echo\"")
        })
        .await;
}

#[tokio::test]
async fn anonymous_join_is_refused_unless_the_space_allows_it() {
    for extra in ["", "  allow_anonymous_joins: false\n"] {
        let gw = TestGateway::start(&yaml(extra));
        let mut ws = send_join(&gw, Some("visitor"), None).await;
        let err = expect_refused(&mut ws, "anonymous_not_allowed").await;
        assert!(
            err["payload"]["message"]
                .as_str()
                .unwrap()
                .contains("allow_anonymous_joins"),
            "{err}"
        );
        assert_eq!(err["to"], json!(["visitor"]));
        // No id and an unknown token: anonymous as well.
        let mut ws = send_join(&gw, None, Some("made-up")).await;
        expect_refused(&mut ws, "anonymous_not_allowed").await;
        assert!(!participants(&gw).await.contains(&"visitor".to_string()));
        // Participants with their tokens still join.
        let (_echo, welcome) = gw.join("echo", SPACE, "echo-token").await;
        assert_eq!(welcome["payload"]["you"]["id"], "echo");
    }
}

#[tokio::test]
async fn anonymous_join_allowed_when_space_allows_it() {
    let gw = TestGateway::start(&yaml("  allow_anonymous_joins: true\n"));
    let mut visitor = send_join(&gw, Some("visitor"), Some("visitor-secret")).await;
    let welcome = visitor.recv_kind("system/welcome").await;
    assert_eq!(welcome["payload"]["you"]["id"], "visitor");
    // Anonymous participants get the defaults (none here): chat only, never `*`.
    let kinds: Vec<&str> = welcome["payload"]["you"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["chat", "mcp/response"], "{welcome}");
    let mut generated = send_join(&gw, None, None).await;
    let welcome = generated.recv_kind("system/welcome").await;
    assert!(
        welcome["payload"]["you"]["id"]
            .as_str()
            .unwrap()
            .starts_with("participant-"),
        "{welcome}"
    );
    // The anonymous session may post over HTTP with the token it joined with, while connected.
    let (status, body) = gw
        .post("visitor", "visitor-secret", &chat("over http").to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    // That token is now the visitor's: not valid for another id.
    let mut other = send_join(&gw, Some("visitor-2"), Some("visitor-secret")).await;
    expect_refused(&mut other, "token_of_another_participant").await;
    drop(visitor);
    // Once it has left, the token authenticates nothing.
    let mut status = 200;
    for _ in 0..50 {
        status = gw
            .post("visitor", "visitor-secret", &chat("late").to_string())
            .await
            .0;
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 403);
}

#[tokio::test]
async fn http_post_with_another_participants_token_is_refused() {
    let gw = TestGateway::start(&yaml(""));
    let body = chat("hi").to_string();
    let (status, resp) = gw.post("client", "echo-token", &body).await;
    assert_eq!(status, 403, "{resp}");
    assert_eq!(resp["error"], "Invalid token for participant");
    // A refused WS join with that pairing does not make it valid either.
    let mut ws = send_join(&gw, Some("client"), Some("echo-token")).await;
    expect_refused(&mut ws, "token_of_another_participant").await;
    assert_eq!(gw.post("client", "echo-token", &body).await.0, 403);
    // Nor does it work for an id nobody configured.
    assert_eq!(gw.post("ghost", "echo-token", &body).await.0, 403);
    // The pairing that is right.
    let (status, resp) = gw.post("client", "client-token", &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["status"], "accepted");
}

#[tokio::test]
async fn reconnect_with_own_token_replaces_and_closes_the_old_socket() {
    let gw = TestGateway::start(&yaml(""));
    let (mut client, _) = gw.join("client", SPACE, "client-token").await;
    let (mut old, _) = gw.join("echo", SPACE, "echo-token").await;
    let (mut new, welcome) = gw.join("echo", SPACE, "echo-token").await;
    assert_eq!(welcome["payload"]["you"]["id"], "echo");
    // The old socket is told why, then closed.
    let err = old.recv_kind("system/error").await;
    assert_eq!(err["payload"]["error"], "replaced", "{err}");
    assert_eq!(err["from"], "system:gateway");
    expect_closed(&mut old).await;
    // The old socket's disconnect did not take the new registration with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(participants(&gw).await.contains(&"echo".to_string()));
    client.send(chat("still there?")).await;
    recv_chat(&mut new, "client", "still there?").await;
    new.send(chat("yes")).await;
    recv_chat(&mut client, "echo", "yes").await;
}
