//! Test harness for the runner: the real engine, a busybox test image, unique space ids, free
//! ports, and a guard that removes everything labelled with a test's space id, even on panic.
#![allow(dead_code)]

use bollard::query_parameters::{BuildImageOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use mew_engine::observe::{containers_with, networks_with};
use mew_space::plan::{labels, ContainerSpec, LogConfig, Resources, RestartPolicy, Role};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Image with only `/bin/busybox` (no shell symlinks: call `/bin/busybox sh -c …`).
pub const BUSYBOX: &str = "mew-test-busybox:latest";

/// The engine the tests run against: `MEW_TEST_ENGINE=podman` (socket `MEW_TEST_PODMAN_SOCKET`,
/// default /run/podman/podman.sock) or `docker` (/var/run/docker.sock); unset: mew's own discovery.
pub fn engine_host() -> Option<String> {
    match std::env::var("MEW_TEST_ENGINE")
        .ok()?
        .to_ascii_lowercase()
        .as_str()
    {
        "podman" => Some(
            std::env::var("MEW_TEST_PODMAN_SOCKET")
                .unwrap_or_else(|_| "unix:///run/podman/podman.sock".to_string()),
        ),
        "docker" => Some("unix:///var/run/docker.sock".to_string()),
        other => panic!("MEW_TEST_ENGINE must be docker or podman, not `{other}`"),
    }
}

/// Environment for the `mew` processes a test spawns, so they use the same engine.
pub fn engine_env() -> Vec<(&'static str, String)> {
    engine_host()
        .map(|h| vec![("DOCKER_HOST", h)])
        .unwrap_or_default()
}

pub async fn engine() -> mew_engine::Engine {
    mew_engine::connect(engine_host().as_deref())
        .await
        .expect("these tests need a running container engine")
}

pub async fn docker() -> Docker {
    engine().await.docker
}

/// A space id unique to this process and call: `t-<pid>-<n>`.
pub fn unique_space_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A port nobody listens on right now (127.0.0.1).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Build `mew-test-busybox:latest` from a `FROM scratch` context holding the host's busybox.
pub async fn ensure_busybox(docker: &Docker) {
    if docker.inspect_image(BUSYBOX).await.is_ok() {
        return;
    }
    let dockerfile = b"FROM scratch\nCOPY busybox /bin/busybox\n";
    build_with_busybox(docker, BUSYBOX, dockerfile, "the busybox test image").await;
}

/// Build image `tag` from a context holding `dockerfile` and the host's `/bin/busybox` (as
/// `busybox`); `what` names the image in the panic when the build fails.
pub async fn build_with_busybox(docker: &Docker, tag: &str, dockerfile: &[u8], what: &str) {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut tar = tar::Builder::new(Vec::new());
    for (name, mode, data) in [
        ("Dockerfile", 0o644, dockerfile),
        ("busybox", 0o755, &busybox[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        tar.append_data(&mut h, name, data).expect("tar");
    }
    let body = tar.into_inner().expect("tar");
    let mut stream = docker.build_image(
        BuildImageOptions {
            t: Some(tag.to_string()),
            rm: true,
            ..Default::default()
        },
        None,
        Some(bollard::body_full(body.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("build {what}: {e}"));
        assert!(
            info.error_detail.is_none(),
            "{what}: {:?}",
            info.error_detail
        );
    }
}

/// The labels of a space's object: space id, space dir `/tmp/<space>`, participant and role.
pub fn labels_for(space: &str, participant: &str, role: Role) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::SPACE.to_string(), space.to_string()),
        (labels::SPACE_DIR.to_string(), format!("/tmp/{space}")),
        (labels::PARTICIPANT.to_string(), participant.to_string()),
        (labels::ROLE.to_string(), role.as_str().to_string()),
    ])
}

/// Container `<space>-<participant>` on network `mew-<space>` running `/bin/busybox sh -c
/// <script>` from [`BUSYBOX`]: as root, 64 MiB and 64 pids at most, no restart, json-file logs,
/// 1 s stop grace, all capabilities dropped, no new privileges, writable root. Without the config
/// hash: change what a test needs, then call `.with_hash()`.
pub fn busybox_container(
    space: &str,
    participant: &str,
    role: Role,
    script: &str,
) -> ContainerSpec {
    ContainerSpec {
        name: format!("{space}-{participant}"),
        participant: participant.into(),
        role,
        image: BUSYBOX.into(),
        cmd: vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
        ],
        env: BTreeMap::new(),
        working_dir: None,
        user: Some("0:0".into()),
        mounts: vec![],
        network: format!("mew-{space}"),
        aliases: vec![participant.into()],
        ports: vec![],
        resources: Resources {
            memory_bytes: Some(64 << 20),
            nano_cpus: None,
            pids_limit: Some(64),
        },
        restart: RestartPolicy::No,
        log: LogConfig {
            driver: "json-file".into(),
            options: BTreeMap::new(),
        },
        stop_grace_secs: 1,
        init: false,
        cap_drop_all: true,
        no_new_privileges: true,
        read_only_rootfs: false,
        healthcheck: None,
        token_digest: None,
        labels: labels_for(space, participant, role),
    }
}

/// Remove every container and network labelled with a space id.
pub async fn remove_space_objects(docker: &Docker, space_id: &str) {
    let filter = format!("{}={space_id}", labels::SPACE);
    if let Ok(cs) = containers_with(docker, &filter).await {
        for c in cs {
            let _ = docker
                .remove_container(
                    &c.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
    if let Ok(ns) = networks_with(docker, &filter).await {
        for n in ns {
            let _ = docker.remove_network(&n.id).await;
        }
    }
}

/// Count of containers + networks labelled with a space id.
pub async fn count_space_objects(docker: &Docker, space_id: &str) -> usize {
    let filter = format!("{}={space_id}", labels::SPACE);
    containers_with(docker, &filter).await.expect("list").len()
        + networks_with(docker, &filter).await.expect("list").len()
}

/// Removes the space's engine objects when dropped (test end, failure or panic).
pub struct SpaceGuard {
    pub id: String,
    /// The engine to clean up on: `DOCKER_HOST`-style address, or None for mew's discovery.
    host: Option<String>,
}

impl SpaceGuard {
    /// On the engine the tests run against ([`engine_host`]).
    pub fn new(id: &str) -> Self {
        SpaceGuard {
            id: id.to_string(),
            host: engine_host(),
        }
    }

    /// On the engine at `host` (e.g. `unix:///var/run/docker.sock`).
    pub fn on_host(host: &str, id: &str) -> Self {
        SpaceGuard {
            id: id.to_string(),
            host: Some(host.to_string()),
        }
    }
}

impl Drop for SpaceGuard {
    fn drop(&mut self) {
        let (id, host) = (self.id.clone(), self.host.clone());
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(engine) = mew_engine::connect(host.as_deref()).await {
                        remove_space_objects(&engine.docker, &id).await;
                    }
                });
            }
        })
        .join();
    }
}

/// The `mew` binary under test, with no space picked by the environment (`MEW_SPACE_ID` and
/// `MEW_SPACE_CONFIG` removed).
pub fn mew_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG");
    cmd
}

/// A finished command for a failure message: its exit code, stdout and stderr.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Assert an inspected `HostConfig.CapDrop` drops every capability: Docker reports `["ALL"]`,
/// Podman the list of capabilities it dropped (its whole default set).
pub fn assert_drops_all_caps(cap_drop: Option<Vec<String>>) {
    let dropped = cap_drop.unwrap_or_default();
    let podman_default_set = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    let expanded = podman_default_set
        .iter()
        .all(|c| dropped.iter().any(|d| d == c));
    assert!(
        dropped == ["ALL"] || expanded,
        "capabilities kept: {dropped:?}"
    );
}

/// Whether the tests run against Podman (`MEW_TEST_ENGINE=podman`).
pub fn on_podman() -> bool {
    engine_host().is_some_and(|h| h.contains("podman"))
}

/// Podman's own inspect of a container (`/libpod/containers/<name>/json`), which reports what the
/// Docker-compatible one leaves out (e.g. the log size limit).
pub fn podman_inspect(name: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = engine_host().expect("MEW_TEST_ENGINE=podman");
    let path = host.trim_start_matches("unix://");
    let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect to podman");
    write!(
        s,
        "GET /v4.0.0/libpod/containers/{name}/json HTTP/1.0\r\nHost: d\r\n\r\n"
    )
    .expect("request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    let body = resp.split_once("\r\n\r\n").expect("http response").1;
    serde_json::from_str(body).expect("json")
}

/// On Podman: whether netavark's FORWARD jump to its isolation chain is in place (true when
/// not on Podman, or when it cannot be checked).
pub fn netavark_isolation_jump() -> bool {
    if !on_podman() {
        return true;
    }
    std::process::Command::new("iptables")
        .args(["-C", "FORWARD", "-j", "NETAVARK_ISOLATION_1"])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(true)
}
