//! Podman through its Docker-compatible API: `mew doctor` names it, and a space on Docker and one
//! on Podman run side by side, neither seeing nor disturbing the other. Runs in the Podman pass
//! (`MEW_TEST_ENGINE=podman`, with Docker at /var/run/docker.sock too); skipped otherwise.
mod common;

use common::engine::*;
use mew_space::plan::labels;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const DOCKER: &str = "unix:///var/run/docker.sock";

fn mew(host: &str, args: &[&str]) -> Output {
    mew_command()
        .args(args)
        .env("DOCKER_HOST", host)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mew")
}

/// A space directory whose only participant is the echo agent (mew from the runtime image).
fn write_space(dir: &Path, id: &str) {
    let yaml = format!(
        "space:\n  id: {id}\n  name: {id}\nparticipants:\n  echo:\n    command: mew\n    args: [agent, echo, --gateway, \"ws://localhost:${{PORT}}\", --space, \"${{SPACE}}\", --token, \"${{TOKEN}}\", --id, echo]\n    auto_start: true\n    capabilities:\n      - kind: chat\n"
    );
    std::fs::write(dir.join("space.yaml"), yaml).expect("write space.yaml");
}

/// GET /health on 127.0.0.1:port answers `"status":"ok"`.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("\"status\":\"ok\"")
}

async fn space_containers(host: &str, id: &str) -> Vec<String> {
    let engine = mew_engine::connect(Some(host)).await.expect("engine");
    mew_engine::observe::containers_with(&engine.docker, &format!("{}={id}", labels::SPACE))
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[tokio::test]
async fn a_space_on_docker_and_one_on_podman_run_side_by_side() {
    let Some(podman) = engine_host().filter(|_| on_podman()) else {
        eprintln!("skipped: set MEW_TEST_ENGINE=podman (with Docker running too) to run this test");
        return;
    };
    let docker_engine = mew_engine::connect(Some(DOCKER))
        .await
        .expect("Docker runs at /var/run/docker.sock");
    let podman_engine = engine().await;
    assert_eq!(docker_engine.info.kind, mew_engine::EngineKind::Docker);
    assert_eq!(podman_engine.info.kind, mew_engine::EngineKind::Podman);

    let spaces: Vec<(&str, String, tempfile::TempDir, u16)> = [DOCKER, podman.as_str()]
        .into_iter()
        .map(|host| {
            let dir = tempfile::tempdir().expect("tempdir");
            let id = unique_space_id("side");
            write_space(dir.path(), &id);
            (host, id, dir, free_port())
        })
        .collect();
    let _guards: Vec<SpaceGuard> = spaces
        .iter()
        .map(|(host, id, _, _)| SpaceGuard::on_host(host, id))
        .collect();

    // Both up at the same time.
    let ups: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = spaces
            .iter()
            .map(|(host, _, dir, port)| {
                let dir = dir.path().display().to_string();
                let port = port.to_string();
                s.spawn(move || mew(host, &["space", "up", "-d", &dir, "--port", &port]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("up thread"))
            .collect()
    });
    for out in &ups {
        assert!(out.status.success(), "{}", output_text(out));
    }
    for (_, _, _, port) in &spaces {
        assert!(healthy(*port), "gateway on {port} answers");
    }
    // Each engine holds its own space only.
    let (d, p) = (&spaces[0], &spaces[1]);
    assert_eq!(
        space_containers(DOCKER, &d.1).await,
        [format!("{}-echo", d.1), format!("{}-gateway", d.1)]
    );
    assert!(space_containers(DOCKER, &p.1).await.is_empty());
    assert_eq!(
        space_containers(&podman, &p.1).await,
        [format!("{}-echo", p.1), format!("{}-gateway", p.1)]
    );
    assert!(space_containers(&podman, &d.1).await.is_empty());

    // Down on Podman leaves Docker's space running, and the other way round.
    let dir = |s: &(&str, String, tempfile::TempDir, u16)| s.2.path().display().to_string();
    let down = mew(&podman, &["space", "down", "-d", &dir(p)]);
    assert!(down.status.success(), "{}", output_text(&down));
    assert!(space_containers(&podman, &p.1).await.is_empty());
    assert!(healthy(d.3), "the Docker space still answers");
    let start = Instant::now();
    while healthy(p.3) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!healthy(p.3), "the Podman space's port is released");
    let down = mew(DOCKER, &["space", "down", "-d", &dir(d)]);
    assert!(down.status.success(), "{}", output_text(&down));
    assert!(space_containers(DOCKER, &d.1).await.is_empty());
}

#[test]
fn doctor_names_podman_and_the_negotiated_api() {
    let Some(podman) = engine_host().filter(|_| on_podman()) else {
        eprintln!("skipped: set MEW_TEST_ENGINE=podman to run this test");
        return;
    };
    let out = mew(&podman, &["doctor"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in {stdout}"))
            .to_string()
    };
    assert!(line("Engine:").contains("Podman"), "{stdout}");
    // Podman 4.x offers API 1.41; we never talk a newer one than offered.
    assert!(line("API version:").ends_with("1.41 in use"), "{stdout}");
    assert!(line("Socket:").contains(&podman), "{stdout}");
}
