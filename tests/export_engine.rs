//! `mew space export` run by the engines it is for: docker compose v2 (`up -d --wait`, `ps`,
//! `logs`, `down`) and `docker stack deploy` on a single-node Swarm. In both the echo agent
//! joins with the token compose/Swarm mount as a secret, and answers a chat posted over the
//! gateway's HTTP API. Docker only (compose and Swarm talk to the Docker socket); each test is
//! skipped, saying why, only when its tool is missing or Swarm cannot start.
mod common;

use common::engine::{engine_env, free_port, mew_command, on_podman, output_text, SpaceGuard};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A compose example's files under a unique space id (the gateway takes its space id from
/// space.yaml, so the id is written there rather than passed with --space-id).
fn example_space(name: &str, example_id: &str, files: &[&str], id: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compose-examples")
        .join(name);
    let text = std::fs::read_to_string(example.join("space.yaml")).unwrap();
    let line = format!("id: {example_id}\n");
    assert!(text.contains(&line));
    std::fs::write(
        tmp.path().join("space.yaml"),
        text.replace(&line, &format!("id: {id}\n")),
    )
    .unwrap();
    for f in files {
        std::fs::copy(example.join(f), tmp.path().join(f)).unwrap();
    }
    tmp
}

fn echo_space(id: &str) -> tempfile::TempDir {
    example_space("echo", "echo-demo", &[], id)
}

/// `mew image build` by the mew under test (a dynamic build: its image runs mew through the
/// loader it ships, which the export must name). Once per test process; tried twice, because a
/// build of another mew executable on the same engine may prune an image this one's build
/// cache refers to.
fn build_runtime_image() {
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if *built {
        return;
    }
    let build = || {
        mew_command()
            .envs(engine_env())
            .args(["image", "build"])
            .output()
            .unwrap()
    };
    let mut out = build();
    if !out.status.success() {
        out = build();
    }
    assert!(
        out.status.success(),
        "mew image build: {}",
        output_text(&out)
    );
    *built = true;
}

fn export(dir: &Path, format: &str, port: u16, file: &str) {
    let out = mew_command()
        .args(["space", "export", "--format", format, "--port"])
        .arg(port.to_string())
        .arg("-d")
        .arg(dir)
        .arg("-o")
        .arg(dir.join(file))
        .output()
        .unwrap();
    assert!(out.status.success(), "export: {}", output_text(&out));
}

/// `docker …` in the space directory, as the user of that directory (whom the containers run as,
/// so that they can write its logs and read its token files).
fn docker(dir: &Path, args: &[&str]) -> Output {
    let meta = std::fs::metadata(dir).unwrap();
    Command::new("docker")
        .current_dir(dir)
        .env("MEW_UID", meta.uid().to_string())
        .env("MEW_GID", meta.gid().to_string())
        .args(args)
        .output()
        .expect("run docker")
}

fn docker_ok(dir: &Path, args: &[&str]) -> String {
    let out = docker(dir, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Post "hello" as `you` (its token file) until the echo arrives in `you`'s output log.
async fn echo_answers(dir: &Path, port: u16) {
    answers(
        dir,
        port,
        "you",
        "logs/you.jsonl",
        "\"Echo: hello\"",
        "echo-agent",
    )
    .await
}

/// Post "hello" as `from` until `needle` shows in the file `log` (relative to the space).
async fn answers(dir: &Path, port: u16, from: &str, log: &str, needle: &str, agent: &str) {
    let token = std::fs::read_to_string(dir.join(format!(".mew/tokens/{from}.token"))).unwrap();
    let auth = format!("Bearer {}", token.trim());
    let path = format!("/participants/{from}/messages");
    let log = dir.join(log);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = (0, String::new());
    loop {
        let seen = std::fs::read_to_string(&log).unwrap_or_default();
        if seen.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no answer: last post {last:?}; {}:\n{seen}\n{agent}.log:\n{}",
            log.display(),
            std::fs::read_to_string(dir.join(format!("logs/{agent}.log"))).unwrap_or_default()
        );
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            last = common::gateway::http_raw(
                port,
                "POST",
                &path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                br#"{"kind":"chat","payload":{"text":"hello"}}"#,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

/// `docker compose down` when dropped, so a failed test leaves no project behind.
struct ComposeGuard(PathBuf);

impl Drop for ComposeGuard {
    fn drop(&mut self) {
        let _ = docker(
            &self.0,
            &[
                "compose",
                "down",
                "--volumes",
                "--remove-orphans",
                "-t",
                "2",
            ],
        );
    }
}

/// Regression: compose v2.40 refused every export (`can't set distinct values on 'pids_limit'
/// and 'deploy.resources.limits.pids'`), and tokens had to come from an env file every command
/// named; a dynamic build's export named an entrypoint its image does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_v2_runs_the_export_and_the_echo_agent_answers() {
    if on_podman() {
        // Tried: Podman 4.3 here never reports the gateway healthy (it runs healthchecks from
        // systemd timers), so compose waits forever on `depends_on: service_healthy`.
        return skip("docker compose runs against Docker: Podman 4.3 here never reports a healthcheck healthy");
    }
    if !docker(Path::new("/"), &["compose", "version"])
        .status
        .success()
    {
        return skip("the docker compose v2 plugin is not installed (scripts/ensure-compose.sh)");
    }
    build_runtime_image();
    let id = common::engine::unique_space_id("xc");
    let space = echo_space(&id);
    let dir = space.path();
    let _space_guard = SpaceGuard::new(&id);
    let port = free_port();
    export(dir, "compose", port, "compose.yaml");

    docker_ok(dir, &["compose", "config", "--quiet"]);
    let _compose = ComposeGuard(dir.to_path_buf());
    // No flag but the wait: the file names the project, and compose.yaml is the default file.
    docker_ok(
        dir,
        &["compose", "up", "-d", "--wait", "--wait-timeout", "40"],
    );
    echo_answers(dir, port).await;

    let ps = docker_ok(
        dir,
        &["compose", "ps", "--format", "{{.Service}} {{.State}}"],
    );
    for service in ["gateway running", "echo-agent running"] {
        assert!(ps.contains(service), "compose ps:\n{ps}");
    }
    let logs = docker_ok(dir, &["compose", "logs", "--no-color"]);
    assert!(
        logs.contains(&format!("echo agent echo-agent joined space {id}")),
        "compose logs:\n{logs}"
    );
    docker_ok(dir, &["compose", "down", "-t", "2"]);
    let engine = common::engine::docker().await;
    assert_eq!(
        common::engine::count_space_objects(&engine, &id).await,
        0,
        "down leaves no container or network"
    );
}

/// Regression: the export carried a token to programs in other languages only through
/// MEW_TOKEN in the compose file; from the secret, `mew supervise` hands it to them in MEW_TOKEN.
/// The shell-agent example (busybox sh, mew through the runtime volume) answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_v2_runs_an_agent_in_another_image_with_its_token() {
    if on_podman() {
        return skip("docker compose runs against Docker: Podman 4.3 here never reports a healthcheck healthy");
    }
    if !docker(Path::new("/"), &["compose", "version"])
        .status
        .success()
    {
        return skip("the docker compose v2 plugin is not installed (scripts/ensure-compose.sh)");
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples/shell-agent");
    let dockerfile = std::fs::read(example.join("Dockerfile")).unwrap();
    common::engine::build_with_busybox(
        &common::engine::docker().await,
        "mew-shell-agent:latest",
        &dockerfile,
        "the shell-agent example image",
    )
    .await;
    build_runtime_image();
    let id = common::engine::unique_space_id("xa");
    let space = example_space("shell-agent", "shell-demo", &["agent.sh"], &id);
    let dir = space.path();
    let _space_guard = SpaceGuard::new(&id);
    let port = free_port();
    export(dir, "compose", port, "compose.yaml");
    let _compose = ComposeGuard(dir.to_path_buf());
    docker_ok(
        dir,
        &["compose", "up", "-d", "--wait", "--wait-timeout", "40"],
    );
    // `human` has no output log: its deliveries are in the gateway's envelope history.
    answers(
        dir,
        port,
        "human",
        ".mew/logs/envelope-history.jsonl",
        "sh heard: hello",
        "shell-agent",
    )
    .await;
}

/// Holds the host-wide swarm lock; on drop removes the stack and, when this test made the node a
/// swarm manager, leaves the swarm again.
struct SwarmGuard {
    stack: String,
    dir: PathBuf,
    initialised: bool,
    _lock: std::fs::File,
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        let _ = docker(&self.dir, &["stack", "rm", &self.stack]);
        // `stack rm` returns before the tasks and the network are gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        let label = format!("label=com.docker.stack.namespace={}", self.stack);
        while Instant::now() < deadline {
            let left = docker(&self.dir, &["ps", "-aq", "--filter", &label]);
            let networks = docker(&self.dir, &["network", "ls", "-q", "--filter", &label]);
            if left.stdout.is_empty() && networks.stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if self.initialised {
            let _ = docker(&self.dir, &["swarm", "leave", "--force"]);
        }
    }
}

fn swarm_state(dir: &Path) -> String {
    let out = docker(dir, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Swarm is engine-wide: one swarm test at a time on this host (a file lock), which makes the
/// node a manager only if it is not one already.
fn join_swarm(stack: &str, dir: &Path) -> Result<SwarmGuard, String> {
    use std::os::unix::io::AsRawFd;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("mew-test-swarm.lock"))
        .map_err(|e| format!("cannot open the swarm test lock: {e}"))?;
    // SAFETY: flock on a file descriptor this function owns; it blocks until the lock is free.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err("cannot take the swarm test lock".into());
    }
    let mut guard = SwarmGuard {
        stack: stack.to_string(),
        dir: dir.to_path_buf(),
        initialised: false,
        _lock: lock,
    };
    if swarm_state(dir) != "active" {
        let out = docker(dir, &["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        if !out.status.success() {
            return Err(format!("docker swarm init failed: {}", output_text(&out)));
        }
        guard.initialised = true;
    }
    Ok(guard)
}

/// Regression: on a single-node Swarm the stack started but the echo agent never joined
/// (`cannot connect to ws://gateway:P: failed to lookup address`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_deploy_on_single_node_swarm_runs_the_export_and_the_echo_agent_answers() {
    if on_podman() {
        return skip("Swarm is Docker's; Podman has none");
    }
    build_runtime_image();
    let id = common::engine::unique_space_id("xs");
    let space = echo_space(&id);
    let dir = space.path();
    let _space_guard = SpaceGuard::new(&id);
    let port = free_port();
    export(dir, "stack", port, "stack.yaml");
    let _swarm = match join_swarm(&id, dir) {
        Ok(g) => g,
        Err(why) => return skip(&why),
    };
    docker_ok(dir, &["stack", "deploy", "-c", "stack.yaml", &id]);
    echo_answers(dir, port).await;

    let services = docker_ok(dir, &["stack", "services", &id, "--format", "{{.Name}}"]);
    for s in ["gateway", "echo-agent"] {
        assert!(services.contains(&format!("{id}_{s}")), "{services}");
    }
    // Where the logs go on Swarm: the engine's log driver, read with `docker service logs`.
    let logs = docker_ok(
        dir,
        &["service", "logs", "--raw", &format!("{id}_echo-agent")],
    );
    assert!(
        logs.contains(&format!("echo agent echo-agent joined space {id}")),
        "service logs:\n{logs}"
    );
}
