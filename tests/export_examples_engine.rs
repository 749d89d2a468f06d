//! compose-examples/shell-agent on a real engine: its Dockerfile builds (from Debian's static
//! busybox, no registry), `mew space up` runs the shell agent from that image, and it answers.
mod common;

use bollard::query_parameters::BuildImageOptions;
use common::engine::{docker, free_port, unique_space_id, SpaceGuard};
use futures_util::StreamExt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples/shell-agent")
}

async fn build_shell_image() {
    let dockerfile = std::fs::read(example().join("Dockerfile")).unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut tar = tar::Builder::new(Vec::new());
    for (name, mode, data) in [
        ("Dockerfile", 0o644, &dockerfile[..]),
        ("busybox", 0o755, &busybox[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        tar.append_data(&mut h, name, data).unwrap();
    }
    let body = tar.into_inner().unwrap();
    let engine = docker().await;
    let mut stream = engine.build_image(
        BuildImageOptions {
            t: Some("mew-shell-agent:latest".into()),
            rm: true,
            ..Default::default()
        },
        None,
        Some(bollard::body_full(body.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.expect("build the shell-agent example image");
        assert!(info.error.is_none(), "{:?}", info.error);
    }
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

    let mut child = Command::new(mew)
        .envs(common::engine::engine_env())
        .args(["space", "connect", "--space-id", &id, "-d"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
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
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    stdin.write_all(b"/exit\n").unwrap();
    assert!(child.wait().unwrap().success());
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
