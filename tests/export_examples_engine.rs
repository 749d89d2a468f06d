//! compose-examples/shell-agent on a real engine: its Dockerfile builds (from Debian's static
//! busybox, no registry), `mew space up` runs the shell agent from that image, and it answers.
mod common;

use common::engine::{build_with_busybox, docker, free_port, unique_space_id, SpaceGuard};
use common::process::LineChild;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples/shell-agent")
}

async fn build_shell_image() {
    let dockerfile = std::fs::read(example().join("Dockerfile")).unwrap();
    build_with_busybox(
        &docker().await,
        "mew-shell-agent:latest",
        &dockerfile,
        "the shell-agent example image",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_agent_example_runs_from_its_own_image() {
    build_shell_image().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for f in ["space.yaml", "agent.sh"] {
        std::fs::copy(example().join(f), dir.join(f)).unwrap();
    }
    let id = unique_space_id("shell");
    let _guard = SpaceGuard::new(&id);
    let mew = env!("CARGO_BIN_EXE_mew");
    let out = Command::new(mew)
        .envs(common::engine::engine_env())
        .args([
            "space",
            "up",
            "--space-id",
            &id,
            "--port",
            &free_port().to_string(),
            "-d",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = LineChild::spawn(
        Command::new(mew)
            .envs(common::engine::engine_env())
            .args(["space", "connect", "--space-id", &id, "-d"])
            .arg(dir)
            .stdin(Stdio::piped()),
        "mew space connect",
    );
    let mut stdin = child.stdin();
    // The agent may still be starting: say hello until it answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen: Vec<String> = Vec::new();
    let mut next_hello = Instant::now();
    loop {
        if seen
            .iter()
            .any(|l| l.contains("← shell-agent chat sh heard: hello"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no answer:\n{}", seen.join("\n"));
        if Instant::now() >= next_hello {
            stdin.write_all(b"hello\n").unwrap();
            next_hello = Instant::now() + Duration::from_secs(3);
        }
        if let Some(line) = child.next_line(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    stdin.write_all(b"/exit\n").unwrap();
    assert!(child.child.wait().unwrap().success());
    let out = Command::new(mew)
        .envs(common::engine::engine_env())
        .args(["space", "down", "--space-id", &id, "-d"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
