//! Reading a space back from the engine, by label (design.md §2: state lives in the engine):
//! everything `plan` decides on is collected here, once.
use super::EngineError;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use bollard::Docker;
use futures_util::future::join_all;
use mew_space::plan::{
    labels, ContainerState, DesiredSpace, GatewayPort, ObservedContainer, ObservedNetwork,
    ObservedSpace, Role,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Everything labelled `io.mew.space=<space_id>` (containers, stopped ones too, networks and
/// volumes), whether the runtime image exists, every mew gateway's host port, and for `desired`
/// whether its runtime volume and the images it pulls are present.
pub async fn observe_space(
    docker: &Docker,
    space_id: &str,
    desired: Option<&DesiredSpace>,
) -> Result<ObservedSpace, EngineError> {
    let runtime_volume = desired.and_then(|d| d.runtime_volume.as_deref());
    let images: Vec<&str> = desired
        .map(|d| d.pulled_images().into_iter().collect())
        .unwrap_or_default();
    let (objects, runtime_image, runtime_volume_present, images_present, gateways) = tokio::try_join!(
        observe_objects(docker, space_id),
        super::image::runtime_image_state(docker),
        async {
            match runtime_volume {
                Some(v) => super::volume::runtime_volume_ready(docker, v).await,
                None => Ok(false),
            }
        },
        images_present(docker, &images),
        gateway_ports(docker),
    )?;
    Ok(ObservedSpace {
        runtime_image_present: runtime_image == super::image::ImageState::Current,
        runtime_volume_present,
        images_present,
        gateways,
        ..objects
    })
}

/// Only the space's containers, networks and volumes (enough for `down`; leaves the rest empty).
pub async fn observe_objects(
    docker: &Docker,
    space_id: &str,
) -> Result<ObservedSpace, EngineError> {
    let filter = format!("{}={space_id}", labels::SPACE);
    let (containers, networks, volumes) = tokio::try_join!(
        containers_with(docker, &filter),
        networks_with(docker, &filter),
        volumes_with(docker, &filter)
    )?;
    Ok(ObservedSpace {
        networks,
        containers,
        volumes,
        ..Default::default()
    })
}

/// Names of the volumes matching one label filter, sorted.
async fn volumes_with(docker: &Docker, label_filter: &str) -> Result<Vec<String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label_filter.to_string()])]);
    let list = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| EngineError::api("cannot list volumes", e))?;
    let mut names: Vec<String> = list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    names.sort();
    Ok(names)
}

/// Which of `images` the engine has.
async fn images_present(docker: &Docker, images: &[&str]) -> Result<BTreeSet<String>, EngineError> {
    let found = join_all(
        images
            .iter()
            .map(|i| super::image::image_present(docker, i)),
    )
    .await;
    let mut out = BTreeSet::new();
    for (image, present) in images.iter().zip(found) {
        if present? {
            out.insert(image.to_string());
        }
    }
    Ok(out)
}

/// Every mew gateway container (of any space) that publishes a host port, with that port. The
/// port comes from the container's configuration, so a stopped gateway has one too.
async fn gateway_ports(docker: &Docker) -> Result<Vec<GatewayPort>, EngineError> {
    let filter = format!("{}={}", labels::ROLE, Role::Gateway.as_str());
    let gateways = containers_with(docker, &filter).await?;
    let ports = join_all(gateways.iter().map(|g| published_port(docker, &g.id))).await;
    Ok(gateways
        .iter()
        .zip(ports)
        .filter_map(|(g, port)| {
            Some(GatewayPort {
                space: g.space()?.to_string(),
                dir: g.space_dir().unwrap_or("?").to_string(),
                port: port?,
            })
        })
        .collect())
}

/// The first host port a container is configured to publish (`None` also when it went away).
async fn published_port(docker: &Docker, container: &str) -> Option<u16> {
    let info = super::podman::inspect_container(docker, container)
        .await
        .ok()?;
    info.host_config?
        .port_bindings?
        .into_values()
        .flatten()
        .flatten()
        .find_map(|b| b.host_port?.parse().ok())
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
    // (`network_order`).
    let mut keyed: Vec<(i128, ObservedNetwork)> = list
        .into_iter()
        .map(|n| {
            let id = n.id.unwrap_or_default();
            let (created, _) = network_order(n.created, &id);
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

/// The order in which networks of one name compete: oldest first (an unknown time last), then
/// by id. `created` is the engine's timestamp as bollard parsed it.
pub fn network_order(created: Option<time::OffsetDateTime>, id: &str) -> (i128, String) {
    let nanos = created.map_or(i128::MAX, |t| t.unix_timestamp_nanos());
    (nanos, id.to_string())
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
    Ok(observe_objects(docker, space_id).await?.dirs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's RFC 3339 `Created`, parsed as bollard parses a network listing.
    fn created(rfc3339: &str) -> Option<time::OffsetDateTime> {
        let net: bollard::models::Network =
            serde_json::from_value(serde_json::json!({ "Created": rfc3339 })).expect("network");
        net.created
    }

    #[test]
    fn the_oldest_network_wins_whatever_the_fraction_width() {
        let a = network_order(created("2026-12-02T18:30:01.1234567Z"), "b");
        let b = network_order(created("2026-12-02T18:30:01.123456789Z"), "a");
        assert!(a < b, "…01.1234567 is earlier than …01.123456789");
        let tie = network_order(created("2026-12-02T18:30:01Z"), "a");
        assert!(tie < network_order(created("2026-12-02T18:30:01Z"), "b"));
        // Podman writes an offset rather than Z: the same instant.
        let offset = network_order(created("2026-12-02T19:30:01+01:00"), "a");
        assert_eq!(offset, tie);
        assert!(b < network_order(None, "0"), "an unknown time sorts last");
    }
}
