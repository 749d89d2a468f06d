//! Read a space's containers by label: list, inspect and one-shot stats, all in parallel. The
//! answers become `mew_space::model` types (`ObservedContainer`, `ContainerDetail`).
use bollard::models::ContainerSummary;
use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use bollard::Docker;
use futures_util::future::join_all;
use futures_util::StreamExt;
use mew_space::model::{
    labels, sort_gateway_first, ContainerDetail, ContainerState, ObservedContainer, Published,
    StatsSample,
};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// An engine call that failed, with what mew was doing.
#[derive(Debug, Error)]
#[error("the container engine failed to {what}")]
pub struct OpError {
    pub what: String,
    #[source]
    pub source: bollard::errors::Error,
}

impl OpError {
    pub fn new(what: impl Into<String>, source: bollard::errors::Error) -> Self {
        OpError {
            what: what.into(),
            source,
        }
    }
}

/// Whether an engine error is "no such object" (it went away between two calls).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// `{"label": ["key=value"]}`, the engine's filter for one label.
pub fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{key}={value}")])])
}

/// All containers (running or not) carrying `key=value`.
pub async fn containers_with_label(
    docker: &Docker,
    key: &str,
    value: &str,
) -> Result<Vec<ContainerSummary>, OpError> {
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&label_filter(key, value))
        .build();
    super::podman::list_containers(docker, Some(opts))
        .await
        .map_err(|e| OpError::new("list containers", e))
}

/// Every container of every space on this engine (running or not).
pub async fn all_space_containers(docker: &Docker) -> Result<Vec<ContainerSummary>, OpError> {
    let filters = HashMap::from([("label".to_string(), vec![labels::SPACE.to_string()])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    super::podman::list_containers(docker, Some(opts))
        .await
        .map_err(|e| OpError::new("list containers", e))
}

/// List, inspect and (for running ones) sample stats of every container of `space_id`.
/// Sorted by participant, gateway first.
pub async fn inspect_space(
    docker: &Docker,
    space_id: &str,
) -> Result<Vec<ContainerDetail>, OpError> {
    let summaries = containers_with_label(docker, labels::SPACE, space_id).await?;
    let ids: Vec<String> = summaries.iter().filter_map(|c| c.id.clone()).collect();
    let details = join_all(ids.iter().map(|id| inspect_one(docker, id, true))).await;
    let mut out = Vec::new();
    for d in details {
        if let Some(d) = d? {
            out.push(d);
        }
    }
    // As `sort_gateway_first`.
    out.sort_by(|a, b| {
        let (a, b) = (&a.container, &b.container);
        (!a.is_gateway(), a.participant_id()).cmp(&(!b.is_gateway(), b.participant_id()))
    });
    Ok(out)
}

/// Inspect one container (and sample its stats when `with_stats` and running).
/// `Ok(None)` when it disappeared meanwhile.
pub async fn inspect_one(
    docker: &Docker,
    id: &str,
    with_stats: bool,
) -> Result<Option<ContainerDetail>, OpError> {
    let info = match super::podman::inspect_container(docker, id).await {
        Ok(i) => i,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(OpError::new(format!("inspect container {id}"), e)),
    };
    let labels: BTreeMap<String, String> = info
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let name = info
        .name
        .as_deref()
        .unwrap_or(id)
        .trim_start_matches('/')
        .to_string();
    // Before the engine's first check (Podman without systemd: ever) its `starting` says
    // nothing: run the check ourselves.
    let unchecked = super::podman::unchecked_health(docker, &info).await;
    let state = info.state.unwrap_or_default();
    let state_now =
        ContainerState::from_engine(&state.status.map(|s| s.to_string()).unwrap_or_default());
    let health = state
        .health
        .and_then(|h| h.status)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty() && s != "none")
        .map(|s| unchecked.unwrap_or(s));
    let published = info
        .network_settings
        .and_then(|n| n.ports)
        .map(|ports| parse_ports(&ports))
        .unwrap_or_default();
    let running = state_now.is_running();
    let full_id = info.id.clone().unwrap_or_else(|| id.to_string());
    let stats = match (with_stats && running, state.pid) {
        (false, _) => None,
        // The cgroup is instant; the stats endpoint can take up to a second (see engine::stats).
        (true, pid) => match pid.and_then(|p| crate::stats::from_cgroup(p, &full_id)) {
            Some(s) => Some(s),
            None => sample_stats(docker, id).await,
        },
    };
    Ok(Some(ContainerDetail {
        container: ObservedContainer {
            id: full_id,
            name,
            labels,
            state: state_now,
        },
        exit_code: state.exit_code,
        oom_killed: state.oom_killed.unwrap_or(false),
        health,
        restart_count: info.restart_count.unwrap_or(0),
        started_at: state.started_at.filter(|s| !s.starts_with("0001-")),
        finished_at: state.finished_at.filter(|s| !s.starts_with("0001-")),
        memory_limit: info.host_config.and_then(|h| h.memory).filter(|m| *m > 0),
        published,
        stats,
    }))
}

fn parse_ports(ports: &bollard::models::PortMap) -> Vec<Published> {
    let mut out = Vec::new();
    for (key, bindings) in ports {
        let Some(container_port) = key.split('/').next().and_then(|p| p.parse().ok()) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            out.push(Published {
                container_port,
                host_ip: b.host_ip.clone().unwrap_or_default(),
                host_port,
            });
        }
    }
    out.sort_by_key(|p| (p.container_port, p.host_port));
    out
}

/// One stats reading without waiting for a second sample (`stream=false`, `one-shot=true`).
pub async fn sample_stats(docker: &Docker, id: &str) -> Option<StatsSample> {
    let opts = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let mut s = docker.stats(id, Some(opts));
    let stats = s.next().await?.ok()?;
    let memory_used = stats.memory_stats.as_ref().and_then(|m| {
        let usage = m.usage?;
        // Page cache is reclaimable: subtract it like `docker stats` (cgroup v1 and v2 keys).
        let cache = m.stats.as_ref().and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
                .copied()
        });
        Some(usage.saturating_sub(cache.unwrap_or(0)))
    });
    let cpu_total_ns = stats
        .cpu_stats
        .as_ref()
        .and_then(|c| c.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .filter(|n| *n > 0);
    Some(StatsSample {
        memory_used: memory_used.filter(|m| *m > 0),
        cpu_total_ns,
        read_at: stats.read.map(|r| r.to_string()),
    })
}

/// The containers of `space_id` as the list call shows them, gateway first.
pub async fn members(docker: &Docker, space_id: &str) -> Result<Vec<ObservedContainer>, OpError> {
    let summaries = containers_with_label(docker, labels::SPACE, space_id).await?;
    let mut out: Vec<ObservedContainer> = summaries
        .into_iter()
        .map(crate::observe::from_summary)
        .collect();
    sort_gateway_first(&mut out);
    Ok(out)
}

/// Pick `wanted` participants among `members` (all when `wanted` is empty). An unknown one is
/// an error listing the known ids.
pub fn select<'a>(
    members: &'a [ObservedContainer],
    wanted: &[String],
) -> Result<Vec<&'a ObservedContainer>, String> {
    if wanted.is_empty() {
        return Ok(members.iter().collect());
    }
    let mut out = Vec::new();
    for w in wanted {
        match members.iter().find(|m| m.participant_id() == w) {
            Some(m) => {
                if !out.iter().any(|o: &&ObservedContainer| o.name == m.name) {
                    out.push(m);
                }
            }
            None => {
                let known: Vec<&str> = members.iter().map(|m| m.participant_id()).collect();
                return Err(format!(
                    "unknown participant `{w}` (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortBinding;

    #[test]
    fn ports_are_parsed() {
        let mut map: bollard::models::PortMap = HashMap::new();
        map.insert(
            "8080/tcp".into(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("18080".into()),
            }]),
        );
        map.insert("9000/tcp".into(), None);
        assert_eq!(
            parse_ports(&map),
            vec![Published {
                container_port: 8080,
                host_ip: "127.0.0.1".into(),
                host_port: 18080
            }]
        );
    }
}
