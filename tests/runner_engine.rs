//! Engine layer against the real engine: connection, the runtime image and volume built from
//! the running (test) executable, networks and containers from a `ContainerSpec`, observation.
mod common;

use bollard::query_parameters::WaitContainerOptions;
use common::engine::*;
use futures_util::StreamExt;
use mew_engine::{container, image, network, observe, volume, EngineError};
use mew_space::plan::*;
use std::collections::BTreeMap;

#[tokio::test]
async fn connects_and_negotiates_an_api_the_engine_accepts() {
    let engine = engine().await;
    assert!(!engine.info.version.is_empty());
    // Whatever the engine offers, we talk a version it accepts: a real request must succeed.
    engine
        .docker
        .ping()
        .await
        .expect("ping with the negotiated version");
    let list = engine
        .docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await;
    assert!(list.is_ok(), "{list:?}");
}

/// An agent as nobody (65534), in `/` with `HELLO=world`, read-only root, logs capped at 1m.
fn busybox_spec(space: &str, participant: &str, script: &str) -> ContainerSpec {
    let mut spec = busybox_container(space, participant, Role::Agent, script);
    spec.env = BTreeMap::from([("HELLO".into(), "world".into())]);
    spec.working_dir = Some("/".into());
    spec.user = Some("65534:65534".into());
    spec.log.options = BTreeMap::from([("max-size".into(), "1m".into())]);
    spec.read_only_rootfs = true;
    spec.with_hash()
}

async fn exit_code(docker: &bollard::Docker, name: &str) -> i64 {
    let mut wait = docker.wait_container(name, None::<WaitContainerOptions>);
    let mut code = -1;
    while let Some(r) = wait.next().await {
        code = match r {
            Ok(r) => r.status_code,
            Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => code,
            Err(e) => panic!("wait {name}: {e}"),
        };
    }
    code
}

/// The runtime image and volume of the running executable (here: this test binary, dynamic
/// glibc) run both in the scratch image and, through the volume, inside the busybox image.
#[tokio::test]
async fn runtime_image_and_volume_run_mew_in_any_image() {
    let engine = engine().await;
    let docker = &engine.docker;
    ensure_busybox(docker).await;
    let space = unique_space_id("img");
    let _guard = SpaceGuard::new(&space);
    let rt = image::Runtime::current().expect("runtime");
    let tag = image::build_runtime_image(docker, &|_| {})
        .await
        .expect("build");
    assert_eq!(tag, rt.image_tag());
    assert_eq!(
        image::runtime_image_state(docker).await.expect("state"),
        image::ImageState::Current
    );
    let vol = rt.volume_name();
    volume::ensure_runtime_volume(docker, engine.info.kind, &vol, &tag)
        .await
        .expect("volume");
    assert!(volume::volume_exists(docker, &vol).await.expect("exists"));

    network::create_network(
        docker,
        &NetworkSpec {
            name: format!("mew-{space}"),
            labels: labels_for(&space, "net", Role::Agent),
        },
    )
    .await
    .expect("network");
    // `--list` makes the libtest harness print its tests and exit 0: proof that the binary and
    // its libraries load. In the runtime image itself:
    let mut in_scratch = busybox_spec(&space, "scratch", "");
    in_scratch.image = tag.clone();
    in_scratch.cmd = rt.argv();
    in_scratch.cmd.push("--list".into());
    container::create_and_start(docker, &in_scratch)
        .await
        .expect("start scratch");
    // And in busybox, with mew from the read-only volume (only created, never started, on Docker).
    let mut in_busybox = busybox_spec(&space, "busybox", "");
    in_busybox.cmd = rt.argv();
    in_busybox.cmd.push("--list".into());
    in_busybox.mounts.push(Mount {
        kind: MountKind::Volume,
        source: vol.clone(),
        target: "/opt/mew".into(),
        read_only: true,
        relative: None,
    });
    container::create_and_start(docker, &in_busybox)
        .await
        .expect("start busybox");
    assert_eq!(exit_code(docker, &in_scratch.name).await, 0);
    assert_eq!(exit_code(docker, &in_busybox.name).await, 0);

    remove_space_objects(docker, &space).await;
    volume::remove_volume(docker, &vol)
        .await
        .expect("remove volume");
    // The build also moved the `mew:<version>` alias onto this test-harness image: take both
    // tags off, so a later `mew:<version>` user never runs the test binary.
    let id = docker.inspect_image(&tag).await.ok().and_then(|i| i.id);
    let alias = format!("mew:{}", image::crate_version());
    let alias_id = docker.inspect_image(&alias).await.ok().and_then(|i| i.id);
    let mut tags = vec![tag.clone()];
    if id.is_some() && id == alias_id {
        tags.push(alias);
    }
    for t in tags {
        let _ = docker
            .remove_image(
                &t,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

#[tokio::test]
async fn containers_get_limits_labels_and_hardening_and_ports_conflict_cleanly() {
    let engine = engine().await;
    let docker = &engine.docker;
    ensure_busybox(docker).await;
    let space = unique_space_id("ctr");
    let _guard = SpaceGuard::new(&space);
    let net = NetworkSpec {
        name: format!("mew-{space}"),
        labels: labels_for(&space, "net", Role::Agent),
    };
    network::create_network(docker, &net)
        .await
        .expect("network");

    let port = free_port();
    let mut a = busybox_spec(&space, "a", "exec /bin/busybox sleep 30");
    a.restart = RestartPolicy::OnFailure(Some(2));
    a.ports = vec![PortPublish {
        host_ip: "127.0.0.1".into(),
        host_port: port,
        container_port: 7000,
    }];
    let a = a.with_hash();
    container::create_and_start(docker, &a)
        .await
        .expect("start a");
    let info = docker
        .inspect_container(
            &a.name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("inspect");
    let hc = info.host_config.expect("host config");
    assert_eq!(hc.memory, Some(64 << 20));
    assert_eq!(hc.pids_limit, Some(64));
    assert_drops_all_caps(hc.cap_drop);
    assert_eq!(hc.readonly_rootfs, Some(true));
    let rp = hc.restart_policy.expect("restart policy");
    assert_eq!(
        rp.name.map(|n| n.to_string()).as_deref(),
        Some("on-failure")
    );
    assert_eq!(rp.maximum_retry_count, Some(2));
    assert_eq!(
        hc.log_config.and_then(|l| l.typ).as_deref(),
        Some("json-file")
    );
    let cfg = info.config.expect("config");
    assert_eq!(cfg.user.as_deref(), Some("65534:65534"));
    let lbl = cfg.labels.expect("labels");
    assert_eq!(lbl.get(labels::SPACE), Some(&space));
    assert_eq!(lbl.get(labels::CONFIG_HASH), Some(&a.config_hash()));

    // Same host port for a second container: a typed error naming the port, nothing left.
    let mut b = busybox_spec(&space, "b", "exec /bin/busybox sleep 30");
    b.ports = a.ports.clone();
    let err = container::create_and_start(docker, &b)
        .await
        .expect_err("port taken");
    match err {
        EngineError::PortTaken { port: p, .. } => assert_eq!(p, port),
        other => panic!("expected PortTaken, got {other}"),
    }
    let observed = observe::observe_space(docker, &space, None)
        .await
        .expect("observe");
    assert_eq!(observed.containers.len(), 1, "{:?}", observed.containers);
    assert_eq!(observed.containers[0].participant(), Some("a"));
    assert!(observed.containers[0].is_running());
    assert_eq!(observed.networks.len(), 1);
    let dirs = observe::dirs_of_space(docker, &space).await.expect("dirs");
    assert_eq!(
        dirs,
        vec![std::path::PathBuf::from(format!("/tmp/{space}"))]
    );
    let ids = observe::spaces_in_dir(docker, &dirs[0])
        .await
        .expect("by dir");
    assert_eq!(ids, vec![space.clone()]);

    container::stop_and_remove(docker, &a.name, Some(1))
        .await
        .expect("remove");
    container::stop_and_remove(docker, &a.name, Some(1))
        .await
        .expect("already gone is fine");
    network::remove_network(docker, &net.name)
        .await
        .expect("remove network");
    assert_eq!(count_space_objects(docker, &space).await, 0);
}

/// The fallback for exhausted default pools: explicit /24s from mew's pool, skipping used ones,
/// and a clear error when the pool is full too.
#[tokio::test]
async fn networks_get_explicit_subnets_from_mews_pool() {
    let docker = docker().await;
    let space = unique_space_id("pool");
    let _guard = SpaceGuard::new(&space);
    let spec = |n: &str| NetworkSpec {
        name: format!("mew-{space}-{n}"),
        labels: labels_for(&space, "net", Role::Agent),
    };
    // A /23 holds two /24s.
    let pool = "10.214.254.0/23";
    let subnet_of = |id: String| {
        let docker = docker.clone();
        async move {
            docker
                .inspect_network(
                    &id,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
                .await
                .expect("inspect")
                .ipam
                .and_then(|i| i.config)
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.subnet)
                .expect("subnet")
        }
    };
    let one = network::create_in_pool(&docker, &spec("1"), pool)
        .await
        .expect("first");
    let two = network::create_in_pool(&docker, &spec("2"), pool)
        .await
        .expect("second");
    let (s1, s2) = (subnet_of(one).await, subnet_of(two).await);
    assert_ne!(s1, s2);
    for s in [&s1, &s2] {
        assert!(s == "10.214.254.0/24" || s == "10.214.255.0/24", "{s}");
    }
    let err = network::create_in_pool(&docker, &spec("3"), pool)
        .await
        .expect_err("the pool is full");
    assert!(
        matches!(err, EngineError::AddressPoolsExhausted { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("default-address-pools"), "{err}");
}
