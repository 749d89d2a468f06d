//! One labelled bridge network per space.
//!
//! Docker's default address pools hold about 30 bridge networks. When they run out, we retry
//! with an explicit /24 from mew's own range (`MEW_SUBNET_POOL`, default 10.213.0.0/16) that no
//! engine network uses yet; if that fails too, the error says what to do.
//!
//! Docker does not refuse a second network with a taken name (API 1.41's `CheckDuplicate` is a
//! best-effort check that bollard's request type no longer carries, and it races anyway), so a
//! create whose caller was killed can finish after the next `up` looked. After every create we
//! list the space's networks of that name and keep one, the oldest (ties: the smallest id), so
//! that every mew, concurrent or later, picks the same one; the others are removed. From then on
//! everything addresses the network by id.
use super::{is_not_found, status_code, EngineError};
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::Docker;
use mew_space::plan::NetworkSpec;
use std::collections::HashSet;
use std::net::Ipv4Addr;

const DEFAULT_POOL: &str = "10.213.0.0/16";

/// Create the network unless the space already has one of that name; return the id of the one
/// network of that name left afterwards.
pub async fn create_network(docker: &Docker, spec: &NetworkSpec) -> Result<String, EngineError> {
    let created = match create(docker, spec, None).await {
        Ok(id) => Some(id),
        // Podman refuses a taken name: the space has it already.
        Err(e) if status_code(&e) == Some(409) => None,
        Err(e) if is_pool_exhausted(&e) => {
            let pool =
                std::env::var("MEW_SUBNET_POOL").unwrap_or_else(|_| DEFAULT_POOL.to_string());
            Some(create_in_pool(docker, spec, &pool).await?)
        }
        Err(e) => {
            return Err(EngineError::api(
                format!("cannot create network {}", spec.name),
                e,
            ))
        }
    };
    crate::testhook::kill_point("network create");
    match keep_one(docker, spec).await? {
        Some(id) => Ok(id),
        // Listed before the engine showed it (should not happen): trust the create.
        None => created.ok_or_else(|| EngineError::Io {
            what: format!("cannot find network {} after creating it", spec.name),
            source: std::io::Error::other("not listed"),
        }),
    }
}

/// Of the space's networks named `spec.name`, keep the first in `observe::network_order` and
/// remove the others (a duplicate still in use is left for the plan of the next `up`); return
/// the kept id.
pub async fn keep_one(docker: &Docker, spec: &NetworkSpec) -> Result<Option<String>, EngineError> {
    let space = spec
        .labels
        .get(mew_space::plan::labels::SPACE)
        .cloned()
        .unwrap_or_default();
    let filter = format!("{}={space}", mew_space::plan::labels::SPACE);
    let same_name: Vec<_> = super::observe::networks_with(docker, &filter)
        .await?
        .into_iter()
        .filter(|n| n.name == spec.name)
        .collect();
    let Some((winner, losers)) = same_name.split_first() else {
        return Ok(None);
    };
    for loser in losers {
        if let Err(e) = remove_network(docker, &loser.id).await {
            tracing::warn!("duplicate network {} ({}): {e}", loser.name, loser.id);
        }
    }
    Ok(Some(winner.id.clone()))
}

async fn create(
    docker: &Docker,
    spec: &NetworkSpec,
    subnet: Option<String>,
) -> Result<String, bollard::errors::Error> {
    let ipam = subnet.map(|s| Ipam {
        driver: Some("default".into()),
        config: Some(vec![IpamConfig {
            subnet: Some(s),
            ..Default::default()
        }]),
        options: None,
    });
    let request = NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some("bridge".into()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        ipam,
        options: Some(super::podman::network_options()),
        ..Default::default()
    };
    let response = docker.create_network(request).await?;
    Ok(response.id)
}

fn is_pool_exhausted(e: &bollard::errors::Error) -> bool {
    e.to_string()
        .contains("could not find an available, non-overlapping IPv4 address pool")
}

/// Create the network with the first /24 of `pool` (an IPv4 CIDR) that no engine network uses.
pub async fn create_in_pool(
    docker: &Docker,
    spec: &NetworkSpec,
    pool: &str,
) -> Result<String, EngineError> {
    let exhausted = || EngineError::AddressPoolsExhausted {
        network: spec.name.clone(),
    };
    let Some((base, prefix)) = parse_cidr(pool).filter(|(_, p)| *p <= 24) else {
        return Err(exhausted());
    };
    let used = used_subnets(docker).await?;
    for candidate in subnets_of(base, prefix) {
        if used.contains(&candidate) {
            continue;
        }
        match create(docker, spec, Some(candidate.clone())).await {
            Ok(id) => return Ok(id),
            // Another mew (or anyone) took it meanwhile, or it overlaps a host route: next one.
            Err(e) if status_code(&e) == Some(403) || e.to_string().contains("overlap") => continue,
            Err(e) => {
                return Err(EngineError::api(
                    format!("cannot create network {}", spec.name),
                    e,
                ))
            }
        }
    }
    Err(exhausted())
}

async fn used_subnets(docker: &Docker) -> Result<HashSet<String>, EngineError> {
    let networks = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(|e| EngineError::api("cannot list networks", e))?;
    Ok(networks
        .into_iter()
        .filter_map(|n| n.ipam)
        .filter_map(|i| i.config)
        .flatten()
        .filter_map(|c| c.subnet)
        .collect())
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.trim().split_once('/')?;
    Some((ip.parse().ok()?, prefix.parse().ok()?))
}

/// All /24 subnets of `base/prefix`.
fn subnets_of(base: Ipv4Addr, prefix: u8) -> impl Iterator<Item = String> {
    let start = u32::from(base) & (u32::MAX << (32 - u32::from(prefix)));
    let count = 1u32 << (24 - u32::from(prefix));
    (0..count).map(move |i| format!("{}/24", Ipv4Addr::from(start + (i << 8))))
}

/// Remove a network by id (a name may match two networks); a missing one is not an error.
pub async fn remove_network(docker: &Docker, id: &str) -> Result<(), EngineError> {
    match docker.remove_network(id).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(EngineError::api(format!("cannot remove network {id}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pool_is_carved_into_24s() {
        let (base, prefix) = parse_cidr("10.213.0.0/16").expect("cidr");
        let all: Vec<String> = subnets_of(base, prefix).collect();
        assert_eq!(all.len(), 256);
        assert_eq!(all[0], "10.213.0.0/24");
        assert_eq!(all[255], "10.213.255.0/24");
        let one: Vec<String> = subnets_of("192.168.7.9".parse().expect("ip"), 24).collect();
        assert_eq!(one, vec!["192.168.7.0/24".to_string()]);
    }
}
