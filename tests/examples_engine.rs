//! The example spaces and the built-in calculator template on a real engine: each comes up, its
//! agents join, and they answer a real WebSocket participant (echo: a chat; calculator:
//! `tools/call add`). compose-examples/shell-agent has its own test (export_examples_engine.rs).
mod common;

use common::engine::{engine_env, free_port, unique_space_id, SpaceGuard};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn mew(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG")
        .env("HOME", dir)
        .stdin(Stdio::null());
    for (k, v) in engine_env() {
        cmd.env(k, v);
    }
    cmd.output().expect("run mew")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of compose-examples/<name> (space.yaml only), so runs leave the repository clean.
fn copy_example(name: &str, to: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compose-examples")
        .join(name)
        .join("space.yaml");
    std::fs::copy(src, to.join("space.yaml")).expect("copy space.yaml");
}

/// `mew space up` with a unique id and a free port; returns the port.
fn up(dir: &Path, id: &str) -> u16 {
    let port = free_port();
    let out = mew(
        dir,
        &["space", "up", "--space-id", id, "--port", &port.to_string()],
    );
    let stdout = ok(&out, "up");
    assert!(!stdout.contains("not joined"), "{stdout}");
    port
}

/// A joined WebSocket participant.
struct Participant {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Participant {
    async fn join(port: u16, space: &str, id: &str, token_file: &Path) -> Participant {
        let token = std::fs::read_to_string(token_file).expect("token file");
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
            .await
            .expect("connect to the gateway");
        let join =
            json!({"type": "join", "participantId": id, "space": space, "token": token.trim()});
        ws.send(Message::text(join.to_string())).await.unwrap();
        let mut p = Participant { ws };
        p.wait_for(|m| m["kind"] == "system/welcome").await;
        p
    }

    async fn send(&mut self, envelope: Value) {
        self.ws
            .send(Message::text(envelope.to_string()))
            .await
            .unwrap();
    }

    /// The first message matching `pred`, within 15 s.
    async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("no matching message within 15 s")
                .expect("socket closed")
                .expect("socket error");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if pred(&v) {
                    return v;
                }
            }
        }
    }
}

async fn echo_answers(p: &mut Participant, text: &str) {
    p.send(json!({"id": "chat-1", "kind": "chat", "payload": {"text": text}}))
        .await;
    let want = format!("Echo: {text}");
    let answer = p
        .wait_for(|m| m["kind"] == "chat" && m["payload"]["text"] == want.as_str())
        .await;
    assert_eq!(answer["correlation_id"], json!(["chat-1"]));
}

async fn calculator_adds(p: &mut Participant) {
    p.send(json!({
        "id": "add-1",
        "kind": "mcp/request",
        "to": ["calculator"],
        "payload": {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}
    }))
    .await;
    let answer = p
        .wait_for(|m| m["kind"] == "mcp/response" && m["correlation_id"] == json!(["add-1"]))
        .await;
    let text = answer["payload"]["result"]["content"][0]["text"].as_str();
    assert_eq!(text, Some("5"), "{answer}");
}

fn down(dir: &Path, id: &str) {
    ok(&mew(dir, &["space", "down", "--space-id", id]), "down");
}

#[tokio::test]
async fn echo_example_comes_up_and_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example("echo", dir);
    let id = unique_space_id("exe");
    let _guard = SpaceGuard::new(&id);
    let port = up(dir, &id);
    let mut you = Participant::join(port, &id, "you", &dir.join(".mew/tokens/you.token")).await;
    echo_answers(&mut you, "hello example").await;
    down(dir, &id);
}

/// Regression: under `up --space-id` (another id than the file's) the gateway kept the file's
/// id, so its output_log participant `you` sat in another space than the agents and never got
/// the echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_log_participant_gets_the_echo_under_another_space_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example("echo", dir);
    let id = unique_space_id("exo");
    let _guard = SpaceGuard::new(&id);
    let port = up(dir, &id);
    if let Err(seen) = common::gateway::post_hello_until_echo(dir, port, 40).await {
        panic!("no echo for the output_log participant; logs/you.jsonl:\n{seen}");
    }
    down(dir, &id);
}

/// Issue 8, holes 1-2 in a space mew runs: a tokenless join as the running echo agent is
/// refused and closed, and the agent keeps its registration and answers.
#[tokio::test]
async fn tokenless_join_under_a_connected_id_does_not_evict_it_in_a_running_space() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example("echo", dir);
    let id = unique_space_id("exa");
    let _guard = SpaceGuard::new(&id);
    let port = up(dir, &id);
    let mut you = Participant::join(port, &id, "you", &dir.join(".mew/tokens/you.token")).await;
    echo_answers(&mut you, "before").await;

    for claimed in ["echo-agent", "intruder"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
            .await
            .expect("connect to the gateway");
        let join = json!({"type": "join", "participantId": claimed, "space": id});
        ws.send(Message::text(join.to_string())).await.unwrap();
        let mut impostor = Participant { ws };
        let err = impostor.wait_for(|m| m["kind"] == "system/error").await;
        assert_eq!(err["payload"]["error"], "join_refused", "{err}");
        let end = tokio::time::timeout(Duration::from_secs(5), impostor.ws.next()).await;
        assert!(
            matches!(end, Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_)))),
            "the refused socket stays open: {end:?}"
        );
    }
    echo_answers(&mut you, "after").await;
    down(dir, &id);
}

#[tokio::test]
async fn limits_example_comes_up_with_its_limits_and_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example("limits", dir);
    let id = unique_space_id("exl");
    let _guard = SpaceGuard::new(&id);
    let port = up(dir, &id);
    let status = ok(
        &mew(dir, &["space", "status", "--space-id", &id, "--json"]),
        "status",
    );
    let status: Value = serde_json::from_str(&status).unwrap();
    let limit_of = |who: &str| {
        status["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["participant"] == who)
            .map(|p| p["memory_limit_bytes"].clone())
    };
    // echo sets its own 48m; calculator takes the defaults' 96m; the gateway its own 128m.
    assert_eq!(limit_of("echo"), Some(json!(48 * 1024 * 1024)), "{status}");
    assert_eq!(
        limit_of("calculator"),
        Some(json!(96 * 1024 * 1024)),
        "{status}"
    );
    assert_eq!(
        limit_of("gateway"),
        Some(json!(128 * 1024 * 1024)),
        "{status}"
    );
    let mut human =
        Participant::join(port, &id, "human", &dir.join(".mew/tokens/human.token")).await;
    echo_answers(&mut human, "within limits").await;
    calculator_adds(&mut human).await;
    down(dir, &id);
}

#[tokio::test]
async fn calculator_example_and_template_answer_tools_call_add() {
    // The example…
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example("calculator", dir);
    let id = unique_space_id("exc");
    let _guard = SpaceGuard::new(&id);
    let port = up(dir, &id);
    let mut human =
        Participant::join(port, &id, "human", &dir.join(".mew/tokens/human.token")).await;
    calculator_adds(&mut human).await;
    down(dir, &id);

    // …and the built-in template, initialised as a newcomer would.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("tpc");
    let _guard = SpaceGuard::new(&id);
    ok(&mew(dir, &["init", "calculator", "--name", &id]), "init");
    let port = up(dir, &id);
    let mut human =
        Participant::join(port, &id, "human", &dir.join(".mew/tokens/human.token")).await;
    calculator_adds(&mut human).await;
    down(dir, &id);
}
