//! `mew space up` / `down` end to end, through the `mew` binary, on the real engine.
mod common;

use bollard::Docker;
use common::engine::*;
use mew_space::plan::labels;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `mew <args>` on the engine the tests run against.
fn mew_cmd(args: &[&str]) -> Command {
    let mut cmd = mew_command();
    cmd.args(args).env_remove("DOCKER_HOST").envs(engine_env());
    cmd
}

fn mew(args: &[&str]) -> Output {
    mew_cmd(args).output().expect("run mew")
}

/// A space directory with a space.yaml, its engine objects removed when dropped.
struct TestSpace {
    id: String,
    dir: tempfile::TempDir,
    port: u16,
    _guard: SpaceGuard,
}

impl TestSpace {
    fn new(tag: &str, participants: &str) -> TestSpace {
        let id = unique_space_id(tag);
        let dir = tempfile::tempdir().expect("tempdir");
        let t = TestSpace {
            _guard: SpaceGuard::new(&id),
            port: free_port(),
            id,
            dir,
        };
        t.write(participants);
        t
    }
    fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).expect("canonical dir")
    }
    fn dir_str(&self) -> String {
        self.path().display().to_string()
    }
    fn write(&self, participants: &str) {
        let yaml = format!(
            "space:\n  id: {id}\n  name: {id}\nparticipants:\n{participants}",
            id = self.id
        );
        std::fs::write(self.dir.path().join("space.yaml"), yaml).expect("write space.yaml");
    }
    fn up(&self) -> Output {
        let port = self.port.to_string();
        mew(&["space", "up", "-d", &self.dir_str(), "--port", &port])
    }
    /// `up` for spaces whose participants never join (busybox): do not wait for them.
    fn up_nowait(&self) -> Output {
        self.up_nowait_cmd().output().expect("run mew")
    }
    fn up_nowait_cmd(&self) -> Command {
        let port = self.port.to_string();
        let dir = self.dir_str();
        mew_cmd(&[
            "space",
            "up",
            "-d",
            &dir,
            "--port",
            &port,
            "--join-timeout",
            "0",
        ])
    }
    fn down(&self) -> Output {
        mew(&["space", "down", "-d", &self.dir_str(), "--timeout", "1"])
    }
    fn container(&self, participant: &str) -> String {
        format!("{}-{participant}", self.id)
    }
}

async fn inspect(docker: &Docker, name: &str) -> bollard::models::ContainerInspectResponse {
    // mew's inspect: Podman may name a just-exited container's state `stopped`.
    mew_engine::podman::inspect_container(docker, name)
        .await
        .unwrap_or_else(|e| panic!("inspect {name}: {e}"))
}

async fn container_ids(docker: &Docker, space: &str) -> BTreeMap<String, String> {
    mew_engine::observe::containers_with(docker, &format!("{}={space}", labels::SPACE))
        .await
        .expect("list")
        .into_iter()
        .map(|c| (c.participant().unwrap_or_default().to_string(), c.id))
        .collect()
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// POST a chat to the gateway's HTTP API as `from`.
fn post_chat(port: u16, space: &str, from: &str, token: &str, text: &str) -> String {
    use std::io::{Read, Write};
    let body = format!(r#"{{"kind":"chat","payload":{{"text":"{text}"}}}}"#);
    let req = format!(
        "POST /participants/{from}/messages?space={space} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to gateway");
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

const ECHO_AND_CLIENT: &str = r#"  echo:
    command: mew
    args: [agent, echo, --gateway, "ws://localhost:${PORT}", --space, "${SPACE}", --token, "${TOKEN}", --id, echo]
    auto_start: true
    capabilities:
      - kind: chat
  test-client:
    tokens: [test-token]
    output_log: ./logs/test-client-output.log
    auto_connect: true
    capabilities:
      - kind: "*"
"#;

#[tokio::test]
async fn up_runs_gateway_and_echo_agent_idempotently_and_down_removes_everything() {
    let docker = docker().await;
    let s = TestSpace::new("echo", ECHO_AND_CLIENT);
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("ws://127.0.0.1:{}", s.port)),
        "{}",
        output_text(&out)
    );

    // A chat over HTTP reaches the echo agent; its answer lands in the output_log file.
    let output_log = s.path().join("logs/test-client-output.log");
    let gateway_log = s.path().join("logs/gateway.log");
    let echo_log = s.path().join("logs/echo.log");
    assert!(wait_for(Duration::from_secs(10), || gateway_log.exists()
        && echo_log.exists()));
    let reply = post_chat(s.port, &s.id, "test-client", "test-token", "hello runner");
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(
            &output_log
        )
        .unwrap_or_default()
        .contains("Echo: hello runner")),
        "no echo in {}: {:?}\nup said: {}\necho.log: {:?}",
        output_log.display(),
        std::fs::read_to_string(&output_log),
        output_text(&out),
        std::fs::read_to_string(&echo_log)
    );
    // The participants' output is teed into logs/<id>.log (echo says it joined, the gateway
    // that echo joined).
    assert!(wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&gateway_log)
            .unwrap_or_default()
            .contains("echo")
            && file_len(&echo_log) > 0
    }));

    // Containers carry labels, limits, restart policy, log config, the caller's uid:gid, hardening.
    let uid_gid = format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid());
    for (participant, memory) in [("gateway", 256i64 << 20), ("echo", 512i64 << 20)] {
        let info = inspect(&docker, &s.container(participant)).await;
        let cfg = info.config.expect("config");
        let l = cfg.labels.expect("labels");
        assert_eq!(l.get(labels::SPACE), Some(&s.id));
        assert_eq!(
            l.get(labels::PARTICIPANT).map(String::as_str),
            Some(participant)
        );
        assert_eq!(l.get(labels::SPACE_DIR), Some(&s.dir_str()));
        assert!(l.contains_key(labels::CONFIG_HASH));
        assert_eq!(cfg.user.as_deref(), Some(uid_gid.as_str()));
        let hc = info.host_config.expect("host config");
        assert_eq!(hc.memory, Some(memory), "{participant}");
        assert_drops_all_caps(hc.cap_drop);
        let rp = hc
            .restart_policy
            .expect("restart")
            .name
            .map(|n| n.to_string());
        // A crashed gateway comes back; participants keep `no` unless space.yaml says so.
        let expected = if participant == "gateway" {
            "unless-stopped"
        } else {
            "no"
        };
        assert_eq!(rp.as_deref(), Some(expected), "{participant}");
        let log = hc.log_config.expect("log config");
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let max_size = if on_podman() {
            // Podman's Docker-compatible inspect omits log options; its own reports the size.
            let p = podman_inspect(&s.container(participant));
            let size = p["HostConfig"]["LogConfig"]["Size"]
                .as_str()
                .map(str::to_string);
            size.map(|s| s.replace("MB", "m"))
        } else {
            log.config.unwrap_or_default().get("max-size").cloned()
        };
        assert_eq!(max_size.as_deref(), Some("10m"));
    }

    // On Podman the participants find the gateway through /etc/hosts (aardvark-dns 1.4 may stop
    // answering while other networks come and go); on Docker its embedded DNS is used.
    let gw_info = inspect(&docker, &s.container("gateway")).await;
    let gw_ip = gw_info
        .network_settings
        .and_then(|ns| ns.networks)
        .and_then(|n| n.get(&format!("mew-{}", s.id)).cloned())
        .and_then(|ep| ep.ip_address)
        .expect("gateway address on the space network");
    let hosts = inspect(&docker, &s.container("echo"))
        .await
        .host_config
        .and_then(|hc| hc.extra_hosts)
        .unwrap_or_default();
    if on_podman() {
        assert_eq!(hosts, vec![format!("gateway:{gw_ip}")]);
    } else {
        assert!(hosts.is_empty(), "{hosts:?}");
    }

    // A second `up` changes nothing.
    let before = container_ids(&docker, &s.id).await;
    let again = s.up();
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing changed"),
        "{}",
        output_text(&again)
    );
    assert_eq!(container_ids(&docker, &s.id).await, before);

    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);
    assert!(gateway_log.exists() && output_log.exists(), "logs are kept");
    // Logs are appended to, never truncated: they grow over a second life of the space.
    let (gw_before, echo_before) = (file_len(&gateway_log), file_len(&echo_log));
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(wait_for(Duration::from_secs(5), || file_len(&gateway_log)
        > gw_before
        && file_len(&echo_log) > echo_before));
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
    // Nothing left: a second down says so, and succeeds (as compose's does).
    let none = s.down();
    assert_eq!(none.status.code(), Some(0), "{}", output_text(&none));
    assert!(String::from_utf8_lossy(&none.stdout).contains("nothing to stop"));
}

fn busybox(id: &str, script: &str, extra: &str) -> String {
    format!(
        "  {id}:\n    image: {BUSYBOX}\n    command: /bin/busybox\n    args: [sh, -c, \"{script}\"]\n    auto_start: true\n{extra}"
    )
}

#[tokio::test]
async fn only_changed_participants_are_recreated_and_orphans_removed() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let sleep = "exec /bin/busybox sleep 300";
    let s = TestSpace::new(
        "chg",
        &(busybox("a1", sleep, "    env:\n      MODE: one\n") + &busybox("a2", sleep, "")),
    );
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let first = container_ids(&docker, &s.id).await;
    assert_eq!(first.len(), 3, "{first:?}");

    s.write(&(busybox("a1", sleep, "    env:\n      MODE: two\n") + &busybox("a2", sleep, "")));
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let second = container_ids(&docker, &s.id).await;
    assert_ne!(second["a1"], first["a1"], "a1 changed: recreated");
    assert_eq!(second["a2"], first["a2"], "a2 unchanged: kept");
    assert_eq!(
        second["gateway"], first["gateway"],
        "gateway unchanged: kept"
    );
    let env = inspect(&docker, &s.container("a1"))
        .await
        .config
        .and_then(|c| c.env);
    assert!(env.unwrap_or_default().contains(&"MODE=two".to_string()));

    s.write(&busybox("a1", sleep, "    env:\n      MODE: two\n"));
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let third = container_ids(&docker, &s.id).await;
    assert!(!third.contains_key("a2"), "orphan removed: {third:?}");
    assert!(third.contains_key("a1") && third.contains_key("gateway"));
}

#[tokio::test]
async fn memory_limits_oom_kill_and_on_failure_restarts_are_counted() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = TestSpace::new(
        "oom",
        &(busybox(
            "hog",
            "/bin/busybox dd if=/dev/zero of=/dev/null bs=100M count=1",
            "    resources:\n      memory: 32m\n",
        ) + &busybox("crash", "exit 3", "    restart_policy: on-failure:2\n")),
    );
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));

    // Docker 20.10 sometimes records a fast OOM kill only as exit code 137 (its OOM event and the
    // exit race): then run the hog again; the flag must show in one of three runs.
    let mut oom = false;
    let mut last = None;
    'attempts: for attempt in 0..3 {
        if attempt > 0 {
            let out = mew(&["space", "restart", "-d", &s.dir_str(), "hog"]);
            assert!(out.status.success(), "{}", output_text(&out));
        }
        for _ in 0..50 {
            let state = inspect(&docker, &s.container("hog"))
                .await
                .state
                .expect("state");
            if state.running != Some(true) {
                // Podman here (cgroup v1) kills at the limit but does not report OOMKilled;
                // Docker may record the OOM kill a moment after the exit: keep looking.
                oom =
                    state.oom_killed == Some(true) || (on_podman() && state.exit_code == Some(137));
                if oom {
                    break 'attempts;
                }
            }
            last = Some(state);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(oom, "the hog was not OOM-killed: {last:?}");

    let mut restarts = -1;
    for _ in 0..50 {
        let info = inspect(&docker, &s.container("crash")).await;
        let state = info.state.expect("state");
        restarts = info.restart_count.unwrap_or(-1);
        if state.running != Some(true) && state.restarting != Some(true) && restarts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let info = inspect(&docker, &s.container("crash")).await;
    assert_eq!(restarts, 2);
    assert_eq!(info.restart_count, Some(2), "exactly two restarts");
    assert_eq!(info.state.and_then(|s| s.exit_code), Some(3));
}

/// Run a command in a container and return its exit code.
async fn exec(docker: &Docker, container: &str, cmd: &[&str]) -> i64 {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    use futures_util::StreamExt;
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    if let Ok(StartExecResults::Attached { mut output, .. }) =
        docker.start_exec(&exec.id, None).await
    {
        while output.next().await.is_some() {}
    }
    docker
        .inspect_exec(&exec.id)
        .await
        .expect("inspect exec")
        .exit_code
        .unwrap_or(-1)
}

#[tokio::test]
async fn two_spaces_are_isolated_and_down_of_one_keeps_the_other() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let sleep = "exec /bin/busybox sleep 300";
    let a = TestSpace::new("isoa", &busybox("probe", sleep, ""));
    let b = TestSpace::new("isob", &busybox("probe", sleep, ""));
    let (ua, ub) = (a.up_nowait(), b.up_nowait());
    assert!(ua.status.success(), "{}", output_text(&ua));
    assert!(ub.status.success(), "{}", output_text(&ub));

    let ip_of = |name: String| {
        let docker = docker.clone();
        async move {
            inspect(&docker, &name)
                .await
                .network_settings
                .and_then(|n| n.networks)
                .and_then(|n| n.values().next().and_then(|e| e.ip_address.clone()))
                .expect("an address on the space network")
        }
    };
    let (a_ip, b_ip) = (
        ip_of(a.container("gateway")).await,
        ip_of(b.container("gateway")).await,
    );
    // By address, with mew's own health probe from the runtime volume (busybox-static's wget
    // crashes in its libc resolver), under `timeout` because dropped packets never answer.
    let wget = |ip: &str, port: u16| {
        // Generous: a debug mew starting on a loaded machine must not be mistaken for a drop.
        let mut cmd: Vec<String> = vec!["/bin/busybox".into(), "timeout".into(), "10".into()];
        cmd.extend(mew_engine::image::mew_argv());
        cmd.extend(["gateway", "health", "--host", ip, "--port"].map(String::from));
        cmd.push(port.to_string());
        let docker = docker.clone();
        let probe = a.container("probe");
        async move {
            let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
            exec(&docker, &probe, &refs).await
        }
    };
    // Positive control: A's probe reaches A's gateway.
    assert_eq!(
        wget(&a_ip, a.port).await,
        0,
        "A's probe cannot reach A's gateway"
    );
    // Docker 20.10 deletes and re-inserts its FORWARD jump to the isolation chain whenever any
    // network is created (other tests do so all the time), so a single SYN can slip through
    // that window. Real isolation fails every time: require that B is not reachable twice in
    // a row.
    let jump_before = netavark_isolation_jump();
    let mut reached = 0;
    for _ in 0..2 {
        if wget(&b_ip, b.port).await == 0 {
            reached += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        } else {
            break;
        }
    }
    // Podman 4.3's netavark 1.4 drops its FORWARD jump to the isolation chain whenever any
    // isolated network is torn down (other tests do so), until the next network comes up.
    // Even with the jump present before and after, a teardown between the two probes can open
    // the window (seen in CI), so on Podman by-IP isolation is not asserted: the README says so.
    let netavark_bug = on_podman() || !(jump_before && netavark_isolation_jump());
    assert!(
        reached < 2 || netavark_bug,
        "B's gateway ({b_ip}) reachable by IP from A, twice"
    );
    // By name: names resolve only on a network the container is attached to, and each
    // space's containers are attached to their own network only.
    for (space, container) in [(&a, a.container("probe")), (&b, b.container("gateway"))] {
        let nets = inspect(&docker, &container)
            .await
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks");
        let names: Vec<&String> = nets.keys().collect();
        assert_eq!(names, vec![&format!("mew-{}", space.id)], "{container}");
    }

    let down = a.down();
    assert!(down.status.success(), "{}", output_text(&down));
    assert_eq!(count_space_objects(&docker, &a.id).await, 0);
    let b_state = inspect(&docker, &b.container("gateway"))
        .await
        .state
        .expect("state");
    assert_eq!(b_state.running, Some(true), "space B still runs");
}

#[tokio::test]
async fn a_taken_port_fails_with_exit_1_and_leaves_nothing() {
    let docker = docker().await;
    let s = TestSpace::new("port", ECHO_AND_CLIENT);
    let holder = std::net::TcpListener::bind(("127.0.0.1", s.port)).expect("hold the port");
    let out = s.up();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&s.port.to_string()), "{err}");
    assert!(err.contains("--port"), "{err}");
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);
    drop(holder);
}

/// A port held by another mew space was reported as "already in use" with no word of which
/// space holds it: the error names that space and its directory.
#[tokio::test]
async fn a_port_held_by_another_space_names_that_space() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let a = TestSpace::new("porta", &busybox("p", "exec /bin/busybox sleep 300", ""));
    let out = a.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let b = TestSpace::new("portb", &busybox("p", "exec /bin/busybox sleep 300", ""));
    let port = a.port.to_string();
    let out = mew(&["space", "up", "-d", &b.dir_str(), "--port", &port]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&a.id) && err.contains(&a.dir_str()), "{err}");
    assert_eq!(count_space_objects(&docker, &b.id).await, 0);
    let down = a.down();
    assert!(down.status.success(), "{}", output_text(&down));
}

/// coder-agent's `OPENAI_API_KEY` unset: `up` waited and the agent got the text `${…}` with no
/// word. The participant and the variable are named in one line before anything starts.
#[tokio::test]
async fn an_env_var_that_is_not_set_is_named_before_up_waits() {
    let s = TestSpace::new(
        "unsetenv",
        "  coder:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    env:\n      OPENAI_API_KEY: \"${MEW_TEST_UNSET_KEY}\"\n      PLAIN: \"${PORT}\"\n",
    );
    let port = s.port.to_string();
    let out = mew_cmd(&[
        "space",
        "up",
        "-d",
        &s.dir_str(),
        "--port",
        &port,
        "--dry-run",
    ])
    .env_remove("MEW_TEST_UNSET_KEY")
    .output()
    .expect("run mew");
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("${MEW_TEST_UNSET_KEY}"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("coder") && !lines[0].contains("PORT"),
        "{text}"
    );
}

#[tokio::test]
async fn down_works_after_space_yaml_is_deleted() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = TestSpace::new("nofile", &busybox("p", "exec /bin/busybox sleep 300", ""));
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    std::fs::remove_file(s.path().join("space.yaml")).expect("delete space.yaml");
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);
}

#[tokio::test]
async fn a_bad_space_yaml_exits_2_and_creates_nothing() {
    let docker = docker().await;
    let s = TestSpace::new("bad", "  echo:\n    comand: mew\n");
    let out = s.up();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("space.yaml:"), "{err}");
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);
}

/// The bad-input corpus (crates/mew-space/tests/fixtures/bad, each file's place checked by
/// `config_bad.rs`) through the CLI: `mew space up` exits 2 with one line and creates nothing.
#[tokio::test]
async fn every_bad_input_corpus_file_exits_2_with_one_line_and_creates_nothing() {
    let docker = docker().await;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/mew-space/tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 50, "{} files", files.len());
    let mut ids = Vec::new();
    let mut wrong = Vec::new();
    for file in &files {
        let id = unique_space_id("bad");
        let _guard = SpaceGuard::new(&id);
        let dir = tempfile::tempdir().expect("tempdir");
        let text = std::fs::read_to_string(file).expect("read");
        std::fs::write(
            dir.path().join("space.yaml"),
            text.replace("  id: bad\n", &format!("  id: {id}\n")),
        )
        .expect("write");
        let out = mew(&["space", "up", "-d", dir.path().to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        if out.status.code() != Some(2) || lines.len() != 1 || err.contains("panicked") {
            wrong.push(format!(
                "{}: exit {:?}, stderr:\n{err}",
                file.file_name().unwrap().to_string_lossy(),
                out.status.code()
            ));
        }
        ids.push(id);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for id in &ids {
        assert_eq!(count_space_objects(&docker, id).await, 0, "{id}");
    }
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let docker = docker().await;
    let s = TestSpace::new("dry", ECHO_AND_CLIENT);
    let port = s.port.to_string();
    let out = mew(&[
        "space",
        "up",
        "-d",
        &s.dir_str(),
        "--port",
        &port,
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&s.container("gateway")), "{stdout}");
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);
    // Regression (issue 14.3): a dry run wrote token files (and `.mew/`, `logs/`) in a fresh
    // space. The directory holds exactly what the test wrote.
    let entries: Vec<String> = std::fs::read_dir(s.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec!["space.yaml".to_string()],
        "dry run wrote files"
    );
    // A real `up` makes `.mew/` first, so that tokens land there and not in `<dir>/tokens/`.
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    let tokens = s.path().join(".mew/tokens");
    assert!(
        tokens.join("echo.token").is_file(),
        "no token in {tokens:?}"
    );
    assert!(!s.path().join("tokens").exists());
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
}

#[tokio::test]
async fn a_space_id_used_by_another_directory_is_refused() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let participants = busybox("p", "exec /bin/busybox sleep 300", "");
    let a = TestSpace::new("dup", &participants);
    let out = a.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    // Same space id, another directory.
    let other = tempfile::tempdir().expect("tempdir");
    let yaml = std::fs::read_to_string(a.path().join("space.yaml")).expect("read");
    std::fs::write(other.path().join("space.yaml"), yaml).expect("write");
    let dir = std::fs::canonicalize(other.path()).expect("canonical");
    let out = mew(&[
        "space",
        "up",
        "-d",
        &dir.display().to_string(),
        "--join-timeout",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&a.dir_str()) && err.contains("--space-id"),
        "{err}"
    );
    let from_other = mew_engine::observe::spaces_in_dir(&docker, &dir)
        .await
        .expect("by dir");
    assert!(from_other.is_empty(), "{from_other:?}");
}

/// Killing `up` at any moment leaves nothing that the next `up` and `down` cannot finish.
#[tokio::test]
async fn a_killed_up_converges_on_the_next_up_and_down() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = TestSpace::new("kill", &busybox("p", "exec /bin/busybox sleep 300", ""));
    for delay_ms in [300u64, 900] {
        let mut child = s
            .up_nowait_cmd()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn mew");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let out = s.up_nowait();
        assert!(
            out.status.success(),
            "after a kill at {delay_ms} ms: {}",
            output_text(&out)
        );
        let ids = container_ids(&docker, &s.id).await;
        assert_eq!(ids.len(), 2, "{ids:?}");
        let down = s.down();
        assert!(down.status.success(), "{}", output_text(&down));
        assert_eq!(count_space_objects(&docker, &s.id).await, 0);
    }
}

/// A `fifo: true` + `auto_connect` participant runs `mew client connect` in a container: `up`
/// makes its FIFO on the host, a line written there is sent as an envelope, and what it receives
/// lands in its output_log.
#[tokio::test]
async fn a_fifo_client_sends_what_is_written_to_its_fifo() {
    let s = TestSpace::new(
        "fifo",
        r#"  echo:
    command: mew
    args: [agent, echo]
    auto_start: true
    capabilities:
      - kind: chat
  human:
    fifo: true
    auto_connect: true
    output_log: ./logs/human.jsonl
    capabilities:
      - kind: chat
"#,
    );
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    let fifo = s.path().join("fifos/human-in");
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(&fifo).expect("fifos/human-in exists");
    assert!(meta.file_type().is_fifo());
    // Opening for writing blocks until the client has it open for reading: do it off-thread.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo");
        f.write_all(b"{\"kind\":\"chat\",\"payload\":{\"text\":\"through the fifo\"}}\n")
            .expect("write fifo");
    });
    let log = s.path().join("logs/human.jsonl");
    let echoed = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&log)
            .map(|t| t.contains("Echo: through the fifo"))
            .unwrap_or(false)
    });
    assert!(
        echoed,
        "no echo in {}: {:?}",
        log.display(),
        std::fs::read_to_string(&log)
    );
    writer.join().expect("writer");
    // A file that is not a FIFO stays; the FIFO goes with the space, as upstream's `down` does.
    std::fs::write(s.path().join("fifos/notes.txt"), "mine").expect("write");
    let out = s.down();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        !s.path().join("fifos/human-in").exists(),
        "down unlinks the FIFO"
    );
    assert!(s.path().join("fifos/notes.txt").exists());
}

/// Issue 9 (`volumes:`): a path that leaves the space directory without a volume is refused at
/// `up` before anything is made (exit 2); a named volume is created labelled as
/// `<space>_<name>`, survives `down` and goes with `down --volumes`.
#[tokio::test]
async fn volumes_named_volume_lives_until_down_volumes_and_outside_paths_need_one() {
    let docker = docker().await;
    let s = TestSpace::new(
        "vols",
        "  echo:\n    command: mew\n    args: [agent, echo, ../outside/tool.js]\n    auto_start: true\n",
    );
    let out = s.up();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("echo") && err.contains("volumes"), "{err}");
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);

    s.write(
        "  echo:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    \
         volumes: [\"data:/data\"]\n    capabilities: [{kind: chat}]\n",
    );
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    let name = format!("{}_data", s.id);
    let vol = docker.inspect_volume(&name).await.expect("named volume");
    assert_eq!(
        vol.labels.get(labels::SPACE).map(String::as_str),
        Some(s.id.as_str())
    );
    let out = s.down();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        docker.inspect_volume(&name).await.is_ok(),
        "down keeps volumes"
    );
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    let out = mew(&[
        "space",
        "down",
        "-d",
        &s.dir_str(),
        "--volumes",
        "--timeout",
        "1",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        docker.inspect_volume(&name).await.is_err(),
        "down --volumes removes it"
    );
}
