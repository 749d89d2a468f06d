//! The newcomer's path on a real engine: `mew init echo`, `mew space up`, then bare `mew`
//! finds the running space and connects; a typed line comes back from the echo agent.
mod common;

use common::engine::{free_port, mew_command, unique_space_id, SpaceGuard};
use common::process::LineChild;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mew(dir: &std::path::Path) -> Command {
    let mut cmd = mew_command();
    // A developer's model key must not reach the templates' agents under test.
    cmd.current_dir(dir)
        .envs(common::engine::engine_env())
        .env("HOME", dir)
        .env_remove("OPENAI_API_KEY");
    cmd
}

/// Run bare `mew` with piped input until `needle` shows, then `/exit`; returns the output.
fn bare_mew_until(dir: &std::path::Path, needle: &str) -> Vec<String> {
    mew_until(dir, &[], needle)
}

/// Run `mew <args>`, type a line, wait until `needle` shows, then `/exit`; returns the output.
fn mew_until(dir: &std::path::Path, args: &[&str], needle: &str) -> Vec<String> {
    let mut child = LineChild::spawn(
        mew(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit()),
        "mew",
    );
    let mut stdin = child.stdin();
    stdin.write_all(b"hello engine\n").unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !seen.iter().any(|l: &String| l.contains(needle)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_line(left) {
            Some(line) => seen.push(line),
            None => panic!("never saw {needle:?}; output:\n{}", seen.join("\n")),
        }
    }
    stdin.write_all(b"/exit\n").unwrap();
    assert!(child.child.wait().unwrap().success());
    seen
}

/// Run `mew <args>` in `dir` to the end; panics with `what` and its stderr unless it succeeds.
fn mew_ok(dir: &std::path::Path, args: &[&str], what: &str) {
    let out = mew(dir).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `mew init <template> --name <id>` in `dir`.
fn init(dir: &std::path::Path, template: &str, id: &str) {
    mew_ok(dir, &["init", template, "--name", id], "init");
}

/// `mew space up --port <port>` in `dir`.
fn up(dir: &std::path::Path, port: u16) {
    mew_ok(dir, &["space", "up", "--port", &port.to_string()], "up");
}

/// `mew space down` in `dir`.
fn down(dir: &std::path::Path) {
    mew_ok(dir, &["space", "down"], "down");
}

#[test]
fn bare_mew_in_an_empty_directory_initialises_starts_and_connects() {
    let tmp = tempfile::Builder::new()
        .prefix("newcomer")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    // The space id comes from the directory name.
    let id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let _guard = SpaceGuard::new(&id);
    let seen = bare_mew_until(dir, "← echo chat Echo: hello engine");
    assert!(
        seen.iter()
            .any(|l| l == "Space initialized! Starting and connecting..."),
        "{seen:?}"
    );
    assert!(dir.join(".mew/space.yaml").is_file());
    down(dir);
}

#[test]
fn echo_template_comes_up_and_bare_mew_connects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("init");
    let _guard = SpaceGuard::new(&id);

    init(dir, "echo", &id);
    up(dir, free_port());

    let seen = bare_mew_until(dir, "← echo chat Echo: hello engine");
    assert_eq!(seen[0], "Connecting to running space...");
    assert!(
        seen[1].contains(&format!("as human (space {id})")),
        "{seen:?}"
    );

    down(dir);
}

#[test]
fn up_dash_i_brings_the_space_up_and_connects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("upi");
    let _guard = SpaceGuard::new(&id);
    init(dir, "echo", &id);
    let port = free_port().to_string();
    let seen = mew_until(
        dir,
        &["space", "up", "-i", "--port", &port],
        "← echo chat Echo: hello engine",
    );
    assert!(seen.iter().any(|l| l.contains("Space is up")), "{seen:?}");
    down(dir);
}

#[test]
fn up_refuses_interactive_with_detach() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mew(tmp.path())
        .args(["space", "up", "-i", "--detach"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `mew init cat-maze` + `mew space up`: the bridge runs `mew mcp cat-maze` in the runtime image,
/// and a `tools/call view` sent through the gateway (joined on the published port with the
/// human's token) gets the maze back from `cat-maze`.
#[test]
fn cat_maze_template_bridge_answers_through_the_gateway() {
    use common::participant::{is_join_of, next_matching, welcome_lists};
    use mew_client::{Participant, ParticipantOptions};
    use mew_protocol::envelope;
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("maze");
    let _guard = SpaceGuard::new(&id);
    init(dir, "cat-maze", &id);
    let port = free_port();
    up(dir, port);
    let token = std::fs::read_to_string(dir.join(".mew/tokens/human.token")).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let reply = rt.block_on(async {
        let mut p = Participant::spawn(ParticipantOptions {
            gateway: format!("ws://127.0.0.1:{port}"),
            space: id.clone(),
            participant_id: "human".into(),
            token: Some(token.trim().to_string()),
        });
        // The bridge may join after us: wait until it is listed or announced.
        next_matching(&mut p, Duration::from_secs(60), |v| {
            welcome_lists(v, "cat-maze") || is_join_of(v, "cat-maze")
        })
        .await
        .expect("cat-maze never joined the space");
        let request = envelope::build(
            "human",
            "mcp/request",
            &["cat-maze".to_string()],
            &[],
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                   "params": {"name": "view", "arguments": {}}}),
        );
        let request_id = request["id"].as_str().unwrap().to_string();
        p.sender().send(&request);
        let reply = next_matching(&mut p, Duration::from_secs(20), |v| {
            v["correlation_id"] == json!([request_id])
        })
        .await
        .expect("no answer from cat-maze");
        p.close().await;
        reply
    });
    assert_eq!(reply["kind"], "mcp/response", "{reply}");
    assert_eq!(reply["from"], "cat-maze", "{reply}");
    assert_eq!(reply["to"], json!(["human"]), "{reply}");
    assert_eq!(reply["payload"]["id"], 7, "{reply}");
    let text = reply["payload"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("Level 1/10") && text.contains("#C..#.#"),
        "{reply}"
    );

    down(dir);
}

/// `mew init coder-agent` + `mew space up` with no model configured: the filesystem bridge runs
/// mew's built-in server in the runtime image and reads a file of the space (but not a token),
/// and the model agent `mew` is up and explains, in answer to a chat, that it has no model.
#[test]
fn coder_agent_template_comes_up_and_answers_without_a_model() {
    use common::participant::{next_matching, text_of, wait_present};
    use mew_client::{Participant, ParticipantOptions};
    use mew_protocol::envelope;
    use serde_json::{json, Value};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("coder");
    let _guard = SpaceGuard::new(&id);
    init(dir, "coder-agent", &id);
    std::fs::write(dir.join("hello.txt"), "hello from the space\n").unwrap();
    let port = free_port();
    up(dir, port);
    let token = std::fs::read_to_string(dir.join(".mew/tokens/human.token")).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (read, token_read, chat) = rt.block_on(async {
        let mut p = Participant::spawn(ParticipantOptions {
            gateway: format!("ws://127.0.0.1:{port}"),
            space: id.clone(),
            participant_id: "human".into(),
            token: Some(token.trim().to_string()),
        });
        wait_present(&mut p, &["mew", "mcp-fs-bridge"], Duration::from_secs(60)).await;
        let call = |path: &str, rpc_id: u64| {
            let request = envelope::build(
                "human",
                "mcp/request",
                &["mcp-fs-bridge".to_string()],
                &[],
                json!({"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call",
                       "params": {"name": "read_file", "arguments": {"path": path}}}),
            );
            p.sender().send(&request);
            request["id"].as_str().unwrap().to_string()
        };
        let read_id = call("hello.txt", 1);
        let token_id = call(".mew/tokens/human.token", 2);
        let mut answers: Vec<Value> = Vec::new();
        for corr in [read_id, token_id] {
            let reply = next_matching(&mut p, Duration::from_secs(20), |v| {
                v["correlation_id"] == json!([corr])
            })
            .await
            .expect("no answer from mcp-fs-bridge");
            answers.push(reply);
        }
        let chat = envelope::build(
            "human",
            "chat",
            &["mew".to_string()],
            &[],
            json!({"text": "hello agent"}),
        );
        let chat_id = chat["id"].as_str().unwrap().to_string();
        p.sender().send(&chat);
        let reply = next_matching(&mut p, Duration::from_secs(20), |v| {
            v["kind"] == "chat" && v["correlation_id"] == json!([chat_id])
        })
        .await
        .expect("no answer from the mew agent");
        p.close().await;
        let token_answer = answers.pop().unwrap();
        (answers.pop().unwrap(), token_answer, reply)
    });
    assert_eq!(read["from"], "mcp-fs-bridge", "{read}");
    assert_eq!(
        text_of(&read["payload"]["result"]),
        "hello from the space\n",
        "{read}"
    );
    assert_eq!(
        token_read["payload"]["result"]["isError"], true,
        "{token_read}"
    );
    assert!(
        !text_of(&token_read["payload"]["result"]).contains(token.trim()),
        "{token_read}"
    );
    assert_eq!(chat["from"], "mew", "{chat}");
    assert!(
        chat["payload"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("OPENAI_API_KEY")),
        "{chat}"
    );

    down(dir);
}
