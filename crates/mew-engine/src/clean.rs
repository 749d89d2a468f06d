//! Gather every mew-labelled container, network and volume, and remove the ones a clean plan
//! selects (containers first, then networks and volumes).
use crate::inspect::OpError;
use bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};
use bollard::Docker;
use futures_util::future::join_all;
use mew_space::model::{labels, ContainerState};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Container,
    Network,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

/// A labelled engine object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub kind: Kind,
    pub name: String,
    pub id: String,
    /// `io.mew.space`
    pub space: String,
    /// `io.mew.space.dir`
    pub dir: Option<String>,
    /// Containers: running, restarting or paused.
    pub running: bool,
    /// Networks: attached container ids; volumes: ids of containers mounting it.
    pub users: Vec<String>,
}

fn has_space_label() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![labels::SPACE.to_string()])])
}

/// Every object carrying `io.mew.space`, with who uses the networks and volumes.
pub async fn labelled_objects(docker: &Docker) -> Result<Vec<Obj>, OpError> {
    let filters = has_space_label();
    let containers = super::podman::list_containers(
        docker,
        Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ),
    )
    .await
    .map_err(|e| OpError::new("list containers", e))?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| OpError::new("list networks", e))?;
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| OpError::new("list volumes", e))?
        .volumes
        .unwrap_or_default();

    let mut out = Vec::new();
    // Volume users, from every container (labelled or not) that mounts one of ours.
    let mut volume_users: HashMap<String, Vec<String>> = HashMap::new();
    if !volumes.is_empty() {
        let all = super::podman::list_containers(
            docker,
            Some(ListContainersOptionsBuilder::default().all(true).build()),
        )
        .await
        .map_err(|e| OpError::new("list containers", e))?;
        for c in &all {
            for m in c.mounts.iter().flatten() {
                if let (Some(name), Some(id)) = (&m.name, &c.id) {
                    volume_users
                        .entry(name.clone())
                        .or_default()
                        .push(id.clone());
                }
            }
        }
    }
    for c in containers.into_iter().map(crate::observe::from_summary) {
        out.push(Obj {
            kind: Kind::Container,
            space: c.space().unwrap_or_default().to_string(),
            dir: c.space_dir().map(str::to_string),
            // A paused container is someone's work in progress too.
            running: c.is_running() || c.state == ContainerState::Paused,
            users: vec![],
            name: c.name,
            id: c.id,
        });
    }
    // The network list does not say which containers are attached: inspect each (in parallel).
    let inspected = join_all(networks.iter().map(|n| {
        let id = n.id.clone().unwrap_or_default();
        async move {
            docker
                .inspect_network(&id, None::<InspectNetworkOptions>)
                .await
        }
    }))
    .await;
    for (n, detail) in networks.into_iter().zip(inspected) {
        let users = match detail {
            Ok(d) => d.containers.unwrap_or_default().into_keys().collect(),
            Err(e) if crate::inspect::is_not_found(&e) => continue,
            Err(e) => return Err(OpError::new("inspect a network", e)),
        };
        let labels_map = n.labels.unwrap_or_default();
        out.push(Obj {
            kind: Kind::Network,
            name: n.name.unwrap_or_default(),
            id: n.id.unwrap_or_default(),
            space: labels_map.get(labels::SPACE).cloned().unwrap_or_default(),
            dir: labels_map.get(labels::SPACE_DIR).cloned(),
            running: false,
            users,
        });
    }
    for v in volumes {
        out.push(Obj {
            kind: Kind::Volume,
            id: v.name.clone(),
            users: volume_users.remove(&v.name).unwrap_or_default(),
            space: v.labels.get(labels::SPACE).cloned().unwrap_or_default(),
            dir: v.labels.get(labels::SPACE_DIR).cloned(),
            name: v.name,
            running: false,
        });
    }
    Ok(out)
}

/// Remove `objs` (containers in parallel, then networks and volumes in parallel).
/// Returns, per object, the error that kept it (gone-already counts as removed).
pub async fn remove(docker: &Docker, objs: &[Obj]) -> Vec<(Obj, OpError)> {
    let mut failed = Vec::new();
    let containers: Vec<&Obj> = objs.iter().filter(|o| o.kind == Kind::Container).collect();
    let others: Vec<&Obj> = objs.iter().filter(|o| o.kind != Kind::Container).collect();
    for batch in [containers, others] {
        let results = join_all(batch.iter().map(|o| remove_one(docker, o))).await;
        for (o, r) in batch.into_iter().zip(results) {
            if let Err(e) = r {
                failed.push((o.clone(), e));
            }
        }
    }
    failed
}

async fn remove_one(docker: &Docker, o: &Obj) -> Result<(), OpError> {
    let r = match o.kind {
        Kind::Container => {
            let opts = RemoveContainerOptionsBuilder::default().force(true).build();
            docker.remove_container(&o.id, Some(opts)).await
        }
        Kind::Network => docker.remove_network(&o.id).await,
        Kind::Volume => {
            docker
                .remove_volume(&o.name, None::<RemoveVolumeOptions>)
                .await
        }
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if crate::inspect::is_not_found(&e) => Ok(()),
        Err(e) => Err(OpError::new(
            format!("remove {} {}", o.kind.as_str(), o.name),
            e,
        )),
    }
}
