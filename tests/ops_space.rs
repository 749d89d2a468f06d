//! `mew space status / logs / restart / exec / clean` against the real engine.
//!
//! Each test makes its own space (unique id) out of busybox containers carrying mew's labels,
//! and removes everything with that label when it ends, even on failure.
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptions,
};
use bollard::Docker;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testcontainers::ImageExt;

mod common;
use common::engine::{docker, ensure_busybox, unique_space_id, SpaceGuard, BUSYBOX};

/// The test image has only `/bin/busybox` (its shell runs the other applets).
const BB: &str = "/bin/busybox";

/// A throwaway space: a unique id, a directory, and cleanup by label on drop.
struct Space {
    id: String,
    dir: tempfile::TempDir,
    docker: Docker,
    _guard: SpaceGuard,
}

impl Space {
    async fn new(tag: &str) -> Space {
        let docker = docker().await;
        ensure_busybox(&docker).await;
        let id = unique_space_id(&format!("ops{tag}"));
        Space {
            _guard: SpaceGuard::new(&id),
            id,
            dir: tempfile::tempdir().expect("tempdir"),
            docker,
        }
    }

    fn dir(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).expect("canonical dir")
    }

    fn labels(&self, participant: &str, role: &str) -> HashMap<String, String> {
        HashMap::from([
            ("io.mew.space".to_string(), self.id.clone()),
            (
                "io.mew.space.dir".to_string(),
                self.dir().to_string_lossy().into_owned(),
            ),
            ("io.mew.participant".to_string(), participant.to_string()),
            ("io.mew.role".to_string(), role.to_string()),
        ])
    }

    /// Create and start `<id>-<participant>` running the busybox applet `cmd`.
    async fn start(
        &self,
        participant: &str,
        role: &str,
        cmd: &[&str],
        host: HostConfig,
        exposed: Option<&str>,
    ) -> String {
        self.start_checked(participant, role, cmd, host, exposed, None)
            .await
    }

    /// `start`, with a healthcheck.
    async fn start_checked(
        &self,
        participant: &str,
        role: &str,
        cmd: &[&str],
        host: HostConfig,
        exposed: Option<&str>,
        healthcheck: Option<HealthConfig>,
    ) -> String {
        let name = format!("{}-{participant}", self.id);
        let body = ContainerCreateBody {
            image: Some(BUSYBOX.to_string()),
            cmd: Some(
                std::iter::once(BB)
                    .chain(cmd.iter().copied())
                    .map(str::to_string)
                    .collect(),
            ),
            labels: Some(self.labels(participant, role)),
            exposed_ports: exposed.map(|p| vec![p.to_string()]),
            host_config: Some(host),
            // `sleep` as PID 1 ignores SIGTERM: keep stops (and restarts) short.
            stop_timeout: Some(1),
            healthcheck,
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .expect("create container");
        self.docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .expect("start container");
        name
    }

    /// Run mew with `args` and this space's directory.
    fn mew(&self, args: &[&str]) -> Output {
        mew_in(&self.dir(), args)
    }
}

/// `mew space <sub> -d <dir> <rest…>`
fn mew_in(dir: &Path, args: &[&str]) -> Output {
    mew_in_cmd(dir, args).output().expect("run mew")
}

/// `mew <cmd> <sub> -d DIR <rest>` on the test engine.
fn mew_in_cmd(dir: &Path, args: &[&str]) -> Command {
    let (head, rest) = args.split_at(2.min(args.len()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.args(head)
        .arg("-d")
        .arg(dir)
        .args(rest)
        .env_remove("MEW_SPACE_ID")
        .envs(common::engine::engine_env())
        .env("NO_COLOR", "1");
    cmd
}

/// `mew_in` with `input` on standard input (answers to clean's question).
fn mew_with_input(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = mew_in_cmd(dir, args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mew");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("mew output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Drop for Space {
    fn drop(&mut self) {
        let id = self.id.clone();
        // SpaceGuard removes containers and networks; volumes (clean's test) are removed here.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                rt.block_on(remove_volumes(&id));
            }
        })
        .join();
    }
}

async fn remove_volumes(space_id: &str) {
    let docker = docker().await;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("io.mew.space={space_id}")],
    )]);
    if let Ok(vs) = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    {
        for v in vs.volumes.unwrap_or_default() {
            let _ = docker
                .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                .await;
        }
    }
}

async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn state_of(docker: &Docker, name: &str) -> bollard::models::ContainerState {
    mew_engine::podman::inspect_container(docker, name)
        .await
        .expect("inspect")
        .state
        .expect("state")
}

const MIB: i64 = 1024 * 1024;

fn limited(memory: i64) -> HostConfig {
    HostConfig {
        memory: Some(memory),
        memory_swap: Some(memory),
        ..Default::default()
    }
}

#[tokio::test]
async fn status_json_of_a_running_space() {
    let space = Space::new("status").await;
    // The gateway stand-in answers GET /participants like mew's gateway (busybox httpd ignores
    // the query string), so status's real HTTP path is exercised.
    let body = r#"{"participants":[{"id":"echo","connected":true,"capabilities":[]}]}"#;
    let script = format!(
        "mkdir -p /www && echo '{body}' > /www/participants && echo ok > /www/health && exec httpd -f -p 8080 -h /www"
    );
    let gw_host = HostConfig {
        port_bindings: Some(HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            }]),
        )])),
        ..limited(256 * MIB)
    };
    space
        .start(
            "gateway",
            "gateway",
            &["sh", "-c", &script],
            gw_host,
            Some("8080/tcp"),
        )
        .await;
    space
        .start("echo", "agent", &["sleep", "300"], limited(64 * MIB), None)
        .await;
    space
        .start(
            "idle",
            "agent",
            &["sleep", "300"],
            HostConfig::default(),
            None,
        )
        .await;

    // The gateway answers once httpd is up.
    let mut json = Value::Null;
    let mut last = String::new();
    wait_until("the gateway to answer", 10, || {
        let out = space.mew(&["space", "status", "--json"]);
        assert!(out.status.success(), "{out:?}");
        last = stdout(&out);
        json = serde_json::from_str(&last).expect("status --json is JSON");
        let ok = json["gateway_reachable"] == Value::Bool(true);
        async move { ok }
    })
    .await;
    assert_eq!(json["space_id"], space.id.as_str(), "{last}");
    assert_eq!(json["space_dir"], space.dir().to_string_lossy().as_ref());
    let url = json["gateway_url"].as_str().expect("gateway url");
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let ps = json["participants"].as_array().expect("participants");
    let names: Vec<&str> = ps
        .iter()
        .filter_map(|p| p["participant"].as_str())
        .collect();
    assert_eq!(
        names,
        ["gateway", "echo", "idle"],
        "gateway first, then by id"
    );
    let echo = &ps[1];
    assert_eq!(echo["state"], "running");
    assert_eq!(echo["role"], "agent");
    assert_eq!(echo["container"], format!("{}-echo", space.id).as_str());
    assert_eq!(echo["memory_limit_bytes"], 64 * MIB);
    assert_eq!(echo["restart_count"], 0);
    assert_eq!(echo["oom_killed"], false);
    assert_eq!(echo["exit_code"], Value::Null);
    assert_eq!(echo["joined"], true);
    assert!(echo["memory_used_bytes"].as_u64().is_some(), "{echo}");
    assert!(echo["uptime_secs"].as_i64().is_some(), "{echo}");
    assert_eq!(ps[2]["joined"], false);
    assert_eq!(ps[2]["memory_limit_bytes"], Value::Null);
    assert_eq!(ps[0]["joined"], Value::Null);
    assert_eq!(json["connected"], serde_json::json!(["echo"]));

    // Found through another directory's space.yaml (its id), not the directory label.
    let cfg = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        cfg.path().join("space.yaml"),
        format!(
            "space: {{id: {}, name: Status test}}\nparticipants: {{}}\n",
            space.id
        ),
    )
    .expect("space.yaml");
    let via_cfg = mew_in(cfg.path(), &["space", "status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&via_cfg)).expect("JSON");
    assert_eq!(
        v["participants"].as_array().map(Vec::len),
        Some(3),
        "{via_cfg:?}"
    );

    // The table, through the `ps` alias and an explicit --space-id from elsewhere.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = mew_in(elsewhere.path(), &["space", "ps", "--space-id", &space.id]);
    assert!(out.status.success(), "{out:?}");
    let table = stdout(&out);
    assert!(table.contains(&format!("Space: {}", space.id)), "{table}");
    assert!(table.contains("PARTICIPANT"), "{table}");
    let echo_row = table
        .lines()
        .find(|l| l.starts_with("echo "))
        .expect("echo row");
    assert!(
        echo_row.contains("running") && echo_row.contains("64.0 MiB"),
        "{echo_row}"
    );
    assert!(echo_row.contains("yes"), "joined: {echo_row}");
}

/// Regression (issue 14.15): right after a start the engine says `starting` until its first check
/// (Docker runs it an interval later; `scripts/demo` printed `✓ gateway healthy` and then a status
/// with the gateway `starting`). Status runs such a check itself: `healthy` when it passes, while a
/// failing one within its start period leaves `starting`.
#[tokio::test]
async fn status_health_before_the_engines_first_check() {
    let space = Space::new("unchk").await;
    const MINUTE_NS: i64 = 60_000_000_000;
    let check = |applet: &str| HealthConfig {
        test: Some(vec!["CMD".into(), BB.into(), applet.into()]),
        interval: Some(10 * MINUTE_NS),
        timeout: Some(MINUTE_NS / 6),
        start_period: Some(10 * MINUTE_NS),
        retries: Some(3),
        ..Default::default()
    };
    for (participant, role, applet) in [("gateway", "gateway", "true"), ("sick", "agent", "false")]
    {
        space
            .start_checked(
                participant,
                role,
                &["sleep", "300"],
                HostConfig::default(),
                None,
                Some(check(applet)),
            )
            .await;
    }
    let out = space.mew(&["space", "status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let health = |p: &str| {
        json["participants"]
            .as_array()
            .and_then(|ps| ps.iter().find(|x| x["participant"] == p))
            .map(|x| x["health"].clone())
    };
    assert_eq!(health("gateway"), Some(Value::from("healthy")), "{json}");
    assert_eq!(health("sick"), Some(Value::from("starting")), "{json}");
    // The engine itself has not checked yet: what status said came from its own check.
    let engine_says = state_of(&space.docker, &format!("{}-gateway", space.id))
        .await
        .health
        .and_then(|h| h.status)
        .map(|s| s.to_string());
    assert_eq!(engine_says.as_deref(), Some("starting"));
    let table = stdout(&space.mew(&["space", "status"]));
    let row = table
        .lines()
        .find(|l| l.starts_with("gateway "))
        .unwrap_or_else(|| panic!("no gateway row in {table}"));
    assert!(row.split_whitespace().any(|w| w == "healthy"), "{table}");
}

#[tokio::test]
async fn status_reports_exit_codes_and_oom_kills() {
    let space = Space::new("exited").await;
    let failed = space
        .start(
            "failing",
            "agent",
            &["sh", "-c", "exit 3"],
            HostConfig::default(),
            None,
        )
        .await;
    // `tail` keeps the current line in memory; /dev/zero has no newline, so it grows until the
    // 8 MiB limit has the kernel kill it, and the shell exits with its status (137). The engine
    // only notices an OOM kill once its watcher is on the container's cgroup, which happens just
    // after start: the first sleep lets it get there (an immediate OOM goes unreported under
    // load), the second lets the OOM event arrive before the exit.
    // A testcontainers container (removed on drop, also on panic), labelled as participant.
    let hog = common::standalone::start(
        common::standalone::busybox(&space.id, "hungry", &format!("{}-hungry", space.id))
            .with_labels(space.labels("hungry", "agent"))
            .with_cmd([
                "sh",
                "-c",
                "sleep 2; tail /dev/zero; code=$?; sleep 1; exit $code",
            ])
            .with_host_config_modifier(|hc| {
                let limit = limited(8 * MIB);
                hc.memory = limit.memory;
                hc.memory_swap = limit.memory_swap;
            }),
    )
    .await;
    let oom = hog.id().to_string();
    // Restarted twice by the engine (on-failure:2), then left exited.
    let flappy = space
        .start(
            "flappy",
            "agent",
            &["sh", "-c", "exit 1"],
            HostConfig {
                restart_policy: Some(bollard::models::RestartPolicy {
                    name: Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(2),
                }),
                ..Default::default()
            },
            None,
        )
        .await;
    wait_until("flappy to be restarted twice and stop", 20, || {
        let d = &space.docker;
        let f = &flappy;
        async move {
            let info = mew_engine::podman::inspect_container(d, f)
                .await
                .expect("inspect");
            info.restart_count == Some(2)
                && info.state.and_then(|s| s.status).map(|s| s.to_string()) == Some("exited".into())
        }
    })
    .await;
    for name in [&failed, &oom] {
        wait_until("the container to stop", 20, || {
            let d = &space.docker;
            async move { state_of(d, name).await.running == Some(false) }
        })
        .await;
    }
    // Docker records OOMKilled just after the exit; read status once it has.
    if !common::engine::on_podman() {
        wait_until("the engine to record the OOM kill", 10, || {
            let d = &space.docker;
            let name = &oom;
            async move { state_of(d, name).await.oom_killed == Some(true) }
        })
        .await;
    }
    let out = space.mew(&["space", "status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let ps = json["participants"].as_array().expect("participants");
    let failing = ps
        .iter()
        .find(|p| p["participant"] == "failing")
        .expect("failing");
    assert_eq!(failing["state"], "exited");
    assert_eq!(failing["exit_code"], 3);
    assert_eq!(failing["oom_killed"], false);
    assert_eq!(failing["uptime_secs"], Value::Null);
    let hungry = ps
        .iter()
        .find(|p| p["participant"] == "hungry")
        .expect("hungry");
    assert_eq!(hungry["state"], "exited");
    // Podman here (cgroup v1) kills at the memory limit but does not report OOMKilled.
    let podman = common::engine::on_podman();
    assert!(hungry["oom_killed"] == true || podman, "{hungry}");
    assert_eq!(hungry["exit_code"], 137);
    let flappy = ps
        .iter()
        .find(|p| p["participant"] == "flappy")
        .expect("flappy");
    assert_eq!(flappy["restart_count"], 2, "{flappy}");
    assert_eq!(flappy["exit_code"], 1);
    assert_eq!(flappy["state"], "exited");
    // No gateway container: joined is unknown.
    assert_eq!(json["gateway_url"], Value::Null);
    assert_eq!(failing["joined"], Value::Null);

    let table = stdout(&space.mew(&["space", "status"]));
    assert!(table.contains("exited (code 3)"), "{table}");
    let hungry_row = table
        .lines()
        .find(|l| l.starts_with("hungry"))
        .expect("row");
    assert!(
        hungry_row.contains("exited (code 137)") && (podman || hungry_row.contains("yes")),
        "{hungry_row}"
    );
}

#[tokio::test]
async fn logs_are_multiplexed_with_prefixes() {
    let space = Space::new("logs").await;
    space
        .start(
            "alpha",
            "agent",
            &[
                "sh",
                "-c",
                "echo oops >&2; sleep 1; for i in 1 2 3 4 5; do echo a$i; done; sleep 300",
            ],
            HostConfig::default(),
            None,
        )
        .await;
    space
        .start(
            "b",
            "agent",
            &["sh", "-c", "for i in 1 2 3; do echo b$i; done; sleep 300"],
            HostConfig::default(),
            None,
        )
        .await;
    // Stdout and stderr are copied separately by the engine: keep them apart in time so that
    // their order is deterministic.
    let wanted = ["alpha | a5", "b     | b3"];
    let mut text = String::new();
    wait_until("both containers to log", 10, || {
        let out = space.mew(&["space", "logs"]);
        assert!(out.status.success(), "{out:?}");
        text = stdout(&out);
        let ok = wanted.iter().all(|w| text.contains(w));
        async move { ok }
    })
    .await;
    // Everything, prefixed and padded to the widest participant; stderr included.
    for l in ["alpha | a1", "alpha | a5", "b     | b1", "b     | b3"] {
        assert!(text.lines().any(|x| x == l), "missing `{l}` in:\n{text}");
    }
    assert_eq!(text.lines().count(), 9, "{text}");
    // Lines of one participant keep their order.
    let a: Vec<&str> = text.lines().filter(|l| l.starts_with("alpha")).collect();
    assert_eq!(a[..2], ["alpha | oops", "alpha | a1"], "{text}");

    let tail = stdout(&space.mew(&["space", "logs", "--tail", "2"]));
    let mut got: Vec<&str> = tail.lines().collect();
    got.sort();
    assert_eq!(
        got,
        ["alpha | a4", "alpha | a5", "b     | b2", "b     | b3"],
        "{tail}"
    );

    let only_b = stdout(&space.mew(&["space", "logs", "b", "--tail", "1", "--timestamps"]));
    let line = only_b.trim_end();
    assert!(
        line.starts_with("b | 20") && line.ends_with(" b3"),
        "{only_b}"
    );

    let unknown = space.mew(&["space", "logs", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("nope") && err.contains("alpha, b"), "{err}");

    let bad_since = space.mew(&["space", "logs", "--since", "yesterday"]);
    assert_eq!(bad_since.status.code(), Some(2), "{bad_since:?}");
    let recent = stdout(&space.mew(&["space", "logs", "b", "--since", "10m"]));
    assert!(recent.contains("b | b3"), "{recent}");
}

#[tokio::test]
async fn exec_propagates_output_and_exit_code() {
    let space = Space::new("exec").await;
    space
        .start(
            "worker",
            "agent",
            &["sleep", "300"],
            HostConfig::default(),
            None,
        )
        .await;
    let out = space.mew(&[
        "space",
        "exec",
        "worker",
        "--",
        BB,
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "exec", "-d"])
        .arg(space.dir())
        .args(["worker", "--", BB, "wc", "-l"])
        .envs(common::engine::engine_env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"one\ntwo\nthree\n").expect("write stdin");
    } // closed: the command sees EOF
    let counted = child.wait_with_output().expect("wait");
    assert!(counted.status.success(), "{counted:?}");
    assert_eq!(stdout(&counted).trim(), "3", "stdin reaches the command");
    let ok = space.mew(&["space", "exec", "worker", "--", BB, "true"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let unknown = space.mew(&["space", "exec", "ghost", "--", BB, "true"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
}

#[tokio::test]
async fn restart_changes_the_start_time() {
    let space = Space::new("restart").await;
    let a = space
        .start("a", "agent", &["sleep", "300"], HostConfig::default(), None)
        .await;
    let b = space
        .start("b", "agent", &["sleep", "300"], HostConfig::default(), None)
        .await;
    let before_a = state_of(&space.docker, &a).await.started_at;
    let before_b = state_of(&space.docker, &b).await.started_at;
    let out = space.mew(&["space", "restart", "a"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("Restarted a"), "{out:?}");
    let after_a = state_of(&space.docker, &a).await;
    assert_eq!(after_a.running, Some(true));
    assert_ne!(after_a.started_at, before_a, "a was restarted");
    assert_eq!(
        state_of(&space.docker, &b).await.started_at,
        before_b,
        "b was not"
    );

    // All: the gateway first (and answering /health) before the others.
    let gw_host = HostConfig {
        port_bindings: Some(HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            }]),
        )])),
        ..Default::default()
    };
    let gw = space
        .start(
            "gateway",
            "gateway",
            &[
                "sh",
                "-c",
                "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www",
            ],
            gw_host,
            Some("8080/tcp"),
        )
        .await;
    let all = space.mew(&["space", "restart"]);
    assert!(all.status.success(), "{all:?}");
    assert!(stdout(&all).contains("Restarted gateway, a, b"), "{all:?}");
    let gw_started = state_of(&space.docker, &gw)
        .await
        .started_at
        .expect("started");
    let b_started = state_of(&space.docker, &b)
        .await
        .started_at
        .expect("started");
    assert_ne!(Some(b_started.clone()), before_b);
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time");
    assert!(
        t(&gw_started) < t(&b_started),
        "gateway {gw_started} before b {b_started}"
    );
}

#[tokio::test]
async fn clean_removes_leftovers_of_a_deleted_space_directory() {
    let space = Space::new("clean").await;
    let dir = space.dir();
    let labels = space.labels("left", "agent");
    let stopped = space
        .start("left", "agent", &["true"], HostConfig::default(), None)
        .await;
    let running = space
        .start(
            "still",
            "agent",
            &["sleep", "300"],
            HostConfig::default(),
            None,
        )
        .await;
    let net = format!("mew-{}", space.id);
    space
        .docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: net.clone(),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .expect("network");
    let vol = format!("{}-data", space.id);
    space
        .docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(vol.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .expect("volume");
    wait_until("the short container to exit", 10, || {
        let d = &space.docker;
        let s = &stopped;
        async move { state_of(d, s).await.running == Some(false) }
    })
    .await;
    std::fs::remove_dir_all(&dir).expect("delete the space directory");

    // `--all` would also touch other people's spaces on this machine: only look (dry run).
    let dry_all = mew_in(Path::new("/"), &["space", "clean", "--all", "--dry-run"]);
    assert!(dry_all.status.success(), "{dry_all:?}");
    let listed = stdout(&dry_all);
    assert!(
        listed.contains(&format!("container {stopped} ")),
        "{listed}"
    );
    assert!(listed.contains(&format!("volume {vol} ")), "{listed}");
    assert!(listed.contains(&format!("network {net} ")), "{listed}");
    assert!(
        listed.contains(&format!(
            "Keeping container {running} (space {}): running",
            space.id
        )),
        "{listed}"
    );

    let dry = mew_in(&dir, &["space", "clean", "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    assert!(stdout(&dry).contains("Would clean:"), "{dry:?}");
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &stopped)
            .await
            .is_ok()
    );
    assert!(space.docker.inspect_volume(&vol).await.is_ok());

    // A container still runs: upstream asks first, and anything but `y` aborts.
    let asked = mew_with_input(&dir, &["space", "clean"], "n\n");
    assert!(asked.status.success(), "{asked:?}");
    assert!(
        stdout(&asked).contains("Continue? (y/N): Aborted."),
        "{asked:?}"
    );
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &stopped)
            .await
            .is_ok()
    );
    // `--all` refuses a running space without --force (exit 1, as upstream).
    let refused = mew_in(&dir, &["space", "clean", "--all"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let clean = mew_with_input(&dir, &["space", "clean"], "y\n");
    assert!(clean.status.success(), "{clean:?}");
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &stopped)
            .await
            .is_err()
    );
    assert!(space.docker.inspect_volume(&vol).await.is_err());
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &running)
            .await
            .is_ok(),
        "running kept without --force"
    );

    // `--force` alone does not ask and keeps what runs; `--all --force` takes it too.
    let forced = mew_in(&dir, &["space", "clean", "--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &running)
            .await
            .is_ok()
    );
    let forced = mew_in(&dir, &["space", "clean", "--all", "--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert!(
        mew_engine::podman::inspect_container(&space.docker, &running)
            .await
            .is_err()
    );
    assert!(space
        .docker
        .inspect_network(
            &net,
            None::<bollard::query_parameters::InspectNetworkOptions>
        )
        .await
        .is_err());
    let again = mew_in(&dir, &["space", "clean"]);
    assert!(stdout(&again).contains("Nothing to clean."), "{again:?}");
}

#[tokio::test]
async fn commands_without_a_running_space() {
    let empty = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(empty.path()).expect("dir");
    let status = mew_in(&dir, &["space", "status"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert_eq!(
        stdout(&status),
        format!("No running space found in {}.\n", dir.display())
    );
    let json = mew_in(&dir, &["space", "status", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let v: Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(v["participants"], serde_json::json!([]));
    // No engine there: one sentence saying what to do, exit 1.
    let gone = mew_in(
        &dir,
        &["space", "status", "--host", "unix:///nonexistent/mew.sock"],
    );
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(
        err.starts_with("error: cannot reach") && err.lines().count() == 1,
        "{err}"
    );
    for args in [
        &["space", "logs"][..],
        &["space", "restart"][..],
        &["space", "exec", "x", "--", "true"][..],
    ] {
        let out = mew_in(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No running space found"),
            "{out:?}"
        );
    }
}

/// A running `mew space <args> -d <dir>` whose stdout is read line by line; killed on drop.
struct Follower {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Follower {
    fn spawn(dir: &Path, args: &[&str]) -> Follower {
        let (head, rest) = args.split_at(2.min(args.len()));
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mew"))
            .args(head)
            .arg("-d")
            .arg(dir)
            .args(rest)
            .env_remove("MEW_SPACE_ID")
            .envs(common::engine::engine_env())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mew");
        let out = child.stdout.take().expect("stdout");
        use tokio::io::AsyncBufReadExt;
        Follower {
            child,
            lines: tokio::io::BufReader::new(out).lines(),
        }
    }

    /// Read lines until one satisfies `pred` (within `secs`); returns it.
    async fn until(&mut self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) if pred(&line) => return line,
                Ok(Ok(Some(_))) => continue,
                Ok(other) => panic!("mew ended while waiting for {what}: {other:?}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

impl Follower {
    /// The next line matching `pred` within `ms`, or None.
    async fn try_until(&mut self, ms: u64, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) if pred(&line) => return Some(line),
                Ok(Ok(Some(_))) => continue,
                _ => return None,
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn follow_logs_watch_status_and_events() {
    let space = Space::new("follow").await;
    let ticker = space
        .start(
            "ticker",
            "agent",
            &[
                "sh",
                "-c",
                "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done",
            ],
            HostConfig::default(),
            None,
        )
        .await;
    let quiet = space
        .start(
            "quiet",
            "agent",
            &["sleep", "300"],
            HostConfig::default(),
            None,
        )
        .await;

    // Subscribed early: an engine only sends events that happen after the subscription.
    let mut events = Follower::spawn(&space.dir(), &["space", "events"]);
    // logs -f: new lines keep coming, prefixed, and continue after the container restarts.
    let tick = |l: &str| -> Option<u32> { l.strip_prefix("ticker | tick")?.parse().ok() };
    let mut logs = Follower::spawn(&space.dir(), &["space", "logs", "-f", "--tail", "1"]);
    let line = logs
        .until("tick 3 or later", 15, |l| tick(l).is_some_and(|n| n >= 3))
        .await;
    let before = tick(&line).expect("tick");
    space
        .docker
        .restart_container(
            &ticker,
            Some(
                bollard::query_parameters::RestartContainerOptionsBuilder::default()
                    .t(0)
                    .build(),
            ),
        )
        .await
        .expect("restart");
    // The restarted shell counts from 1 again.
    logs.until("ticks of the restarted container", 15, |l| {
        tick(l).is_some_and(|n| n < before)
    })
    .await;
    drop(logs);

    // status --watch --json: one JSON line per frame; a stopped container shows in a new frame.
    let mut watch = Follower::spawn(&space.dir(), &["space", "status", "--watch", "--json"]);
    let frame = watch
        .until("a first frame", 10, |l| l.starts_with('{'))
        .await;
    let v: Value = serde_json::from_str(&frame).expect("JSON frame");
    assert_eq!(
        v["participants"].as_array().map(Vec::len),
        Some(2),
        "{frame}"
    );
    space
        .docker
        .stop_container(
            &quiet,
            Some(
                bollard::query_parameters::StopContainerOptionsBuilder::default()
                    .t(0)
                    .build(),
            ),
        )
        .await
        .expect("stop");
    watch
        .until("a frame with quiet exited", 10, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                v["participants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["participant"] == "quiet" && p["state"] == "exited")
            })
        })
        .await;
    let die = events
        .until("the die event", 10, |l| l.contains(" container quiet die"))
        .await;
    assert!(die.contains("(exit code 137)"), "{die}");
}

#[tokio::test]
async fn status_logs_restart_of_a_space_started_by_up() {
    let id = unique_space_id("opsup");
    let _guard = SpaceGuard::new(&id);
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(dir.path()).expect("dir");
    std::fs::write(
        dir.join("space.yaml"),
        format!(
            "space:\n  id: {id}\n  name: Up test\nparticipants:\n  echo:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    capabilities:\n      - kind: chat\n"
        ),
    )
    .expect("space.yaml");
    let port = common::engine::free_port().to_string();
    let up = mew_in(&dir, &["space", "up", "--port", &port]);
    assert!(up.status.success(), "{up:?}");

    let out = mew_in(&dir, &["space", "status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["space_id"], id.as_str());
    assert_eq!(v["space_name"], "Up test");
    assert_eq!(v["gateway_url"], format!("ws://127.0.0.1:{port}").as_str());
    assert_eq!(v["gateway_reachable"], true, "{v}");
    let ps = v["participants"].as_array().expect("participants");
    assert_eq!(ps.len(), 2, "{v}");
    let echo = ps
        .iter()
        .find(|p| p["participant"] == "echo")
        .expect("echo");
    assert_eq!(echo["state"], "running");
    assert_eq!(echo["joined"], true, "up waits for the join: {echo}");
    assert_eq!(echo["restart_count"], 0);
    assert!(
        echo["memory_limit_bytes"].as_i64().is_some_and(|m| m > 0),
        "{echo}"
    );

    let logs = stdout(&mew_in(&dir, &["space", "logs", "echo"]));
    assert!(logs.lines().any(|l| l.starts_with("echo | ")), "{logs}");

    let restarted = mew_in(&dir, &["space", "restart", "echo"]);
    assert!(restarted.status.success(), "{restarted:?}");
    wait_until("echo to join again", 20, || {
        let out = mew_in(&dir, &["space", "status", "--json"]);
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
        let joined = v["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["participant"] == "echo" && p["joined"] == true);
        async move { joined }
    })
    .await;

    let down = mew_in(&dir, &["space", "down"]);
    assert!(down.status.success(), "{down:?}");
    let after = mew_in(&dir, &["space", "status"]);
    assert_eq!(after.status.code(), Some(0), "{after:?}");
    assert!(
        stdout(&after).contains(" is stopped (no containers in "),
        "{after:?}"
    );
}

/// `mew space events` printed a line for every healthcheck probe (exec_create, exec_start,
/// exec_die every interval), drowning what happened; they show only with -v.
#[tokio::test]
async fn events_hide_healthcheck_probes_unless_verbose() {
    let space = Space::new("evhc").await;
    let name = format!("{}-probed", space.id);
    let body = ContainerCreateBody {
        image: Some(BUSYBOX.to_string()),
        cmd: Some(vec![BB.into(), "sleep".into(), "300".into()]),
        labels: Some(space.labels("probed", "agent")),
        healthcheck: Some(bollard::models::HealthConfig {
            test: Some(vec!["CMD".into(), BB.into(), "true".into()]),
            interval: Some(1_000_000_000),
            ..Default::default()
        }),
        stop_timeout: Some(1),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    space
        .docker
        .create_container(Some(opts), body)
        .await
        .expect("create container");
    let mut quiet = Follower::spawn(&space.dir(), &["space", "events"]);
    let mut verbose = Follower::spawn(&space.dir(), &["space", "events", "-v"]);
    // Both subscribed before anything happens (an engine sends only later events, and a loaded
    // Podman can take seconds to subscribe): create and remove another labelled container until
    // both report it.
    let tick = format!("{}-tick", space.id);
    let (mut quiet_in, mut verbose_in) = (false, false);
    for _ in 0..30 {
        let body = ContainerCreateBody {
            image: Some(BUSYBOX.to_string()),
            cmd: Some(vec![BB.into(), "true".into()]),
            labels: Some(space.labels("tick", "agent")),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&tick).build();
        let _ = space.docker.create_container(Some(opts), body).await;
        let _ = space
            .docker
            .remove_container(
                &tick,
                None::<bollard::query_parameters::RemoveContainerOptions>,
            )
            .await;
        let ticked = |l: &str| l.contains(" container tick ");
        quiet_in = quiet_in || quiet.try_until(1000, ticked).await.is_some();
        verbose_in = verbose_in || verbose.try_until(1000, ticked).await.is_some();
        if quiet_in && verbose_in {
            break;
        }
    }
    assert!(
        quiet_in && verbose_in,
        "mew space events never reported the tick container"
    );
    space
        .docker
        .start_container(
            &name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .expect("start container");
    if !common::engine::on_podman() {
        // Docker runs the probe every second; -v shows it.
        verbose
            .until("a healthcheck probe with -v", 15, |l| {
                l.contains(" container probed exec_start: /bin/busybox true")
            })
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let exec = space.mew(&["space", "exec", "probed", "--", BB, "echo", "hello"]);
    assert_eq!(exec.status.code(), Some(0), "{exec:?}");
    let seen = std::cell::RefCell::new(Vec::new());
    quiet
        .until("the exec someone ran", 15, |l| {
            seen.borrow_mut().push(l.to_string());
            l.contains(" container probed exec_start: /bin/busybox echo hello")
                || (common::engine::on_podman() && l.contains(" container probed exec"))
        })
        .await;
    let seen = seen.into_inner();
    assert!(
        seen.iter().any(|l| l.contains(" container probed start")),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("busybox true") || l.contains(" exec_die")),
        "healthcheck probes shown without -v: {seen:?}"
    );
}

/// `mew <args>` run in `cwd` (no `-d`: the space is found from there).
fn mew_at(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(args)
        .current_dir(cwd)
        .env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG")
        .envs(common::engine::engine_env())
        .env("NO_COLOR", "1")
        .output()
        .expect("run mew")
}

/// Habits a compose user has: the shorthands (`mew ps`, `mew logs`), commands run from a
/// sub-folder of the space, `down` of a space that is down (exit 0), `status` of a stopped space
/// (exit 0, "stopped") and `logs` of a space without containers (its log files).
#[tokio::test]
async fn shorthands_from_a_sub_folder_and_a_stopped_space() {
    let id = unique_space_id("habit");
    let _guard = SpaceGuard::new(&id);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).expect("dir");
    std::fs::create_dir_all(dir.join(".mew")).expect(".mew");
    std::fs::write(
        dir.join(".mew/space.yaml"),
        format!(
            "space:\n  id: {id}\nparticipants:\n  echo:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    capabilities:\n      - kind: chat\n"
        ),
    )
    .expect("space.yaml");
    let sub = dir.join("src/deeper");
    std::fs::create_dir_all(&sub).expect("sub-folder");
    let port = common::engine::free_port().to_string();

    let up = mew_at(&sub, &["up", "--port", &port]);
    assert!(up.status.success(), "{up:?}");
    // The space is the one above, not a new one in the sub-folder.
    assert!(!sub.join(".mew").exists() && !sub.join("logs").exists());
    assert!(dir.join("logs/gateway.log").is_file());

    let ps = mew_at(&sub, &["ps"]);
    assert!(ps.status.success(), "{ps:?}");
    let table = stdout(&ps);
    assert!(table.contains(&format!("({id})")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("echo ") && l.contains("running")),
        "{table}"
    );
    let json = mew_at(&sub, &["status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(v["space_id"], id.as_str());

    let logs = mew_at(&sub, &["logs", "gateway"]);
    assert!(logs.status.success(), "{logs:?}");
    assert!(stdout(&logs).lines().any(|l| l.starts_with("gateway | ")));

    // `mew` is on the PATH inside the runtime image (it was only /opt/mew/mew).
    let exec = mew_at(&sub, &["exec", "echo", "--", "mew", "--version"]);
    assert_eq!(exec.status.code(), Some(0), "{exec:?}");
    assert!(
        stdout(&exec).contains(env!("CARGO_PKG_VERSION")),
        "{exec:?}"
    );
    let restart = mew_at(&sub, &["restart", "echo"]);
    assert!(restart.status.success(), "{restart:?}");

    let down = mew_at(&sub, &["down"]);
    assert!(down.status.success(), "{down:?}");
    let again = mew_at(&sub, &["down"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(stdout(&again).contains("nothing to stop"), "{again:?}");

    let status = mew_at(&sub, &["status"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert!(stdout(&status).contains(" is stopped"), "{status:?}");

    // No containers left: logs shows what the log files hold.
    let logs = mew_at(&sub, &["logs"]);
    assert_eq!(logs.status.code(), Some(0), "{logs:?}");
    let text = stdout(&logs);
    // Prefixes are padded to the longest participant id.
    let from = |l: &str, p: &str| l.split_once(" | ").is_some_and(|(who, _)| who.trim() == p);
    assert!(text.lines().any(|l| from(l, "gateway")), "{text}");
    assert!(text.lines().any(|l| from(l, "echo")), "{text}");
    let only = stdout(&mew_at(&sub, &["logs", "echo", "--tail", "1"]));
    assert_eq!(only.lines().count(), 1, "{only}");
    assert!(from(&only, "echo"), "{only}");
}

/// Two copies of one space directory, the second under another `--space-id`, wrote into the
/// same `logs/gateway.log` and `.mew/logs/envelope-history.jsonl`.
#[tokio::test]
async fn a_second_space_id_of_one_directory_keeps_separate_logs() {
    let first = unique_space_id("logsa");
    let second = unique_space_id("logsb");
    let _guards = (SpaceGuard::new(&first), SpaceGuard::new(&second));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).expect("dir");
    std::fs::create_dir_all(dir.join(".mew")).expect(".mew");
    std::fs::write(
        dir.join(".mew/space.yaml"),
        format!(
            "space:\n  id: {first}\nparticipants:\n  echo:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    capabilities:\n      - kind: chat\n"
        ),
    )
    .expect("space.yaml");
    for id in [&first, &second] {
        let port = common::engine::free_port().to_string();
        let up = mew_at(&dir, &["up", "--space-id", id, "--port", &port]);
        assert!(up.status.success(), "{up:?}");
    }
    // The file's own id keeps today's paths; the other id has its own folder.
    let joined = |log: &Path, id: &str| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(&format!("joined space {id}"))
    };
    wait_until("both echo agents to log their join", 20, || {
        let ok = joined(&dir.join("logs/echo.log"), &first)
            && joined(&dir.join(format!("logs/{second}/echo.log")), &second);
        async move { ok }
    })
    .await;
    let gateway = std::fs::read_to_string(dir.join("logs/gateway.log")).expect("gateway.log");
    let other = std::fs::read_to_string(dir.join(format!("logs/{second}/gateway.log")))
        .expect("the second gateway's log");
    assert!(
        gateway.contains(&first) && !gateway.contains(&second),
        "{gateway}"
    );
    assert!(
        other.contains(&second) && !other.contains(&first),
        "{other}"
    );
    assert!(!joined(&dir.join("logs/echo.log"), &second));
    let history = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let h1 = history(dir.join(".mew/logs/envelope-history.jsonl"));
    let h2 = history(dir.join(format!(".mew/logs/{second}/envelope-history.jsonl")));
    assert!(
        h1.contains("\"echo\"") && h2.contains("\"echo\""),
        "{h1}\n{h2}"
    );
    assert!(!h1.contains(&second) && !h2.contains(&first), "{h1}\n{h2}");
    // logs of the second space reads its own files once it is down.
    let down = mew_at(&dir, &["down", "--space-id", &second]);
    assert!(down.status.success(), "{down:?}");
    let logs = stdout(&mew_at(&dir, &["logs", "--space-id", &second, "gateway"]));
    assert!(logs.contains(&second) && !logs.contains(&first), "{logs}");
    let down = mew_at(&dir, &["down"]);
    assert!(down.status.success(), "{down:?}");
}

/// Issue 9: `mew space clean` with upstream's flags on a space directory after a few runs:
/// `--logs`, `--fifos`, `--dry-run`, `--all` (asks; `.mew/space.yaml` and tokens stay).
#[tokio::test]
async fn clean_takes_upstreams_flags_for_logs_fifos_and_runtime_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).expect("dir");
    for d in ["logs", "fifos", ".mew/logs", ".mew/tokens"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    let id = format!("clean-files-{}", std::process::id());
    std::fs::write(
        dir.join(".mew/space.yaml"),
        format!("space: {{id: {id}}}\nparticipants: {{a: {{}}}}\n"),
    )
    .expect("yaml");
    for f in [
        "logs/a.log",
        ".mew/logs/envelope-history.jsonl",
        ".mew/tokens/a.token",
    ] {
        std::fs::write(dir.join(f), "x").expect("write");
    }
    nix::unistd::mkfifo(
        &dir.join("fifos/a-in"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");

    let dry = mew_in(&dir, &["space", "clean", "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        stdout(&dry).contains("Would clean:\n  fifos/a-in\n  logs/a.log\n"),
        "{dry:?}"
    );
    assert!(dir.join("logs/a.log").exists());

    let fifos = mew_in(&dir, &["space", "clean", "--fifos"]);
    assert!(fifos.status.success(), "{fifos:?}");
    assert!(!dir.join("fifos/a-in").exists() && dir.join("logs/a.log").exists());
    let logs = mew_in(&dir, &["space", "clean", "--logs"]);
    assert!(logs.status.success(), "{logs:?}");
    assert!(!dir.join("logs/a.log").exists());

    let asked = mew_with_input(&dir, &["space", "clean", "--all"], "\n");
    assert!(
        stdout(&asked).contains("Are you sure? (y/N): Aborted."),
        "{asked:?}"
    );
    assert!(dir.join(".mew/logs/envelope-history.jsonl").exists());
    let all = mew_in(&dir, &["space", "clean", "--all", "--force"]);
    assert!(all.status.success(), "{all:?}");
    assert!(!dir.join(".mew/logs").exists(), "{all:?}");
    assert!(dir.join(".mew/space.yaml").exists() && dir.join(".mew/tokens/a.token").exists());
    let again = mew_in(&dir, &["space", "clean"]);
    assert!(stdout(&again).contains("Nothing to clean."), "{again:?}");
}

/// Issue 9: `mew space list`/`ls` (and `status` where there is no space) list every space on the
/// engine from labels, as `docker compose ls` does.
#[tokio::test]
async fn space_list_shows_every_space_from_labels() {
    let space = Space::new("list").await;
    space
        .start("a", "agent", &["sleep", "300"], HostConfig::default(), None)
        .await;
    space
        .start("b", "agent", &["true"], HostConfig::default(), None)
        .await;
    let dir = space.dir();
    let row = |out: &Output| -> Value {
        let v: Value = serde_json::from_str(&stdout(out)).expect("JSON list");
        v.as_array()
            .expect("list")
            .iter()
            .find(|r| r["id"] == space.id.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let ls = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "ls", "--json"])
        .envs(common::engine::engine_env())
        .output()
        .expect("mew space ls");
    assert!(ls.status.success(), "{ls:?}");
    let r = row(&ls);
    assert_eq!(r["dir"], dir.to_string_lossy().as_ref(), "{r}");
    assert_eq!(r["total"], 2, "{r}");
    // `true` exits at once; the other one runs.
    wait_until("b to exit", 10, || {
        let out = Command::new(env!("CARGO_BIN_EXE_mew"))
            .args(["space", "list", "--json"])
            .envs(common::engine::engine_env())
            .output()
            .expect("mew space list");
        let done = row(&out)["up"] == 1;
        async move { done }
    })
    .await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let status = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "status"])
        .current_dir(nowhere.path())
        .env_remove("MEW_SPACE_ID")
        .envs(common::engine::engine_env())
        .output()
        .expect("mew space status");
    let text = stdout(&status);
    assert!(text.contains("No running space found"), "{text}");
    assert!(text.contains("SPACE") && text.contains(&space.id), "{text}");
    assert!(text.contains("partial  1/2"), "{text}");
}
