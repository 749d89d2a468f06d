//! One labelled bridge network per space.
//!
//! Docker's default address pools hold about 30 bridge networks. When they run out, we retry
//! with an explicit /24 from mew's own range (`MEW_SUBNET_POOL`, default 10.213.0.0/16) that no
//! engine network uses yet; if that fails too, the error says what to do.
use super::{is_not_found, status_code, EngineError};
use crate::plan::NetworkSpec;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::Docker;
use std::collections::HashSet;
use std::net::Ipv4Addr;

const DEFAULT_POOL: &str = "10.213.0.0/16";

/// Create the network; return its id.
pub async fn create_network(docker: &Docker, spec: &NetworkSpec) -> Result<String, EngineError> {
    match create(docker, spec, None).await {
        Ok(id) => Ok(id),
        Err(e) if is_pool_exhausted(&e) => {
            let pool =
                std::env::var("MEW_SUBNET_POOL").unwrap_or_else(|_| DEFAULT_POOL.to_string());
            create_in_pool(docker, spec, &pool).await
        }
        Err(e) => Err(EngineError::api(
            format!("cannot create network {}", spec.name),
            e,
        )),
    }
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

/// Remove a network; a missing one is not an error.
pub async fn remove_network(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(EngineError::api(format!("cannot remove network {name}"), e)),
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
