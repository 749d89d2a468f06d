//! Where Podman's Docker-compatible API (4.3) answers differently from Docker's, and mew adapts.
//!
//! Listing containers: Podman 4.3 reports its own state names (`stopped`, `stopping`,
//! `configured`, `initialized`) in `/containers/json`. bollard's model knows `stopping` only, so
//! for the others the typed list fails to parse. We then read the same answer (bollard keeps the
//! payload in the error) with the states mapped onto Docker's names; `stopping` becomes `running`
//! either way.
//!
//! Log drivers: the two engines know different ones (Podman: json-file, k8s-file, journald, none,
//! passthrough; Docker: json-file, local, journald, syslog, none, …); a refused one is named.
//!
//! Networks: Podman's bridges reach each other unless created with `isolate` (Docker isolates
//! its bridges always and ignores the option).
//!
//! Inspecting: like listing, inspect may answer `stopped` for a container that just exited.
//!
//! Name resolution: aardvark-dns 1.4 (Podman 4.3) restarts its listeners on every network change
//! and can be left stopped when networks come and go concurrently, so a participant may be unable
//! to resolve `gateway` for as long as that lasts. Participants get the gateway's address in
//! their /etc/hosts instead (`gateway_hosts`).
//!
//! Healthchecks: Podman runs them from systemd timers; without systemd (inside containers, most
//! CI runners) they never run and the health stays `starting`. mew never waits on engine health
//! (it polls the gateway's /health itself); for `status` it runs an overdue check itself.
use super::EngineError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary, ContainerSummaryStateEnum,
};
use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;
use futures_util::StreamExt;
use mew_space::plan::{ContainerSpec, ContainerState};
use std::time::Duration;

/// `docker.list_containers`, also on Podman.
pub async fn list_containers(
    docker: &Docker,
    options: Option<ListContainersOptions>,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    match docker.list_containers(options).await {
        Ok(mut list) => {
            for c in &mut list {
                // bollard knows `stopping`; mew reads it as Docker does (still running).
                if c.state == Some(ContainerSummaryStateEnum::STOPPING) {
                    c.state = Some(ContainerSummaryStateEnum::RUNNING);
                }
            }
            Ok(list)
        }
        Err(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }) => reparse_summaries(&contents).ok_or(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }),
        Err(e) => Err(e),
    }
}

/// The container list with Podman's state names replaced by Docker's; `None` when it still does
/// not parse (then the original error stands).
fn reparse_summaries(contents: &str) -> Option<Vec<ContainerSummary>> {
    let mut list: Vec<serde_json::Value> = serde_json::from_str(contents).ok()?;
    for c in &mut list {
        if let Some(state) = c.get_mut("State") {
            if let Some(docker_name) = state.as_str().map(docker_state) {
                *state = serde_json::Value::String(docker_name.to_string());
            }
        }
    }
    serde_json::from_value(serde_json::Value::Array(list)).ok()
}

/// Docker's name for a Podman container state (`ContainerState::parse` maps them); a name
/// neither engine knows stays as it is (and the original parse error stands).
fn docker_state(podman: &str) -> &str {
    match ContainerState::parse(podman) {
        Some(state) => state.as_str(),
        None => podman,
    }
}

/// The health of a running container whose engine has not run its healthcheck yet (an empty
/// log): Docker runs the first check only an interval after the start, and Podman without systemd
/// never does, while `up` already saw the gateway answer. We run the check's command once (exec):
/// success is `healthy`; failure is `unhealthy` once a check is overdue (start period and two
/// intervals), else `starting` stands. `None` when the engine's own status stands (no
/// healthcheck, checks run, not running, or the check failed early).
pub async fn unchecked_health(docker: &Docker, info: &ContainerInspectResponse) -> Option<String> {
    let state = info.state.as_ref()?;
    let health = state.health.as_ref()?;
    let status = health.status.map(|s| s.to_string()).unwrap_or_default();
    let never_checked = health.log.as_ref().is_none_or(|l| l.is_empty());
    if state.running != Some(true) || status != "starting" || !never_checked {
        return None;
    }
    let hc = info.config.as_ref()?.healthcheck.as_ref()?;
    let argv = check_argv(hc.test.as_deref()?)?;
    let ns = |v: Option<i64>, default_s: u64| {
        v.filter(|n| *n > 0)
            .map(|n| Duration::from_nanos(n as u64))
            .unwrap_or(Duration::from_secs(default_s))
    };
    let due = ns(hc.start_period, 0) + 2 * ns(hc.interval, 30);
    let started = chrono::DateTime::parse_from_rfc3339(state.started_at.as_deref()?).ok()?;
    let running_for = (chrono::Utc::now() - started.with_timezone(&chrono::Utc))
        .to_std()
        .ok()?;
    let id = info.id.as_deref()?;
    let code = tokio::time::timeout(ns(hc.timeout, 30), run_check(docker, id, argv))
        .await
        .ok()
        .flatten();
    if code == Some(0) {
        Some("healthy".to_string())
    } else if running_for >= due {
        Some("unhealthy".to_string())
    } else {
        None
    }
}

/// The command of a healthcheck `test` (`["CMD", …]` or `["CMD-SHELL", "…"]`).
pub(crate) fn check_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        (kind, [cmd]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
        }
        _ => None,
    }
}

/// Run `argv` in container `id`; its exit code.
async fn run_check(docker: &Docker, id: &str, argv: Vec<String>) -> Option<i64> {
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(argv),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .ok()?;
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.ok()?
    {
        while output.next().await.is_some() {}
    }
    docker.inspect_exec(&exec.id).await.ok()?.exit_code
}

/// Driver options of a space's network: keep it apart from other spaces' networks on Podman.
pub fn network_options() -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([("isolate".to_string(), "true".to_string())])
}

/// `docker.inspect_container`, also on Podman (see `list_containers`).
pub async fn inspect_container(
    docker: &Docker,
    id: &str,
) -> Result<ContainerInspectResponse, bollard::errors::Error> {
    let options = None::<bollard::query_parameters::InspectContainerOptions>;
    match docker.inspect_container(id, options).await {
        Ok(mut info) => {
            if let Some(state) = info.state.as_mut() {
                if state.status == Some(ContainerStateStatusEnum::STOPPING) {
                    state.status = Some(ContainerStateStatusEnum::RUNNING);
                }
            }
            Ok(info)
        }
        Err(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }) => reparse_inspect(&contents).ok_or(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }),
        Err(e) => Err(e),
    }
}

fn reparse_inspect(contents: &str) -> Option<ContainerInspectResponse> {
    let mut info: serde_json::Value = serde_json::from_str(contents).ok()?;
    if let Some(status) = info.get_mut("State").and_then(|s| s.get_mut("Status")) {
        if let Some(docker_name) = status.as_str().map(docker_state) {
            *status = serde_json::Value::String(docker_name.to_string());
        }
    }
    serde_json::from_value(info).ok()
}

/// The error for a container the engine refused to create, naming an unknown log driver clearly.
pub fn create_error(spec: &ContainerSpec, e: bollard::errors::Error) -> EngineError {
    let msg = e.to_string();
    // Podman: "invalid log driver"; Docker: "error looking up logging plugin …".
    if msg.contains("invalid log driver") || msg.contains("logging plugin") {
        return EngineError::api(
            format!(
                "the engine does not know log driver `{}` (participant {}); choose another \
                 `logging.driver` in space.yaml: json-file works on Docker and Podman, Podman \
                 also has k8s-file, journald and none, Docker also local, syslog, journald and none",
                spec.log.driver, spec.participant
            ),
            e,
        );
    }
    EngineError::api(format!("cannot create container {}", spec.name), e)
}

/// `["gateway:<ip>"]` for a participant that reaches the gateway over the space's bridge network
/// (empty for the gateway itself, for shared-namespace participants, and when the gateway's
/// address is unknown: then DNS is all there is). The address is stable: a container keeps its
/// IP for its life, and a recreated gateway recreates every participant.
pub async fn gateway_hosts(docker: &Docker, spec: &ContainerSpec) -> Vec<String> {
    use mew_space::plan::{labels, Role};
    if spec.role == Role::Gateway || spec.network.is_empty() || spec.network.contains(':') {
        return Vec::new();
    }
    let Some(space) = spec.labels.get(labels::SPACE) else {
        return Vec::new();
    };
    let gateway = mew_space::plan::container_name(space, "gateway");
    let ip = inspect_container(docker, &gateway)
        .await
        .ok()
        .and_then(|info| info.network_settings)
        .and_then(|ns| ns.networks)
        .and_then(|nets| nets.get(&spec.network).cloned())
        .and_then(|ep| ep.ip_address)
        .filter(|ip| !ip.is_empty());
    ip.map(|ip| vec![format!("gateway:{ip}")])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_states_become_docker_states() {
        let body = r#"[{"Id":"a","Names":["/x"],"State":"stopped"},
                       {"Id":"b","Names":["/y"],"State":"configured"},
                       {"Id":"c","Names":["/z"],"State":"running"}]"#;
        let list = reparse_summaries(body).expect("parses");
        let states: Vec<String> = list
            .iter()
            .map(|c| c.state.map(|s| s.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(states, ["exited", "created", "running"]);
    }

    #[test]
    fn healthcheck_commands() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_argv(&v(&["CMD", "/opt/mew/mew", "gateway", "health"])),
            Some(v(&["/opt/mew/mew", "gateway", "health"]))
        );
        assert_eq!(
            check_argv(&v(&["CMD-SHELL", "true"])),
            Some(v(&["/bin/sh", "-c", "true"]))
        );
        assert_eq!(check_argv(&v(&["NONE"])), None);
        assert_eq!(check_argv(&v(&["CMD"])), None);
    }

    #[test]
    fn inspect_with_a_podman_state_parses() {
        let info = reparse_inspect(r#"{"Id":"a","State":{"Status":"stopped","ExitCode":137}}"#)
            .expect("parses");
        let state = info.state.expect("state");
        assert_eq!(
            state.status.map(|s| s.to_string()).as_deref(),
            Some("exited")
        );
        assert_eq!(state.exit_code, Some(137));
    }

    #[test]
    fn garbage_stays_an_error() {
        assert!(reparse_summaries("not json").is_none());
        assert!(reparse_summaries(r#"[{"State":"nonsense"}]"#).is_none());
    }
}
