//! Reading a space back from the engine, by label (design.md §2: state lives in the engine).
use super::EngineError;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use bollard::Docker;
use mew_space::plan::{labels, ContainerState, ObservedContainer, ObservedNetwork, ObservedSpace};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Everything labelled `io.mew.space=<space_id>` (containers, stopped ones too, and networks),
/// plus whether the runtime image and volume exist.
pub async fn observe_space(
    docker: &Docker,
    space_id: &str,
    runtime_volume: Option<&str>,
) -> Result<ObservedSpace, EngineError> {
    let objects = observe_objects(docker, space_id).await?;
    let runtime_image_present =
        super::image::runtime_image_state(docker).await? == super::image::ImageState::Current;
    let runtime_volume_present = match runtime_volume {
        Some(v) => super::volume::runtime_volume_ready(docker, v).await?,
        None => false,
    };
    Ok(ObservedSpace {
        runtime_image_present,
        runtime_volume_present,
        ..objects
    })
}

/// Only the space's containers and networks (enough for `down`; leaves image and volume flags
/// false).
pub async fn observe_objects(
    docker: &Docker,
    space_id: &str,
) -> Result<ObservedSpace, EngineError> {
    let filter = format!("{}={space_id}", labels::SPACE);
    let (containers, networks) = tokio::try_join!(
        containers_with(docker, &filter),
        networks_with(docker, &filter)
    )?;
    Ok(ObservedSpace {
        networks,
        containers,
        ..Default::default()
    })
}

/// Containers (running or not) matching one label filter (`key=value` or `key`).
pub async fn containers_with(
    docker: &Docker,
    label_filter: &str,
) -> Result<Vec<ObservedContainer>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label_filter.to_string()])]);
    let list = super::podman::list_containers(
        docker,
        Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }),
    )
    .await
    .map_err(|e| EngineError::api("cannot list containers", e))?;
    let mut out: Vec<ObservedContainer> = list.into_iter().map(from_summary).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The engine's list entry of a container as mew's model of it.
pub fn from_summary(c: ContainerSummary) -> ObservedContainer {
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        labels: c.labels.unwrap_or_default().into_iter().collect(),
        state: ContainerState::from_engine(&c.state.map(|s| s.to_string()).unwrap_or_default()),
    }
}

/// Networks matching one label filter.
pub async fn networks_with(
    docker: &Docker,
    label_filter: &str,
) -> Result<Vec<ObservedNetwork>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label_filter.to_string()])]);
    let list = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| EngineError::api("cannot list networks", e))?;
    // By name, and networks of one name oldest first: the first is the one to keep
    // (`network::network_order`).
    let mut keyed: Vec<(i64, ObservedNetwork)> = list
        .into_iter()
        .map(|n| {
            let id = n.id.unwrap_or_default();
            let (created, _) = super::network::network_order(n.created.as_deref(), &id);
            let net = ObservedNetwork {
                id,
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
            };
            (created, net)
        })
        .collect();
    keyed.sort_by(|(ta, a), (tb, b)| (&a.name, ta, &a.id).cmp(&(&b.name, tb, &b.id)));
    Ok(keyed.into_iter().map(|(_, n)| n).collect())
}

/// Space ids with objects labelled as coming from `dir` (for `down` without space.yaml).
pub async fn spaces_in_dir(docker: &Docker, dir: &Path) -> Result<Vec<String>, EngineError> {
    let filter = format!("{}={}", labels::SPACE_DIR, dir.display());
    let (containers, networks) = tokio::try_join!(
        containers_with(docker, &filter),
        networks_with(docker, &filter)
    )?;
    let ids: BTreeSet<String> = containers
        .iter()
        .map(|c| &c.labels)
        .chain(networks.iter().map(|n| &n.labels))
        .filter_map(|l| l.get(labels::SPACE).cloned())
        .collect();
    Ok(ids.into_iter().collect())
}

/// Directories that objects of `space_id` say they come from (normally zero or one).
pub async fn dirs_of_space(docker: &Docker, space_id: &str) -> Result<Vec<PathBuf>, EngineError> {
    let filter = format!("{}={space_id}", labels::SPACE);
    let (containers, networks) = tokio::try_join!(
        containers_with(docker, &filter),
        networks_with(docker, &filter)
    )?;
    Ok(dirs_in(
        containers
            .iter()
            .map(|c| &c.labels)
            .chain(networks.iter().map(|n| &n.labels)),
    ))
}

fn dirs_in<'a>(labels: impl Iterator<Item = &'a BTreeMap<String, String>>) -> Vec<PathBuf> {
    let set: BTreeSet<PathBuf> = labels
        .filter_map(|l| l.get(labels::SPACE_DIR).map(PathBuf::from))
        .collect();
    set.into_iter().collect()
}
