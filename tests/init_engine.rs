//! The newcomer's path on a real engine: `mew init echo`, `mew space up`, then bare `mew`
//! finds the running space and connects; a typed line comes back from the echo agent.
mod common;

use common::engine::{free_port, unique_space_id, SpaceGuard};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn mew(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.current_dir(dir)
        .env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG")
        .envs(common::engine::engine_env())
        .env("HOME", dir);
    cmd
}

/// Run bare `mew` with piped input until `needle` shows, then `/exit`; returns the output.
fn bare_mew_until(dir: &std::path::Path, needle: &str) -> Vec<String> {
    mew_until(dir, &[], needle)
}

/// Run `mew <args>`, type a line, wait until `needle` shows, then `/exit`; returns the output.
fn mew_until(dir: &std::path::Path, args: &[&str], needle: &str) -> Vec<String> {
    let mut child = mew(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello engine\n").unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !seen.iter().any(|l: &String| l.contains(needle)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("never saw {needle:?}; output:\n{}", seen.join("\n"));
            }
        }
    }
    stdin.write_all(b"/exit\n").unwrap();
    assert!(child.wait().unwrap().success());
    seen
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
    let out = mew(dir).args(["space", "down"]).output().unwrap();
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn echo_template_comes_up_and_bare_mew_connects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("init");
    let _guard = SpaceGuard::new(&id);

    let out = mew(dir)
        .args(["init", "echo", "--name", &id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mew(dir)
        .args(["space", "up", "--port", &free_port().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let seen = bare_mew_until(dir, "← echo chat Echo: hello engine");
    assert_eq!(seen[0], "Connecting to running space...");
    assert!(
        seen[1].contains(&format!("as human (space {id})")),
        "{seen:?}"
    );

    let out = mew(dir).args(["space", "down"]).output().unwrap();
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn up_dash_i_brings_the_space_up_and_connects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("upi");
    let _guard = SpaceGuard::new(&id);
    let out = mew(dir)
        .args(["init", "echo", "--name", &id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port().to_string();
    let seen = mew_until(
        dir,
        &["space", "up", "-i", "--port", &port],
        "← echo chat Echo: hello engine",
    );
    assert!(seen.iter().any(|l| l.contains("Space is up")), "{seen:?}");
    let out = mew(dir).args(["space", "down"]).output().unwrap();
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    use mew::client::{envelope, Event, Participant, ParticipantOptions};
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = unique_space_id("maze");
    let _guard = SpaceGuard::new(&id);
    let out = mew(dir)
        .args(["init", "cat-maze", "--name", &id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let out = mew(dir)
        .args(["space", "up", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = std::fs::read_to_string(dir.join(".mew/tokens/human.token")).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let reply = rt.block_on(async {
        let mut p = Participant::spawn(ParticipantOptions {
            gateway: format!("ws://127.0.0.1:{port}"),
            space: id.clone(),
            participant_id: "human".into(),
            token: Some(token.trim().to_string()),
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // The bridge may join after us: wait until it is listed or announced.
        loop {
            let event = tokio::time::timeout_at(deadline, p.next_event()).await;
            let Ok(Some(Event::Envelope(v))) = event else {
                match event {
                    Ok(Some(_)) => continue,
                    _ => panic!("cat-maze never joined the space"),
                }
            };
            let listed = v["kind"] == "system/welcome"
                && v["payload"]["participants"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["id"] == "cat-maze"));
            let joined = v["kind"] == "system/presence"
                && v["payload"]["event"] == "join"
                && v["payload"]["participant"]["id"] == "cat-maze";
            if listed || joined {
                break;
            }
        }
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let reply = loop {
            match tokio::time::timeout_at(deadline, p.next_event()).await {
                Ok(Some(Event::Envelope(v))) if v["correlation_id"] == json!([request_id]) => {
                    break v
                }
                Ok(Some(_)) => {}
                _ => panic!("no answer from cat-maze"),
            }
        };
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
        text.contains("Level 1/3") && text.contains("#C...G#"),
        "{reply}"
    );

    let out = mew(dir).args(["space", "down"]).output().unwrap();
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
