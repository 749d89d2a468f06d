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
