//! The runtime volume: mew's files (`/opt/mew` of the runtime image) in a named volume, mounted
//! read-only at `/opt/mew` in containers of other images (node, python…), which then run
//! `mew supervise` as their PID 1.
//!
//! The volume is created *by* mounting it into a short-lived container of the runtime image: the
//! engine creates it (with our labels) and copies the image's `/opt/mew` into it in the same call,
//! so a volume that exists is a volume that is filled, even if mew is killed half-way. Docker
//! copies at create; Podman copies when the container first starts, so there we also start it.
//!
//! While one mew fills the volume, another (a parallel `up` of another space) must not use it
//! half-filled: filling and checking both hold a host-wide lock file named after the volume.
use super::image::{Runtime, BINARY_LABEL, MEW_HOME, STALE_AFTER_SECS};
use super::lock::host_lock;
use super::{is_not_found, EngineError, EngineKind};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;

/// Whether a volume exists.
pub async fn volume_exists(docker: &Docker, name: &str) -> Result<bool, EngineError> {
    match docker.inspect_volume(name).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(EngineError::api(format!("cannot inspect volume {name}"), e)),
    }
}

/// Whether the runtime volume exists and is completely filled (waits for a mew that is filling
/// it right now).
pub async fn runtime_volume_ready(docker: &Docker, name: &str) -> Result<bool, EngineError> {
    let _lock = host_lock(name).await?;
    volume_exists(docker, name).await
}

/// Create and fill the runtime volume `name` from `image` unless it exists.
pub async fn ensure_runtime_volume(
    docker: &Docker,
    kind: EngineKind,
    name: &str,
    image: &str,
) -> Result<(), EngineError> {
    let _lock = host_lock(name).await?;
    if volume_exists(docker, name).await? {
        return Ok(());
    }
    let labels = HashMap::from([
        (BINARY_LABEL.to_string(), Runtime::current()?.sha256.clone()),
        (
            mew_space::plan::labels::VERSION.to_string(),
            super::image::crate_version().to_string(),
        ),
    ]);
    let mut argv = Runtime::current()?.argv();
    argv.push("--version".into());
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(argv),
        cmd: Some(Vec::new()),
        labels: Some(labels.clone()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            mounts: Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(name.to_string()),
                target: Some(MEW_HOME.to_string()),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(labels),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let filler = format!("{name}-fill-{}", std::process::id());
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(filler.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| EngineError::api(format!("cannot create volume {name}"), e));
    let result = match created {
        Err(e) => Err(e),
        Ok(_) if kind == EngineKind::Podman => fill_by_running(docker, &filler, name).await,
        Ok(_) => Ok(()),
    };
    let _ = docker
        .remove_container(
            &filler,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    if result.is_ok() {
        let pruned = prune_stale_volumes(docker).await;
        if pruned > 0 {
            tracing::info!("removed {pruned} runtime volumes of older mew builds");
        }
    }
    result
}

/// Best-effort cleanup after a new runtime volume: runtime volumes of *other* mew executables
/// older than `STALE_AFTER_SECS`, never one in use (the engine refuses). Returns how many went.
pub async fn prune_stale_volumes(docker: &Docker) -> usize {
    let Ok(rt) = Runtime::current() else {
        return 0;
    };
    let now = chrono::Utc::now().timestamp();
    let filters = HashMap::from([("label".to_string(), vec![BINARY_LABEL.to_string()])]);
    let mut removed = 0;
    if let Ok(list) = docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
    {
        for v in list.volumes.unwrap_or_default() {
            let created = v.created_at.map(|d| d.unix_timestamp()).unwrap_or(now);
            let other = v.labels.get(BINARY_LABEL) != Some(&rt.sha256);
            if other
                && now - created > STALE_AFTER_SECS
                && remove_volume(docker, &v.name).await.is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

async fn fill_by_running(docker: &Docker, filler: &str, name: &str) -> Result<(), EngineError> {
    docker
        .start_container(
            filler,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| EngineError::api(format!("cannot fill volume {name}"), e))?;
    let mut wait = docker.wait_container(filler, None::<WaitContainerOptions>);
    while let Some(r) = wait.next().await {
        match r {
            // The process ran, so its mount (and Podman's copy into the volume) happened: its own
            // exit code says nothing about the volume.
            Ok(_) | Err(bollard::errors::Error::DockerContainerWaitError { .. }) => {}
            Err(e) => return Err(EngineError::api(format!("cannot fill volume {name}"), e)),
        }
    }
    Ok(())
}

/// Create a named volume of the space with its labels. One that exists already is left as it is
/// (Docker answers a create of an existing name with it; Podman refuses with 409).
pub async fn create_volume(
    docker: &Docker,
    spec: &mew_space::plan::VolumeSpec,
) -> Result<(), EngineError> {
    let request = bollard::models::VolumeCreateRequest {
        name: Some(spec.name.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        ..Default::default()
    };
    match docker.create_volume(request).await {
        Ok(_) => Ok(()),
        Err(e) if super::status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(EngineError::api(
            format!("cannot create volume {}", spec.name),
            e,
        )),
    }
}

/// Remove a volume; a missing one is not an error.
pub async fn remove_volume(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker
        .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(EngineError::api(format!("cannot remove volume {name}"), e)),
    }
}
