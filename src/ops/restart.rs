//! Restart participants' containers: the shared-network holder (if any), then the gateway (until
//! it answers `/health`, so that the others reconnect to a live gateway), then the rest in
//! parallel.
use bollard::query_parameters::RestartContainerOptions;
use bollard::Docker;
use futures_util::future::join_all;
use mew_engine::inspect::{inspect_one, Member, OpError};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum RestartError {
    #[error(transparent)]
    Engine(#[from] OpError),
    #[error("the gateway did not answer /health within {0} s after its restart; see `mew space logs gateway`")]
    GatewayNotHealthy(u64),
}

const HEALTH_WAIT_SECS: u64 = 20;

fn has_role(m: &Member, role: &str) -> bool {
    m.role.as_deref() == Some(role)
}

/// Restart `chosen` (members of `space_id`); returns the participants restarted, in order.
pub(crate) async fn restart(
    docker: &Docker,
    space_id: &str,
    chosen: &[&Member],
) -> Result<Vec<String>, RestartError> {
    // The infra container holds the shared network namespace (network mode `shared`): the
    // others join it, so it goes first.
    let infra: Vec<&Member> = chosen
        .iter()
        .copied()
        .filter(|m| has_role(m, "infra"))
        .collect();
    let gateway: Vec<&Member> = chosen
        .iter()
        .copied()
        .filter(|m| has_role(m, "gateway"))
        .collect();
    let rest: Vec<&Member> = chosen
        .iter()
        .copied()
        .filter(|m| !has_role(m, "infra") && !has_role(m, "gateway"))
        .collect();
    let mut done = Vec::new();
    for m in infra {
        restart_one(docker, &m.name).await?;
        done.push(m.participant.clone());
    }
    for gw in gateway {
        restart_one(docker, &gw.name).await?;
        wait_gateway_healthy(docker, space_id, &gw.name).await?;
        done.push(gw.participant.clone());
    }
    let results = join_all(rest.iter().map(|m| restart_one(docker, &m.name))).await;
    for (m, r) in rest.iter().zip(results) {
        r?;
        done.push(m.participant.clone());
    }
    Ok(done)
}

async fn restart_one(docker: &Docker, name: &str) -> Result<(), OpError> {
    // No timeout given: the engine uses the container's own stop grace period.
    docker
        .restart_container(name, None::<RestartContainerOptions>)
        .await
        .map_err(|e| OpError::new(format!("restart {name}"), e))
}

async fn wait_gateway_healthy(
    docker: &Docker,
    space_id: &str,
    name: &str,
) -> Result<(), RestartError> {
    let Some(facts) = inspect_one(docker, name, space_id, false).await? else {
        return Ok(());
    };
    let Some((host, port)) = crate::ops::status::gateway_address(std::slice::from_ref(&facts))
    else {
        return Ok(()); // not published: nothing to poll from the host
    };
    let deadline = Instant::now() + Duration::from_secs(HEALTH_WAIT_SECS);
    while Instant::now() < deadline {
        if crate::ops::gateway_http::healthy(&host, port).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(RestartError::GatewayNotHealthy(HEALTH_WAIT_SECS))
}
