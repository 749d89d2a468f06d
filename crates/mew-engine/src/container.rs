//! Containers from a `ContainerSpec`: create + start, start, stop + remove.
//!
//! Only fields that API 1.41 knows are set (Docker 20.10, Podman 4.x): e.g. no healthcheck
//! `start_interval`.
use super::{is_not_found, status_code, EngineError, EngineKind};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkingConfig, PortBinding, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, RenameContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use mew_space::plan::{ContainerSpec, MountKind, RestartPolicy};
use std::collections::HashMap;

const MS_TO_NS: i64 = 1_000_000;

/// The engine's create request for a spec (pure).
pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    // The image's own ENTRYPOINT is replaced: cmd[0] becomes the entrypoint, the rest its args.
    let (entrypoint, args) = match spec.cmd.split_first() {
        Some((first, rest)) => (Some(vec![first.clone()]), rest.to_vec()),
        None => (None, Vec::new()),
    };
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    // bollard sends this list as the API's `{"80/tcp": {}}` map: one entry per port.
    let mut exposed: Vec<String> = Vec::new();
    for p in &spec.ports {
        let key = format!("{}/tcp", p.container_port);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            typ: Some(match m.kind {
                MountKind::Bind => MountType::BIND,
                MountKind::Volume => MountType::VOLUME,
            }),
            source: Some(m.source.clone()),
            target: Some(m.target.clone()),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let (restart_name, max_retries) = match spec.restart {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::OnFailure(n) => (RestartPolicyNameEnum::ON_FAILURE, n.map(i64::from)),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
    };
    let host_config = HostConfig {
        memory: spec.resources.memory_bytes,
        // No swap on top of the limit: the limit is the limit (and OOM kills are predictable).
        memory_swap: spec.resources.memory_bytes,
        nano_cpus: spec.resources.nano_cpus,
        pids_limit: spec.resources.pids_limit,
        restart_policy: Some(bollard::models::RestartPolicy {
            name: Some(restart_name),
            maximum_retry_count: max_retries,
        }),
        log_config: Some(HostConfigLogConfig {
            typ: Some(spec.log.driver.clone()),
            config: Some(spec.log.options.clone().into_iter().collect()),
        }),
        cap_drop: spec.cap_drop_all.then(|| vec!["ALL".to_string()]),
        security_opt: spec
            .no_new_privileges
            .then(|| vec!["no-new-privileges".to_string()]),
        readonly_rootfs: Some(spec.read_only_rootfs),
        init: spec.init.then_some(true),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        mounts: Some(mounts),
        network_mode: Some(spec.network.clone()),
        ..Default::default()
    };
    let healthcheck = spec.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: Some(h.interval_ms as i64 * MS_TO_NS),
        timeout: Some(h.timeout_ms as i64 * MS_TO_NS),
        retries: Some(i64::from(h.retries)),
        start_period: Some(h.start_period_ms as i64 * MS_TO_NS),
        start_interval: None,
    });
    // `container:<name>` joins another container's namespace: there is no endpoint to configure,
    // and Podman refuses one ("networks … can only be used with Bridge mode networking").
    let networking_config = (!spec.network.starts_with("container:")).then(|| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            spec.network.clone(),
            EndpointSettings {
                aliases: (!spec.aliases.is_empty()).then(|| spec.aliases.clone()),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint,
        cmd: Some(args),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        labels: Some(spec.labels.clone().into_iter().collect()),
        stop_timeout: Some(spec.stop_grace_secs as i64),
        healthcheck,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

/// What the engine at hand needs beyond the spec: facts found by asking the engine while
/// applying, which the pure plan cannot know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineAdjust {
    /// Rootless Podman: map the caller's uid to the same uid inside (`keep-id`), so files the
    /// container writes in the space stay the caller's.
    pub keep_id: bool,
    /// `name:ip` lines for the container's /etc/hosts (see `podman::gateway_hosts`).
    pub extra_hosts: Vec<String>,
    /// SELinux is enforcing on the engine's host: bind mounts are relabelled (`:z`, shared
    /// between the space's containers) or the containers could not read the space directory.
    pub selinux_relabel: bool,
}

impl EngineAdjust {
    /// The adjustments `kind` always needs (the per-container ones are added by the caller).
    pub fn for_engine(kind: EngineKind, selinux: bool) -> EngineAdjust {
        EngineAdjust {
            keep_id: kind == EngineKind::Podman && !nix::unistd::getuid().is_root(),
            extra_hosts: Vec::new(),
            selinux_relabel: selinux,
        }
    }
}

/// The create request with the engine's adjustments applied.
pub fn create_body_for(spec: &ContainerSpec, adjust: &EngineAdjust) -> ContainerCreateBody {
    let mut body = create_body(spec);
    if let Some(hc) = body.host_config.as_mut() {
        if adjust.keep_id {
            hc.userns_mode = Some("keep-id".into());
        }
        if !adjust.extra_hosts.is_empty() {
            hc.extra_hosts = Some(adjust.extra_hosts.clone());
        }
        if adjust.selinux_relabel {
            // The Mount API has no relabel option; the `Binds` form does (on both engines).
            let binds: Vec<String> = spec
                .mounts
                .iter()
                .filter(|m| m.kind == MountKind::Bind)
                .map(|m| {
                    let mode = if m.read_only { "ro" } else { "rw" };
                    format!("{}:{}:{mode},z", m.source, m.target)
                })
                .collect();
            if let Some(mounts) = hc.mounts.as_mut() {
                mounts.retain(|m| m.typ != Some(MountType::BIND));
            }
            hc.binds = (!binds.is_empty()).then_some(binds);
        }
    }
    body
}

/// Whether the engine's host enforces SELinux (both engines list it in `/info`'s security
/// options). Unknown counts as no: relabelling is only needed where SELinux is on.
pub async fn selinux_enabled(docker: &Docker) -> bool {
    docker
        .info()
        .await
        .ok()
        .and_then(|i| i.security_options)
        .is_some_and(|opts| opts.iter().any(|o| o.contains("name=selinux")))
}

/// Create the container and start it; return its id. If it cannot start, it is removed again,
/// so a failure leaves nothing behind.
pub async fn create_and_start(
    docker: &Docker,
    spec: &ContainerSpec,
) -> Result<String, EngineError> {
    create_and_start_with(docker, spec, &EngineAdjust::default()).await
}

/// `create_and_start` with the engine's adjustments (see `EngineAdjust`).
pub async fn create_and_start_with(
    docker: &Docker,
    spec: &ContainerSpec,
    adjust: &EngineAdjust,
) -> Result<String, EngineError> {
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            }),
            create_body_for(spec, adjust),
        )
        .await
        .map_err(|e| super::podman::create_error(spec, e))?;
    if let Err(e) = docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
    {
        let _ = force_remove(docker, &created.id).await;
        return Err(start_error(spec, e));
    }
    Ok(created.id)
}

/// Start an existing container.
pub async fn start(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker
        .start_container(name, None::<StartContainerOptions>)
        .await
    {
        // 304: already running.
        Ok(()) => Ok(()),
        Err(e) if status_code(&e) == Some(304) => Ok(()),
        Err(e) => Err(match port_in_error(&e.to_string()) {
            Some((host_ip, port)) => EngineError::PortTaken { host_ip, port },
            None => EngineError::api(format!("cannot start container {name}"), e),
        }),
    }
}

/// Stop (with `timeout_secs`, else the container's own stop timeout) and remove a container.
/// A container that is already gone is fine.
pub async fn stop_and_remove(
    docker: &Docker,
    name: &str,
    timeout_secs: Option<i32>,
) -> Result<(), EngineError> {
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: timeout_secs,
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        // 304: not running. Anything else: removal with force still ends it.
        Err(e) if status_code(&e) == Some(304) => {}
        Err(e) => tracing::debug!("stopping {name}: {e}"),
    }
    force_remove(docker, name).await
}

/// Name of a container set aside while its replacement starts.
pub fn aside_name(name: &str) -> String {
    format!("{name}-mew-old")
}

/// Stop a container and rename it to [`aside_name`], so that its replacement can take its name
/// (and port) while it can still come back if the replacement fails. Returns whether there was
/// a container. A leftover set-aside copy (from a killed `up`) is removed first.
pub async fn set_aside(
    docker: &Docker,
    name: &str,
    timeout_secs: Option<i32>,
) -> Result<bool, EngineError> {
    let aside = aside_name(name);
    force_remove(docker, &aside).await?;
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: timeout_secs,
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(false),
        Err(e) if status_code(&e) == Some(304) => {}
        Err(e) => return Err(EngineError::api(format!("cannot stop container {name}"), e)),
    }
    match docker
        .rename_container(name, RenameContainerOptions { name: aside })
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(EngineError::api(
            format!("cannot rename container {name}"),
            e,
        )),
    }
}

/// Undo [`set_aside`]: give the container its name back and start it.
pub async fn restore(docker: &Docker, name: &str) -> Result<(), EngineError> {
    docker
        .rename_container(
            &aside_name(name),
            RenameContainerOptions {
                name: name.to_string(),
            },
        )
        .await
        .map_err(|e| EngineError::api(format!("cannot rename container {name} back"), e))?;
    start(docker, name).await
}

/// Remove the set-aside copy of `name` (its replacement runs).
pub async fn drop_aside(docker: &Docker, name: &str) -> Result<(), EngineError> {
    force_remove(docker, &aside_name(name)).await
}

async fn force_remove(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: false,
                link: false,
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // 409 "removal already in progress": someone else is finishing the job.
        Err(e) if status_code(&e) == Some(409) && e.to_string().contains("in progress") => Ok(()),
        Err(e) => Err(EngineError::api(
            format!("cannot remove container {name}"),
            e,
        )),
    }
}

/// Pull an image (with the engine's own credentials).
pub async fn pull_image(docker: &Docker, image: &str) -> Result<(), EngineError> {
    let (from_image, tag) = split_reference(image);
    let mut pull = docker.create_image(
        Some(CreateImageOptions {
            from_image: Some(from_image),
            tag: Some(tag),
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(item) = pull.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(EngineError::ImageUnavailable {
                        image: image.to_string(),
                        reason: err,
                    });
                }
            }
            Err(e) => {
                return Err(EngineError::ImageUnavailable {
                    image: image.to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// `repo[:tag]` (a `:` after the last `/` is a tag, not a registry port) → (repo, tag).
fn split_reference(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

fn start_error(spec: &ContainerSpec, e: bollard::errors::Error) -> EngineError {
    let text = e.to_string();
    if let Some((host_ip, port)) = port_in_error(&text) {
        return EngineError::PortTaken { host_ip, port };
    }
    // The engine names the port only sometimes: fall back to the spec's published ports.
    if text.contains("address already in use") || text.contains("port is already allocated") {
        if let Some(p) = spec.ports.first() {
            return EngineError::PortTaken {
                host_ip: p.host_ip.clone(),
                port: p.host_port,
            };
        }
    }
    EngineError::api(format!("cannot start container {}", spec.name), e)
}

/// Find "<ip>:<port>" in a port-conflict message from Docker or Podman, e.g.
/// "Bind for 127.0.0.1:8080 failed: port is already allocated" or
/// "listen tcp4 127.0.0.1:8080: bind: address already in use".
fn port_in_error(text: &str) -> Option<(String, u16)> {
    if !(text.contains("address already in use") || text.contains("port is already allocated")) {
        return None;
    }
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_end_matches(':'))
        .find_map(|w| {
            let (ip, port) = w.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            ip.parse::<std::net::IpAddr>()
                .ok()
                .map(|_| (ip.to_string(), port))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mew_space::plan::{
        HealthCheck, LogConfig, Mount as PlanMount, PortPublish, Resources, Role,
    };
    use std::collections::BTreeMap;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "s-echo".into(),
            participant: "echo".into(),
            role: Role::Agent,
            image: "node:22-slim".into(),
            cmd: vec![
                "/opt/mew/mew".into(),
                "supervise".into(),
                "--".into(),
                "node".into(),
            ],
            env: BTreeMap::from([("A".into(), "1".into())]),
            working_dir: Some("/space".into()),
            user: Some("1000:1000".into()),
            mounts: vec![PlanMount {
                kind: MountKind::Volume,
                source: "mew-runtime".into(),
                target: "/opt/mew".into(),
                read_only: true,
                relative: None,
            }],
            network: "mew-s".into(),
            aliases: vec!["echo".into()],
            ports: vec![PortPublish {
                host_ip: "127.0.0.1".into(),
                host_port: 8123,
                container_port: 8123,
            }],
            resources: Resources {
                memory_bytes: Some(512 << 20),
                nano_cpus: None,
                pids_limit: Some(512),
            },
            restart: RestartPolicy::OnFailure(Some(2)),
            log: LogConfig {
                driver: "json-file".into(),
                options: BTreeMap::from([("max-size".into(), "10m".into())]),
            },
            stop_grace_secs: 5,
            init: false,
            cap_drop_all: true,
            no_new_privileges: true,
            read_only_rootfs: false,
            token_digest: None,
            healthcheck: Some(HealthCheck {
                test: vec!["CMD".into(), "true".into()],
                interval_ms: 1000,
                timeout_ms: 500,
                retries: 3,
                start_period_ms: 0,
            }),
            labels: BTreeMap::from([("io.mew.space".into(), "s".into())]),
        }
    }

    #[test]
    fn spec_maps_to_the_engine_request() {
        let body = create_body(&spec());
        assert_eq!(body.entrypoint, Some(vec!["/opt/mew/mew".to_string()]));
        assert_eq!(body.cmd.as_deref().map(<[String]>::len), Some(3));
        let hc = body.host_config.expect("host config");
        assert_eq!(hc.memory, Some(512 << 20));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        let rp = hc.restart_policy.expect("restart");
        assert_eq!(rp.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(rp.maximum_retry_count, Some(2));
        let pb = hc.port_bindings.expect("ports");
        let b = &pb["8123/tcp"].as_ref().expect("binding")[0];
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(body.healthcheck.expect("hc").interval, Some(1_000_000_000));
        let aliases = body
            .networking_config
            .expect("net")
            .endpoints_config
            .expect("ep")["mew-s"]
            .aliases
            .clone();
        assert_eq!(aliases, Some(vec!["echo".to_string()]));
        // No newer-API fields.
        let json = serde_json::to_string(&create_body(&spec())).expect("json");
        assert!(!json.contains("StartInterval"), "{json}");
    }

    #[test]
    fn engine_adjustments_relabel_binds_and_add_hosts() {
        let mut s = spec();
        s.mounts.push(PlanMount {
            kind: MountKind::Bind,
            source: "/home/u/space".into(),
            target: "/home/u/space".into(),
            read_only: false,
            relative: None,
        });
        s.mounts.push(PlanMount {
            kind: MountKind::Bind,
            source: "/etc/mew".into(),
            target: "/etc/mew".into(),
            read_only: true,
            relative: None,
        });
        // Nothing to adjust: the plain request, bind mounts as mounts.
        assert_eq!(
            create_body_for(&s, &EngineAdjust::default()),
            create_body(&s)
        );
        let adjust = EngineAdjust {
            keep_id: true,
            extra_hosts: vec!["gateway:10.89.0.2".into()],
            selinux_relabel: true,
        };
        let hc = create_body_for(&s, &adjust).host_config.expect("hc");
        assert_eq!(hc.userns_mode.as_deref(), Some("keep-id"));
        assert_eq!(hc.extra_hosts, Some(vec!["gateway:10.89.0.2".to_string()]));
        assert_eq!(
            hc.binds,
            Some(vec![
                "/home/u/space:/home/u/space:rw,z".to_string(),
                "/etc/mew:/etc/mew:ro,z".to_string()
            ])
        );
        // The volume stays a mount; the binds moved out.
        let mounts = hc.mounts.expect("mounts");
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
    }

    #[test]
    fn shared_namespace_containers_have_no_endpoint() {
        let mut s = spec();
        s.network = "container:s-gateway".into();
        s.aliases.clear();
        let body = create_body(&s);
        assert_eq!(body.networking_config, None);
        assert_eq!(
            body.host_config.expect("hc").network_mode.as_deref(),
            Some("container:s-gateway")
        );
    }

    #[test]
    fn port_conflicts_are_recognised() {
        assert_eq!(
            port_in_error("driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:8080 failed: port is already allocated"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(
            port_in_error("rootlessport listen tcp 127.0.0.1:9001: bind: address already in use"),
            Some(("127.0.0.1".into(), 9001))
        );
        assert_eq!(port_in_error("no such image"), None);
    }

    #[test]
    fn image_references_split_into_repo_and_tag() {
        assert_eq!(
            split_reference("node:22-slim"),
            ("node".into(), "22-slim".into())
        );
        assert_eq!(
            split_reference("localhost:5000/x/y"),
            ("localhost:5000/x/y".into(), "latest".into())
        );
        assert_eq!(
            split_reference("r:5000/a:1"),
            ("r:5000/a".into(), "1".into())
        );
    }
}
