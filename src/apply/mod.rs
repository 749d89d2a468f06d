//! Executes a `Plan` on the engine: stages in order, the actions of a stage concurrently. It makes
//! no decisions (the planner did); it reports progress, and when an action fails it undoes what
//! this run created (containers, and the network if it was created now) before returning.
pub mod http;
pub mod space;

use crate::engine::{container, image, network, podman, volume, Engine, EngineError, EngineKind};
use crate::plan::{Action, Plan, RemoveReason};
use futures_util::future::join_all;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// What `apply` needs beyond the plan.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    pub space_id: String,
    pub space_dir: PathBuf,
    /// The gateway's HTTP base URL as seen from the host, e.g. `http://127.0.0.1:8080`.
    pub gateway_http: String,
    pub health_timeout: Duration,
    pub join_timeout: Duration,
    /// Stop grace for every removed container (`down --timeout`); `None`: each container's own.
    pub stop_timeout: Option<i32>,
    /// Where the participants' output logs are (`Space::logs_dir`).
    pub logs_dir: PathBuf,
}

impl ApplyContext {
    pub fn new(space_id: &str, space_dir: PathBuf, bind: &str, port: u16) -> Self {
        ApplyContext {
            space_id: space_id.to_string(),
            logs_dir: space_dir.join("logs"),
            space_dir,
            gateway_http: host_url(bind, port),
            health_timeout: Duration::from_secs(30),
            join_timeout: Duration::from_secs(20),
            stop_timeout: None,
        }
    }
}

/// `http://<addr>:<port>` for a bind address, reachable from the host.
pub fn host_url(bind: &str, port: u16) -> String {
    match bind {
        "" | "0.0.0.0" => format!("http://127.0.0.1:{port}"),
        "::" | "[::]" => format!("http://[::1]:{port}"),
        b if b.contains(':') && !b.starts_with('[') => format!("http://[{b}]:{port}"),
        b => format!("http://{b}:{port}"),
    }
}

/// Progress, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Something is about to take a while.
    Begin(String),
    /// An action finished: `✓ <text>`.
    Done(String),
    /// Not a failure, but the user should know.
    Warning(String),
    /// The last lines of `logs/gateway.log`, when the gateway did not become healthy.
    GatewayLog(String),
    /// Undoing this run's changes after a failure.
    RolledBack(String),
}

/// What a successful run did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub created: Vec<String>,
    pub started: Vec<String>,
    pub removed: Vec<String>,
    pub network_created: Option<String>,
    pub image_built: Option<String>,
    /// Auto-start participants that did not join in time.
    pub not_joined: Vec<String>,
}

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{what}: {source}")]
    Engine {
        what: String,
        #[source]
        source: EngineError,
    },
    #[error("the gateway did not become healthy at {url}/health within {secs} s ({last}); see logs/gateway.log or `mew space logs {space} gateway`")]
    Unhealthy {
        url: String,
        secs: u64,
        last: String,
        space: String,
    },
    #[error("the gateway container stopped before it became healthy ({status}); see logs/gateway.log or `mew space logs {space} gateway`")]
    GatewayExited { status: String, space: String },
}

impl ApplyError {
    /// The engine error inside, if any (e.g. to test for a taken port).
    pub fn engine_error(&self) -> Option<&EngineError> {
        match self {
            ApplyError::Engine { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Run the plan. On failure, what this run created is removed again before the error returns.
pub async fn apply(
    engine: &Engine,
    plan: &Plan,
    ctx: &ApplyContext,
    report: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Outcome, ApplyError> {
    let outcome = Mutex::new(Outcome::default());
    // Asked once, and only when containers are to be made (`/info` is the slowest call).
    let makes_containers = plan
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .any(|a| matches!(a, Action::CreateAndStart(_)));
    let adjust = if makes_containers {
        let selinux = container::selinux_enabled(&engine.docker).await;
        container::EngineAdjust::for_engine(engine.info.kind, selinux)
    } else {
        container::EngineAdjust::default()
    };
    for stage in &plan.stages {
        let results = join_all(
            stage
                .actions
                .iter()
                .map(|a| run_action(engine, a, ctx, &adjust, report, &outcome)),
        )
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            let done = outcome.lock().map(|o| o.clone()).unwrap_or_default();
            rollback(engine, &done, report).await;
            return Err(err);
        }
    }
    Ok(outcome.into_inner().unwrap_or_default())
}

fn record(outcome: &Mutex<Outcome>, f: impl FnOnce(&mut Outcome)) {
    if let Ok(mut o) = outcome.lock() {
        f(&mut o);
    }
}

async fn run_action(
    engine: &Engine,
    action: &Action,
    ctx: &ApplyContext,
    adjust: &container::EngineAdjust,
    report: &(dyn Fn(Progress) + Send + Sync),
    outcome: &Mutex<Outcome>,
) -> Result<(), ApplyError> {
    let docker = &engine.docker;
    let fail = |what: String| move |source| ApplyError::Engine { what, source };
    match action {
        Action::BuildRuntimeImage { tag } => {
            report(Progress::Begin(format!("building the runtime image {tag}")));
            let built = image::ensure_runtime_image(docker, &|_| {})
                .await
                .map_err(fail("cannot build the runtime image".into()))?;
            report(Progress::Done(format!("runtime image {built} ready")));
            record(outcome, |o| o.image_built = Some(built));
        }
        Action::EnsureRuntimeVolume { name, image } => {
            volume::ensure_runtime_volume(docker, engine.info.kind, name, image)
                .await
                .map_err(fail(format!("cannot prepare the runtime volume {name}")))?;
            report(Progress::Done(format!("runtime volume {name} ready")));
        }
        Action::CreateNetwork(spec) => {
            network::create_network(docker, spec)
                .await
                .map_err(fail(format!("cannot create network {}", spec.name)))?;
            report(Progress::Done(format!("network {} created", spec.name)));
            record(outcome, |o| o.network_created = Some(spec.name.clone()));
        }
        Action::RemoveNetwork { name } => {
            network::remove_network(docker, name)
                .await
                .map_err(fail(format!("cannot remove network {name}")))?;
            report(Progress::Done(format!("network {name} removed")));
        }
        Action::RemoveContainer { name, reason } => {
            container::stop_and_remove(docker, name, ctx.stop_timeout)
                .await
                .map_err(fail(format!("cannot remove container {name}")))?;
            let why = match reason {
                RemoveReason::Orphan => "removed (no longer in space.yaml)",
                RemoveReason::Changed => "removed (configuration changed)",
                RemoveReason::Down => "removed",
            };
            report(Progress::Done(format!("{name} {why}")));
            record(outcome, |o| o.removed.push(name.clone()));
        }
        Action::CreateAndStart(spec) => {
            let mut adjust = adjust.clone();
            if engine.info.kind == EngineKind::Podman {
                adjust.extra_hosts = podman::gateway_hosts(docker, spec).await;
            }
            container::create_and_start_with(docker, spec, &adjust)
                .await
                .map_err(fail(format!("cannot start {}", spec.participant)))?;
            report(Progress::Done(format!("{} started", spec.participant)));
            record(outcome, |o| o.created.push(spec.name.clone()));
        }
        Action::Start { name } => {
            container::start(docker, name)
                .await
                .map_err(fail(format!("cannot start container {name}")))?;
            report(Progress::Done(format!("{name} started")));
            record(outcome, |o| o.started.push(name.clone()));
        }
        Action::WaitHealthy { name, url } => {
            if let Err(e) = wait_healthy(engine, name, url, ctx).await {
                if let Some(tail) = log_tail(&ctx.logs_dir.join("gateway.log"), 20) {
                    report(Progress::GatewayLog(tail));
                }
                return Err(e);
            }
            report(Progress::Done("gateway healthy".into()));
        }
        // A zero timeout means "do not wait" (participants that never join, like plain tools).
        Action::WaitJoined { .. } if ctx.join_timeout.is_zero() => {}
        Action::WaitJoined { participants } => {
            let missing = wait_joined(participants, ctx).await;
            if missing.is_empty() {
                if !participants.is_empty() {
                    report(Progress::Done(format!(
                        "joined: {}",
                        participants.join(", ")
                    )));
                }
            } else {
                report(Progress::Warning(format!(
                    "not joined after {} s: {} (see `mew space logs {}`)",
                    ctx.join_timeout.as_secs(),
                    missing.join(", "),
                    ctx.space_id
                )));
            }
            record(outcome, |o| o.not_joined = missing);
        }
    }
    Ok(())
}

/// Poll `<url>` (the gateway's `/health`) every 200 ms; give up early if the container stops.
/// The engine's own health status is never used: Podman may not run healthchecks.
async fn wait_healthy(
    engine: &Engine,
    name: &str,
    url: &str,
    ctx: &ApplyContext,
) -> Result<(), ApplyError> {
    let start = Instant::now();
    let health = if url.ends_with("/health") {
        url.to_string()
    } else {
        format!("{}/health", url.trim_end_matches('/'))
    };
    let mut last = String::from("no answer yet");
    let mut last_state_check = Instant::now();
    while start.elapsed() < ctx.health_timeout {
        match http::get(&health, Duration::from_secs(2)).await {
            Ok((200, body)) if is_ok_status(&body) => return Ok(()),
            Ok((status, body)) => last = format!("HTTP {status}: {}", body.trim()),
            Err(e) => last = e.to_string(),
        }
        if last_state_check.elapsed() >= Duration::from_secs(1) {
            last_state_check = Instant::now();
            if let Some(status) = stopped_status(engine, name).await {
                return Err(ApplyError::GatewayExited {
                    status,
                    space: ctx.space_id.clone(),
                });
            }
        }
        // A loopback GET costs well under a millisecond; a coarse interval only adds its own
        // length to every `up` (the gateway is usually ready within ~100 ms of starting).
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(ApplyError::Unhealthy {
        url: health.trim_end_matches("/health").to_string(),
        secs: ctx.health_timeout.as_secs(),
        last,
        space: ctx.space_id.clone(),
    })
}

fn is_ok_status(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(|s| s == "ok"))
        .unwrap_or(false)
}

/// `Some("exited with code 1")` when the container is no longer running.
async fn stopped_status(engine: &Engine, name: &str) -> Option<String> {
    let info = crate::engine::podman::inspect_container(&engine.docker, name)
        .await
        .ok()?;
    let state = info.state?;
    if state.running == Some(true) || state.restarting == Some(true) {
        return None;
    }
    Some(format!(
        "{} with code {}",
        state.status.map(|s| s.to_string()).unwrap_or_default(),
        state.exit_code.unwrap_or(-1)
    ))
}

/// Poll `/participants?space=<id>` until every id is connected; return who did not join.
async fn wait_joined(participants: &[String], ctx: &ApplyContext) -> Vec<String> {
    if participants.is_empty() {
        return Vec::new();
    }
    let url = format!("{}/participants?space={}", ctx.gateway_http, ctx.space_id);
    let start = Instant::now();
    let mut missing: Vec<String> = participants.to_vec();
    loop {
        if let Ok((200, body)) = http::get(&url, Duration::from_secs(2)).await {
            let connected = connected_ids(&body);
            missing.retain(|p| !connected.contains(p));
            if missing.is_empty() {
                return missing;
            }
        }
        if start.elapsed() >= ctx.join_timeout {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connected_ids(body: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    v.get("participants")
        .and_then(|p| p.as_array())
        .map(|list| {
            list.iter()
                .filter(|p| p.get("connected").and_then(|c| c.as_bool()) == Some(true))
                .filter_map(|p| p.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The last `n` lines of a file, if it exists and is not empty.
pub fn log_tail(path: &std::path::Path, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// Remove what this run created: its containers (in parallel), then the network if it is new.
async fn rollback(engine: &Engine, done: &Outcome, report: &(dyn Fn(Progress) + Send + Sync)) {
    let docker = &engine.docker;
    join_all(
        done.created
            .iter()
            .map(|name| container::stop_and_remove(docker, name, Some(2))),
    )
    .await;
    for name in &done.created {
        report(Progress::RolledBack(format!("{name} removed")));
    }
    if let Some(net) = &done.network_created {
        if network::remove_network(docker, net).await.is_ok() {
            report(Progress::RolledBack(format!("network {net} removed")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls() {
        assert_eq!(host_url("127.0.0.1", 8080), "http://127.0.0.1:8080");
        assert_eq!(host_url("0.0.0.0", 1), "http://127.0.0.1:1");
        assert_eq!(host_url("::1", 2), "http://[::1]:2");
    }

    #[test]
    fn health_and_roster_bodies() {
        assert!(is_ok_status(r#"{"status":"ok","spaces":1}"#));
        assert!(!is_ok_status(r#"{"status":"starting"}"#));
        assert!(!is_ok_status("ok"));
        let ids = connected_ids(
            r#"{"participants":[{"id":"a","connected":true},{"id":"b","connected":false}]}"#,
        );
        assert_eq!(ids, vec!["a".to_string()]);
    }
}
