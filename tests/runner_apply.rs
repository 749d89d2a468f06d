//! `apply` with hand-made plans on the real engine: stages in order, health polling from the
//! host, and rollback of exactly what the run created when something fails.
mod common;

use common::engine::*;
use mew_engine::apply::{apply, ApplyContext, ApplyError, Progress};
use mew_engine::EngineError;
use mew_space::plan::*;
use std::sync::Mutex;
use std::time::Duration;

fn spec(space: &str, participant: &str, role: Role, script: &str) -> ContainerSpec {
    busybox_container(space, participant, role, script).with_hash()
}

/// A stand-in gateway: busybox httpd answering `/health` with `{"status":"ok"}`.
/// (In /dev/shm: Podman makes `/` of a container read-only to a root without capabilities.)
fn fake_gateway(space: &str, port: u16) -> ContainerSpec {
    let mut g = spec(
        space,
        "gateway",
        Role::Gateway,
        "/bin/busybox mkdir -p /dev/shm/w && echo '{\"status\":\"ok\"}' > /dev/shm/w/health && exec /bin/busybox httpd -f -p 7000 -h /dev/shm/w",
    );
    g.ports = vec![PortPublish {
        host_ip: "127.0.0.1".into(),
        host_port: port,
        container_port: 7000,
    }];
    g.with_hash()
}

fn plan(space: &str, gateway: ContainerSpec, others: Vec<ContainerSpec>) -> Plan {
    let port = gateway.ports[0].host_port;
    Plan {
        stages: vec![
            Stage {
                title: "network".into(),
                actions: vec![Action::CreateNetwork(NetworkSpec {
                    name: format!("mew-{space}"),
                    labels: labels_for(space, "network", Role::Infra),
                })],
            },
            Stage {
                title: "gateway".into(),
                actions: vec![Action::CreateAndStart(Box::new(gateway))],
            },
            Stage {
                title: "health".into(),
                actions: vec![Action::WaitHealthy {
                    name: format!("{space}-gateway"),
                    url: format!("http://127.0.0.1:{port}/health"),
                }],
            },
            Stage {
                title: "participants".into(),
                actions: others
                    .into_iter()
                    .map(|s| Action::CreateAndStart(Box::new(s)))
                    .collect(),
            },
        ],
    }
}

fn ctx(space: &str, port: u16) -> ApplyContext {
    let mut c = ApplyContext::new(space, std::env::temp_dir(), "127.0.0.1", port);
    c.health_timeout = Duration::from_secs(15);
    c
}

#[tokio::test]
async fn plan_runs_in_stages_and_reports_progress() {
    let engine = engine().await;
    ensure_busybox(&engine.docker).await;
    let space = unique_space_id("apply");
    let _guard = SpaceGuard::new(&space);
    let port = free_port();
    let agents = vec![
        spec(&space, "a1", Role::Agent, "exec /bin/busybox sleep 60"),
        spec(&space, "a2", Role::Agent, "exec /bin/busybox sleep 60"),
    ];
    let lines = Mutex::new(Vec::new());
    let outcome = apply(
        &engine,
        &plan(&space, fake_gateway(&space, port), agents),
        &ctx(&space, port),
        &|p| lines.lock().expect("lock").push(p),
    )
    .await
    .expect("apply");
    assert_eq!(outcome.created.len(), 3);
    assert_eq!(outcome.network_created, Some(format!("mew-{space}")));
    let lines = lines.into_inner().expect("lines");
    assert!(
        lines.contains(&Progress::Done("gateway started".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&Progress::Done("gateway healthy".into())),
        "{lines:?}"
    );
    let observed = mew_engine::observe::observe_space(&engine.docker, &space, None)
        .await
        .expect("observe");
    assert_eq!(observed.containers.len(), 3);
    assert!(observed.containers.iter().all(|c| c.is_running()));
    // Participants reach the gateway by its alias on the space network.
    let mew_client::http::Response { status, body } = mew_client::http::get(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(2),
    )
    .await
    .expect("health from the host");
    assert_eq!((status, body.trim()), (200, "{\"status\":\"ok\"}"));
}

#[tokio::test]
async fn a_taken_port_rolls_back_everything_this_run_created() {
    let engine = engine().await;
    ensure_busybox(&engine.docker).await;
    let space = unique_space_id("taken");
    let _guard = SpaceGuard::new(&space);
    // Someone else holds the port.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let err = apply(
        &engine,
        &plan(&space, fake_gateway(&space, port), vec![]),
        &ctx(&space, port),
        &|_| {},
    )
    .await
    .expect_err("port is taken");
    match err.engine_error() {
        Some(EngineError::PortTaken { port: p, .. }) => assert_eq!(*p, port),
        _ => panic!("expected a taken port, got: {err}"),
    }
    // What the user reads (the error and its causes, each once) names the port.
    assert!(mew_space::error_line(&err).contains(&port.to_string()));
    assert_eq!(count_space_objects(&engine.docker, &space).await, 0);
}

#[tokio::test]
async fn a_gateway_that_dies_fails_fast_and_is_rolled_back() {
    let engine = engine().await;
    ensure_busybox(&engine.docker).await;
    let space = unique_space_id("dies");
    let _guard = SpaceGuard::new(&space);
    let port = free_port();
    let mut gw = fake_gateway(&space, port);
    gw.cmd = vec![
        "/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        "exit 3".into(),
    ];
    let started = std::time::Instant::now();
    let err = apply(
        &engine,
        &plan(&space, gw.with_hash(), vec![]),
        &ctx(&space, port),
        &|_| {},
    )
    .await
    .expect_err("gateway exits");
    assert!(matches!(err, ApplyError::GatewayExited { .. }), "{err}");
    assert!(err.to_string().contains("code 3"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(count_space_objects(&engine.docker, &space).await, 0);
}

/// Regression (issue 13.8): the output shown is the container's own (read from the engine before
/// the rollback removes it), not a `logs/gateway.log` that may not exist (here `logs/` is missing
/// and the space directory is read-only).
#[tokio::test]
async fn an_unhealthy_gateway_times_out_shows_its_log_and_is_rolled_back() {
    let engine = engine().await;
    ensure_busybox(&engine.docker).await;
    let space = unique_space_id("sick");
    let _guard = SpaceGuard::new(&space);
    let port = free_port();
    // Runs, publishes the port, says why on stderr, never answers /health.
    let mut gw = fake_gateway(&space, port);
    gw.cmd = vec![
        "/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        "echo starting; echo 'failed to bind: boom' >&2; exec /bin/busybox sleep 60".into(),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut c = ctx(&space, port);
    c.space_dir = dir.path().to_path_buf();
    c.health_timeout = Duration::from_secs(3);
    let lines = Mutex::new(Vec::new());
    let err = apply(&engine, &plan(&space, gw.with_hash(), vec![]), &c, &|p| {
        lines.lock().expect("lock").push(p)
    })
    .await
    .expect_err("never healthy");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert!(matches!(err, ApplyError::Unhealthy { .. }), "{err}");
    assert!(!err.to_string().contains("logs/gateway.log"), "{err}");
    let lines = lines.into_inner().expect("lines");
    let shown = lines.iter().find_map(|p| match p {
        Progress::ContainerLog { participant, tail } if participant == "gateway" => Some(tail),
        _ => None,
    });
    let shown = shown.unwrap_or_else(|| panic!("no container output in {lines:?}"));
    assert!(shown.contains("starting"), "{shown}");
    assert!(shown.contains("failed to bind: boom"), "{shown}");
    assert_eq!(count_space_objects(&engine.docker, &space).await, 0);
}

/// Regression (issue 13.6): a reconfiguration that fails must leave the old containers running.
/// The container to recreate is set aside (stopped, renamed) first; its replacement cannot start
/// (no such executable), so the run is rolled back and the old container is back under its name,
/// running, with its old id. A successful recreate leaves no set-aside copy.
#[tokio::test]
async fn a_failed_recreate_brings_the_old_container_back() {
    let engine = engine().await;
    ensure_busybox(&engine.docker).await;
    let space = unique_space_id("rollbk");
    let _guard = SpaceGuard::new(&space);
    let port = free_port();
    let old = spec(&space, "p", Role::Agent, "exec /bin/busybox sleep 60");
    apply(
        &engine,
        &plan(&space, fake_gateway(&space, port), vec![old.clone()]),
        &ctx(&space, port),
        &|_| {},
    )
    .await
    .expect("first apply");
    let old_id = mew_engine::podman::inspect_container(&engine.docker, &old.name)
        .await
        .expect("inspect")
        .id;

    let recreate = |new: ContainerSpec| Plan {
        stages: vec![
            Stage {
                title: "remove".into(),
                actions: vec![Action::RemoveContainer {
                    name: new.name.clone(),
                    reason: RemoveReason::Changed,
                }],
            },
            Stage {
                title: "participants".into(),
                actions: vec![Action::CreateAndStart(Box::new(new))],
            },
        ],
    };
    let mut broken = old.clone();
    broken.cmd = vec!["/no/such/exe".into()];
    let lines = Mutex::new(Vec::new());
    let err = apply(
        &engine,
        &recreate(broken.with_hash()),
        &ctx(&space, port),
        &|p| lines.lock().expect("lock").push(p),
    )
    .await
    .expect_err("the replacement cannot start");
    let lines = lines.into_inner().expect("lines");
    assert!(
        lines.contains(&Progress::RolledBack(format!("{} restored", old.name))),
        "{err}: {lines:?}"
    );
    let back = mew_engine::podman::inspect_container(&engine.docker, &old.name)
        .await
        .expect("the old container is back");
    assert_eq!(back.id, old_id);
    assert_eq!(back.state.and_then(|s| s.running), Some(true));
    let aside = format!("{}-mew-old", old.name);
    assert!(
        mew_engine::podman::inspect_container(&engine.docker, &aside)
            .await
            .is_err()
    );

    let mut good = old.clone();
    good.cmd.push("ignored".into());
    apply(
        &engine,
        &recreate(good.with_hash()),
        &ctx(&space, port),
        &|_| {},
    )
    .await
    .expect("a good recreate");
    let now = mew_engine::podman::inspect_container(&engine.docker, &old.name)
        .await
        .expect("inspect");
    assert_ne!(now.id, old_id, "replaced");
    assert!(
        mew_engine::podman::inspect_container(&engine.docker, &aside)
            .await
            .is_err()
    );
}
