//! Test harness for the runner: the real engine, a busybox test image, unique space ids, free
//! ports, and a guard that removes everything labelled with a test's space id, even on panic.
#![allow(dead_code)]

use bollard::query_parameters::{BuildImageOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use mew::engine::observe::{containers_with, networks_with};
use mew::plan::labels;
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

pub async fn engine() -> mew::engine::Engine {
    mew::engine::connect(engine_host().as_deref())
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
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile = b"FROM scratch\nCOPY busybox /bin/busybox\n";
    for (name, mode, data) in [
        ("Dockerfile", 0o644, &dockerfile[..]),
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
            t: Some(BUSYBOX.to_string()),
            rm: true,
            ..Default::default()
        },
        None,
        Some(bollard::body_full(body.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.expect("build the busybox test image");
        assert!(info.error.is_none(), "busybox image: {:?}", info.error);
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
}

impl SpaceGuard {
    pub fn new(id: &str) -> Self {
        SpaceGuard { id: id.to_string() }
    }
}

impl Drop for SpaceGuard {
    fn drop(&mut self) {
        let id = self.id.clone();
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(engine) = mew::engine::connect(engine_host().as_deref()).await {
                        remove_space_objects(&engine.docker, &id).await;
                    }
                });
            }
        })
        .join();
    }
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
