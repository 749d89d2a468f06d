//! Restart participants' containers: the shared-network holder (if any), then the gateway (until
//! it answers `/health`, so that the others reconnect to a live gateway), then the rest in
//! parallel.
use bollard::query_parameters::RestartContainerOptions;
use bollard::Docker;
use futures_util::future::join_all;
use mew_engine::inspect::{inspect_one, OpError};
use mew_space::model::{ObservedContainer, Role};
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

/// Restart `chosen` (containers of one space); returns the participants restarted, in order.
pub(crate) async fn restart(
    docker: &Docker,
    chosen: &[&ObservedContainer],
) -> Result<Vec<String>, RestartError> {
    // The infra container holds the shared network namespace (network mode `shared`): the
    // others join it, so it goes first.
    let with_role = |role: Option<Role>| -> Vec<&ObservedContainer> {
        chosen
            .iter()
            .copied()
            .filter(|m| m.role() == role)
            .collect()
    };
    let infra = with_role(Some(Role::Infra));
    let gateway = with_role(Some(Role::Gateway));
    let rest: Vec<&ObservedContainer> = chosen
        .iter()
        .copied()
        .filter(|m| !matches!(m.role(), Some(Role::Infra | Role::Gateway)))
        .collect();
    let mut done = Vec::new();
    for m in infra {
        restart_one(docker, &m.name).await?;
        done.push(m.participant_id().to_string());
    }
    for gw in gateway {
        restart_one(docker, &gw.name).await?;
        wait_gateway_healthy(docker, &gw.name).await?;
        done.push(gw.participant_id().to_string());
    }
    let results = join_all(rest.iter().map(|m| restart_one(docker, &m.name))).await;
    for (m, r) in rest.iter().zip(results) {
        r?;
        done.push(m.participant_id().to_string());
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

async fn wait_gateway_healthy(docker: &Docker, name: &str) -> Result<(), RestartError> {
    let Some(facts) = inspect_one(docker, name, false).await? else {
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
