//! Issue 8, hole 3: a participant's container sees only its own token and cannot rewrite `.mew/`
//! (space.yaml, the gateway's JSONL audit logs); and the gateway's restart policy. On the real
//! engine, through the `mew` binary (`MEW_TEST_ENGINE=podman` for Podman).
mod common;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use common::engine::*;
use common::standalone;
use futures_util::StreamExt;
use mew_space::plan::Role;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use testcontainers::ImageExt;

/// A space directory with a space.yaml, its engine objects removed when dropped.
struct TestSpace {
    id: String,
    dir: tempfile::TempDir,
    port: u16,
    _guard: SpaceGuard,
}

impl TestSpace {
    fn new(tag: &str, body: &str) -> TestSpace {
        let id = unique_space_id(tag);
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = format!("space:\n  id: {id}\n  name: {id}\n{body}");
        std::fs::write(dir.path().join("space.yaml"), yaml).expect("write space.yaml");
        TestSpace {
            _guard: SpaceGuard::new(&id),
            port: free_port(),
            id,
            dir,
        }
    }
    fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).expect("canonical dir")
    }
    fn mew(&self, args: &[&str]) -> Output {
        let dir = self.path().display().to_string();
        let mut cmd = mew_command();
        cmd.args(args)
            .args(["-d", &dir])
            .env_remove("DOCKER_HOST")
            .envs(engine_env());
        cmd.output().expect("run mew")
    }
    fn up(&self) -> Output {
        self.mew(&["space", "up", "--port", &self.port.to_string()])
    }
    fn down(&self) -> Output {
        self.mew(&["space", "down", "--timeout", "1"])
    }
    fn container(&self, participant: &str) -> String {
        format!("{}-{participant}", self.id)
    }
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

/// POST a chat to the gateway's HTTP API as `from`; the status line and body.
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

/// A chat from `test-client` comes back from echo into the client's output log.
fn echo_answers(s: &TestSpace, text: &str) -> bool {
    let reply = post_chat(s.port, &s.id, "test-client", "test-token", text);
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
    let log = s.path().join("logs/test-client-output.log");
    wait_for(Duration::from_secs(15), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("Echo: {text}"))
    })
}

/// Run `script` in a busybox container with `agent`'s exact mounts (`--volumes-from`), user and
/// network namespace (`--network container:`), hardened like it; return its output. A
/// testcontainers container (removed on drop) labelled with the space, so the guard removes it
/// whatever happens.
async fn probe(docker: &Docker, s: &TestSpace, agent: &str, script: &str) -> String {
    ensure_busybox(docker).await;
    let info = mew_engine::podman::inspect_container(docker, agent)
        .await
        .expect("inspect agent");
    let user = info.config.and_then(|c| c.user);
    assert!(user.as_deref().is_some_and(|u| !u.is_empty()), "{user:?}");
    let user = user.unwrap_or_default();
    let name = s.container("probe");
    let network_mode = format!("container:{agent}");
    let host_config = HostConfig {
        volumes_from: Some(vec![agent.to_string()]),
        network_mode: Some(network_mode.clone()),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(true),
        // The agent's namespace has no ports of its own to publish (testcontainers would).
        publish_all_ports: Some(false),
        ..Default::default()
    };
    // Kept to the end: dropping it removes the probe.
    let mut _container = None;
    if on_podman() {
        // testcontainers inspects the container right after start with bollard's typed inspect,
        // which fails on Podman 4.3's `stopped` state of a probe that already exited: create it
        // directly (labelled, so the guard removes it).
        let body = ContainerCreateBody {
            image: Some(BUSYBOX.into()),
            entrypoint: Some(vec!["/bin/busybox".into()]),
            cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
            user: Some(user),
            labels: Some(
                labels_for(&s.id, "probe", Role::Infra)
                    .into_iter()
                    .collect(),
            ),
            host_config: Some(host_config),
            ..Default::default()
        };
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .expect("create the probe");
        docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .expect("start the probe");
    } else {
        let probe = standalone::busybox(&s.id, "probe", &name)
            .with_cmd(["sh", "-c", script])
            .with_user(user)
            // The whole host config, network mode included: `with_network` would try to create
            // a network of that name where the engine does not know it.
            .with_host_config_modifier(move |hc| *hc = host_config.clone());
        _container = Some(standalone::start(probe).await);
    }
    let mut wait = docker.wait_container(&name, None::<WaitContainerOptions>);
    while let Some(r) = wait.next().await {
        if let Err(e) = r {
            // A non-zero exit is reported as an error; the output says what happened.
            if !matches!(e, bollard::errors::Error::DockerContainerWaitError { .. }) {
                panic!("wait for the probe: {e}");
            }
        }
    }
    let mut logs = docker.logs(
        &name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    let mut out = String::new();
    while let Some(chunk) = logs.next().await {
        out.push_str(&chunk.expect("probe logs").to_string());
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

const ECHO_SPACE: &str = r#"participants:
  echo:
    command: mew
    args: [agent, echo]
    auto_start: true
    capabilities:
      - kind: chat
  human:
    capabilities:
      - kind: "*"
  test-client:
    tokens: [test-token]
    output_log: ./logs/test-client-output.log
    auto_connect: true
    capabilities:
      - kind: "*"
"#;

#[tokio::test]
async fn agent_cannot_read_other_tokens_or_write_dot_mew() {
    let docker = docker().await;
    let s = TestSpace::new("iso", ECHO_SPACE);
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(echo_answers(&s, "before the probe"), "echo never answered");

    let dir = s.path();
    let dot_mew = dir.join(".mew");
    let own = read(&dot_mew.join("tokens/echo.token"));
    let human = read(&dot_mew.join("tokens/human.token"));
    let history = dot_mew.join("logs/envelope-history.jsonl");
    assert!(
        wait_for(Duration::from_secs(5), || history.exists()),
        "the gateway writes its history"
    );
    let yaml_before = read(&dir.join("space.yaml"));
    let history_before = read(&history);

    let d = dir.display();
    // Each line says what worked; the test decides which of them must not have.
    let script = format!(
        "cd {d}
echo \"LIST:$(ls -A .mew/tokens)\"
for f in .mew/tokens/* .mew/tokens/human.token .mew/tokens/echo.token .mew/tokens/.gitignore; do
  cat \"$f\" >/dev/null 2>&1 && echo \"READ:$f\"
done
echo x >> space.yaml && echo WROTE:space.yaml
for f in .mew/logs/*.jsonl; do echo x >> \"$f\" && echo \"WROTE:$f\"; done
touch .mew/logs/new.jsonl && echo WROTE:new.jsonl
touch .mew/tokens/new.token && echo WROTE:new.token
mkdir .mew/x && echo WROTE:dot-mew
echo \"SECRET:$(cat /run/secrets/mew-token)\"
echo \"ENVTOKEN:$MEW_TOKEN\"
touch logs/probe.txt && echo WROTE:logs
wget -q -O - http://gateway:{port}/health >/dev/null 2>&1 && echo NET:gateway
true",
        port = s.port
    );
    let out = probe(&docker, &s, &s.container("echo"), &script).await;
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let has = |l: &str| lines.contains(&l);

    // The probe really has the agent's mounts: the space directory is writable, the secret is
    // there and holds the agent's own token, nobody else's.
    assert!(has("WROTE:logs"), "{out}");
    assert!(
        has("NET:gateway"),
        "the probe reaches the gateway as the agent does: {out}"
    );
    assert!(has(&format!("SECRET:{}", own.trim())), "{out}");
    assert_ne!(own.trim(), human.trim());
    assert!(!out.contains(human.trim()), "human's token seen: {out}");
    // The tokens directory is empty and nothing in it can be read or made.
    assert!(has("LIST:"), "{out}");
    assert!(!out.contains("READ:"), "{out}");
    assert!(!has("WROTE:new.token"), "{out}");
    // `.mew` and space.yaml are read-only.
    assert!(!has("WROTE:space.yaml"), "{out}");
    assert!(!out.contains("WROTE:.mew/logs"), "{out}");
    assert!(!has("WROTE:new.jsonl"), "{out}");
    assert!(!has("WROTE:dot-mew"), "{out}");
    assert_eq!(read(&dir.join("space.yaml")), yaml_before);
    assert!(read(&history).starts_with(&history_before));
    assert!(!dot_mew.join("logs/new.jsonl").exists());
    assert!(dir.join("logs/probe.txt").exists());

    // The agent keeps working, and its own log is still written.
    assert!(
        echo_answers(&s, "after the probe"),
        "echo stopped answering"
    );
    assert!(read(&dir.join("logs/echo.log")).contains("joined"));
    let out = s.down();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// The gateway comes back after a crash unless space.yaml says otherwise.
#[tokio::test]
async fn gateway_restart_policy_defaults_to_unless_stopped_and_follows_space_yaml() {
    let docker = docker().await;
    let policy = |name: String| {
        let docker = docker.clone();
        async move {
            let rp = mew_engine::podman::inspect_container(&docker, &name)
                .await
                .expect("inspect")
                .host_config
                .and_then(|hc| hc.restart_policy)
                .expect("restart policy");
            (
                rp.name.map(|n| n.to_string()).unwrap_or_default(),
                rp.maximum_retry_count.unwrap_or(0),
            )
        }
    };
    let agent =
        "participants:\n  echo:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n";
    let s = TestSpace::new("gwrp", agent);
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        policy(s.container("gateway")).await,
        ("unless-stopped".to_string(), 0)
    );
    // Participants keep theirs (`no` by default).
    assert_eq!(policy(s.container("echo")).await.0, "no");

    let s2 = TestSpace::new(
        "gwrp",
        &format!("gateway:\n  restart_policy: on-failure:3\n{agent}"),
    );
    let out = s2.up();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        policy(s2.container("gateway")).await,
        ("on-failure".to_string(), 3)
    );
    for s in [&s, &s2] {
        let out = s.down();
        assert!(out.status.success(), "{}", output_text(&out));
    }
}

fn gateway_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut out = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut out).is_ok()
        && out.starts_with("HTTP/1.1 200")
}

/// Kill the gateway's PID 1 from the host, as the kernel's OOM killer would: no `stop`, so the
/// engine's restart policy applies.
async fn crash_gateway(docker: &Docker, s: &TestSpace) -> i64 {
    let info = mew_engine::podman::inspect_container(docker, &s.container("gateway"))
        .await
        .expect("inspect gateway");
    let restarts = info.restart_count.unwrap_or(0);
    let pid = info.state.and_then(|st| st.pid).expect("gateway pid");
    assert!(pid > 0, "the gateway runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the gateway's pid 1 (the tests run as the engine's user)");
    restarts
}

/// `unless-stopped` brings a killed gateway back, and the agents (and the gateway's own
/// `auto_connect` participant) rejoin it by themselves: echo answers again. (Bridge mode only:
/// in `shared` mode the participants stay in the dead gateway's network namespace until they
/// are restarted; see the README.)
#[tokio::test]
async fn a_crashed_gateway_comes_back_and_agents_rejoin() {
    let docker = docker().await;
    let mode = "bridge";
    let s = TestSpace::new("gwcrash", ECHO_SPACE);
    let out = s.up();
    assert!(out.status.success(), "{mode}: {}", output_text(&out));
    assert!(echo_answers(&s, "before the crash"), "{mode}");
    let before = crash_gateway(&docker, &s).await;
    let gateway = s.container("gateway");
    let mut back = false;
    let start = Instant::now();
    while !back && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let info = mew_engine::podman::inspect_container(&docker, &gateway)
            .await
            .expect("inspect gateway");
        let running = info
            .state
            .and_then(|st| st.status)
            .is_some_and(|st| st.to_string() == "running");
        back = running && info.restart_count.unwrap_or(0) > before;
    }
    assert!(back, "{mode}: the gateway was not restarted");
    // (docker-proxy accepts connections before the gateway listens: ask for /health.)
    let healthy = wait_for(Duration::from_secs(20), || gateway_healthy(s.port));
    assert!(healthy, "{mode}: the gateway does not listen again");
    // Echo needs a moment to notice and rejoin (backoff at most 2 s).
    let answered = wait_for(Duration::from_secs(30), || {
        echo_answers(
            &s,
            &format!("after the crash {}", start.elapsed().as_millis()),
        )
    });
    assert!(
        answered,
        "{mode}: echo did not rejoin the restarted gateway; echo.log: {:?}",
        std::fs::read_to_string(s.path().join("logs/echo.log"))
    );
    let out = s.down();
    assert!(out.status.success(), "{mode}: {}", output_text(&out));
}

/// `space.network.mode: shared` with the isolated mounts: echo (in the gateway's network
/// namespace, reaching it as localhost) joins and answers, and gets its own token only.
#[tokio::test]
async fn shared_network_mode_works_with_the_isolated_mounts() {
    let docker = docker().await;
    let s = TestSpace::new(
        "isoshared",
        &ECHO_SPACE.replace("participants:", "  network: {mode: shared}\nparticipants:"),
    );
    let out = s.up();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        echo_answers(&s, "shared and isolated"),
        "echo never answered"
    );
    let own = read(&s.path().join(".mew/tokens/echo.token"));
    let out = probe(
        &docker,
        &s,
        &s.container("echo"),
        &format!(
            "echo \"SECRET:$(cat /run/secrets/mew-token)\"; echo \"LIST:$(ls -A {}/.mew/tokens)\"; wget -q -O - http://localhost:{}/health >/dev/null && echo NET:localhost",
            s.path().display(),
            s.port
        ),
    )
    .await;
    assert!(out.contains(&format!("SECRET:{}\n", own.trim())), "{out}");
    assert!(out.contains("LIST:\n"), "{out}");
    assert!(out.contains("NET:localhost"), "{out}");
    let out = s.down();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// Issue 13 item 22: under `up` no token is in any container's configuration (`docker inspect`:
/// env, argv, labels), and every program still gets its own: mew's agent, bridge and FIFO client
/// join with it, and a program of another image finds it in MEW_TOKEN, MEW_TOKEN_<ID> and in
/// place of `${TOKEN}` in its args.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_in_no_container_configuration_and_still_reach_each_program() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let body = format!(
        r#"{ECHO_SPACE}  maze:
    type: mcp-bridge
    auto_start: true
    mcp_server:
      command: mew
      args: [mcp, cat-maze]
  printer:
    image: {BUSYBOX}
    command: /bin/busybox
    args: [sh, -c, 'echo "ARG:$1 ENV:$MEW_TOKEN ID:$MEW_TOKEN_PRINTER"; exec /bin/busybox sleep 300', sh, "${{TOKEN}}"]
    auto_start: true
"#
    );
    let s = TestSpace::new("tokcfg", &body);
    let out = s.mew(&[
        "space",
        "up",
        "--port",
        &s.port.to_string(),
        "--join-timeout",
        "0",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    // Each of mew's roles joins with its token (the gateway lists it).
    let joined = |id: &str| {
        http_get(s.port, &format!("/participants?space={}", s.id)).contains(&format!("\"{id}\""))
    };
    for id in ["echo", "maze", "test-client"] {
        assert!(
            wait_for(Duration::from_secs(30), || joined(id)),
            "{id} joined"
        );
    }
    assert!(
        echo_answers(&s, "tokens stay in files"),
        "echo never answered"
    );

    let tokens_dir = s.path().join(".mew/tokens");
    let token = |id: &str| {
        read(&tokens_dir.join(format!("{id}.token")))
            .trim()
            .to_string()
    };
    let tokens: Vec<(String, String)> = ["echo", "maze", "printer", "test-client", "human"]
        .iter()
        .map(|id| (id.to_string(), token(id)))
        .chain([("test-client".to_string(), "test-token".to_string())])
        .collect();
    for (id, t) in &tokens[..5] {
        assert!(t.len() >= 16, "{id} has a generated token: {t:?}");
    }

    // The other image's program got its token three ways.
    let printer = token("printer");
    let log = s.path().join("logs/printer.log");
    let want = format!("ARG:{printer} ENV:{printer} ID:{printer}");
    assert!(
        wait_for(Duration::from_secs(15), || read_or_empty(&log)
            .contains(&want)),
        "printer output: {}",
        read_or_empty(&log)
    );

    // No container's configuration holds any token.
    let members = mew_engine::inspect::members(&docker, &s.id)
        .await
        .expect("list the space's containers");
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    // (test-client's output log is written by the gateway itself: it has no container.)
    let mut want: Vec<String> = ["echo", "gateway", "maze", "printer"]
        .iter()
        .map(|p| s.container(p))
        .collect();
    want.sort();
    assert_eq!(names, want);
    for participant in names {
        let info = mew_engine::podman::inspect_container(&docker, participant)
            .await
            .expect("inspect");
        let json = serde_json::to_string(&info).expect("inspect as json");
        for (id, t) in &tokens {
            assert!(
                !json.contains(t.as_str()),
                "{id}'s token is in the configuration of {participant}"
            );
        }
    }
    let out = s.down();
    assert!(out.status.success(), "{}", output_text(&out));
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `GET path` on the gateway; the whole HTTP answer.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}
