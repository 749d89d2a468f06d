//! Executes a `Plan` on the engine: stages in order, the actions of a stage concurrently. It makes
//! no decisions (the planner did); it reports progress, and when an action fails it undoes what
//! this run created (containers, and the network if it was created now) before returning. A
//! container to recreate is stopped and set aside (renamed) rather than removed, and removed
//! only once the whole run succeeded: a failed reconfiguration brings the old one back.

use crate::testhook::kill_point;
use crate::{container, image, network, podman, volume, Engine, EngineError, EngineKind};
use futures_util::future::join_all;
use mew_space::plan::{Action, Plan, RemoveReason};
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
    /// Stop grace for every removed container (`down --timeout`); `None`: each container's own.
    pub stop_timeout: Option<i32>,
    /// Id of the space's network when it exists already (containers join it by id: a name can
    /// match two networks).
    pub network_id: Option<String>,
    /// Where the participants' output logs are (`Space::logs_dir`).
    pub logs_dir: PathBuf,
}

impl ApplyContext {
    pub fn new(space_id: &str, space_dir: PathBuf, bind: &str, port: u16) -> Self {
        ApplyContext {
            space_id: space_id.to_string(),
            logs_dir: space_dir.join("logs"),
            space_dir,
            gateway_http: mew_space::net::reachable_url("http", bind, port),
            health_timeout: Duration::from_secs(30),
            stop_timeout: None,
            network_id: None,
        }
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
    /// The last lines a container wrote (from the engine's log), when it failed to start or
    /// exited before joining.
    ContainerLog { participant: String, tail: String },
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
    /// Id of the network this run created (what a rollback removes).
    pub network_created_id: Option<String>,
    /// Containers to recreate, stopped and set aside until the run succeeds.
    pub set_aside: Vec<String>,
    pub image_built: Option<String>,
    /// Auto-start participants that did not join in time.
    pub not_joined: Vec<String>,
    /// Auto-start participants whose container exited or restarted before joining.
    pub exited: Vec<Exited>,
}

/// A participant that stopped (or restarted) before it joined the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    pub participant: String,
    /// e.g. `exited with code 1`, `restarting (exit code 1)`.
    pub status: String,
}

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{what}")]
    Engine {
        what: String,
        #[source]
        source: EngineError,
    },
    #[error("the gateway did not become healthy at {url}/health within {secs} s ({last}); its last output is shown above")]
    Unhealthy {
        url: String,
        secs: u64,
        last: String,
        space: String,
    },
    #[error("the gateway container stopped before it became healthy ({status}); its last output is shown above")]
    GatewayExited { status: String, space: String },
}

impl ApplyError {
    /// Whether the user's input is at fault (exit code 2) rather than the engine (1).
    pub fn is_usage(&self) -> bool {
        self.engine_error().is_some_and(EngineError::is_usage)
    }
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
    let network_id = Mutex::new(ctx.network_id.clone());
    for stage in &plan.stages {
        let results = join_all(stage.actions.iter().map(|a| async {
            let r = run_action(engine, a, ctx, &adjust, report, &outcome, &network_id).await;
            kill_point(stage.title.as_str());
            r
        }))
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            let done = outcome.lock().map(|o| o.clone()).unwrap_or_default();
            rollback(engine, &done, report).await;
            return Err(err);
        }
    }
    let done = outcome.into_inner().unwrap_or_default();
    // The replacements run: the old containers go for good.
    join_all(
        done.set_aside
            .iter()
            .map(|name| container::drop_aside(&engine.docker, name)),
    )
    .await;
    Ok(done)
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
    network_id: &Mutex<Option<String>>,
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
        Action::PullImage { image } => {
            report(Progress::Begin(format!("pulling {image}")));
            container::pull_image(docker, image)
                .await
                .map_err(fail(format!("cannot pull {image}")))?;
            report(Progress::Done(format!("image {image} pulled")));
        }
        Action::RemoveVolume { name } => {
            volume::remove_volume(docker, name)
                .await
                .map_err(fail(format!("cannot remove volume {name}")))?;
            report(Progress::Done(format!("volume {name} removed")));
        }
        Action::EnsureRuntimeVolume { name, image } => {
            volume::ensure_runtime_volume(docker, engine.info.kind, name, image)
                .await
                .map_err(fail(format!("cannot prepare the runtime volume {name}")))?;
            report(Progress::Done(format!("runtime volume {name} ready")));
        }
        Action::CreateNetwork(spec) => {
            let id = network::create_network(docker, spec)
                .await
                .map_err(fail(format!("cannot create network {}", spec.name)))?;
            report(Progress::Done(format!("network {} created", spec.name)));
            if let Ok(mut n) = network_id.lock() {
                *n = Some(id.clone());
            }
            record(outcome, |o| {
                o.network_created = Some(spec.name.clone());
                o.network_created_id = Some(id);
            });
        }
        Action::CreateVolume(spec) => {
            volume::create_volume(docker, spec)
                .await
                .map_err(fail(format!("cannot create volume {}", spec.name)))?;
            report(Progress::Done(format!("volume {} created", spec.name)));
        }
        Action::RemoveNetwork {
            name,
            id,
            duplicate,
        } => {
            network::remove_network(docker, id)
                .await
                .map_err(fail(format!("cannot remove network {name}")))?;
            let what = if *duplicate { " (duplicate)" } else { "" };
            report(Progress::Done(format!("network {name} removed{what}")));
        }
        Action::RemoveContainer {
            name,
            reason: RemoveReason::Changed,
        } => {
            let existed = container::set_aside(docker, name, ctx.stop_timeout)
                .await
                .map_err(fail(format!("cannot stop container {name}")))?;
            report(Progress::Done(format!(
                "{name} stopped (configuration changed)"
            )));
            if existed {
                record(outcome, |o| o.set_aside.push(name.clone()));
            }
        }
        Action::RemoveContainer { name, reason } => {
            container::stop_and_remove(docker, name, ctx.stop_timeout)
                .await
                .map_err(fail(format!("cannot remove container {name}")))?;
            let why = match reason {
                RemoveReason::Orphan => "removed (no longer in space.yaml)",
                RemoveReason::Changed => "replaced (configuration changed)",
                RemoveReason::Down => "removed",
                RemoveReason::DuplicateNetwork => "removed (to be made on the network kept)",
            };
            report(Progress::Done(format!("{name} {why}")));
            record(outcome, |o| o.removed.push(name.clone()));
        }
        Action::CreateAndStart(spec) => {
            let mut adjust = adjust.clone();
            if engine.info.kind == EngineKind::Podman {
                adjust.extra_hosts = podman::gateway_hosts(docker, spec).await;
            }
            // Join the network by id (the hash label stays the one of the spec as planned);
            // `container:<gateway>` (shared mode) names no network and stays as it is.
            let known = network_id.lock().ok().and_then(|n| n.clone());
            let mut by_id = spec.as_ref().clone();
            if let Some(id) = known.filter(|_| !spec.network.starts_with("container:")) {
                by_id.network = id;
            }
            container::create_and_start_with(docker, &by_id, &adjust)
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
                // The container's own output (logs/ may be missing or unwritable); it is read
                // now, before the rollback removes the container.
                let tail = container_tail(engine, name, 20)
                    .await
                    .or_else(|| log_tail(&ctx.logs_dir.join("gateway.log"), 20))
                    .unwrap_or_else(|| "(no output)".into());
                report(Progress::ContainerLog {
                    participant: "gateway".into(),
                    tail,
                });
                return Err(e);
            }
            report(Progress::Done("gateway healthy".into()));
        }
        Action::WaitJoined {
            participants,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(*timeout_ms);
            let (missing, exited) = wait_joined(engine, participants, timeout, ctx).await;
            for e in &exited {
                let name = mew_space::plan::container_name(&ctx.space_id, &e.participant);
                let tail = container_tail(engine, &name, 20)
                    .await
                    .unwrap_or_else(|| "(no output)".into());
                report(Progress::ContainerLog {
                    participant: e.participant.clone(),
                    tail,
                });
            }
            record(outcome, |o| o.exited = exited.clone());
            if !exited.is_empty() {
                // Not an apply error: what is up stays up (no rollback); `up` reports it.
            } else if missing.is_empty() {
                if !participants.is_empty() {
                    report(Progress::Done(format!(
                        "joined: {}",
                        participants.join(", ")
                    )));
                }
            } else {
                report(Progress::Warning(format!(
                    "not joined after {} s: {} (see `mew space logs {}`)",
                    timeout.as_secs(),
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
        match mew_client::http::get(&health, Duration::from_secs(2)).await {
            Ok(r) if r.is_healthy() => return Ok(()),
            Ok(r) => last = format!("HTTP {}: {}", r.status, r.body.trim()),
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

/// `Some("exited with code 1")` when the container is no longer running.
async fn stopped_status(engine: &Engine, name: &str) -> Option<String> {
    let info = crate::podman::inspect_container(&engine.docker, name)
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

/// Poll `/participants?space=<id>` until every id is connected; return who did not join in
/// time, and who stopped waiting early because its container exited or restarted first.
async fn wait_joined(
    engine: &Engine,
    participants: &[String],
    timeout: Duration,
    ctx: &ApplyContext,
) -> (Vec<String>, Vec<Exited>) {
    let mut exited = Vec::new();
    if participants.is_empty() {
        return (Vec::new(), exited);
    }
    let url = format!("{}/participants?space={}", ctx.gateway_http, ctx.space_id);
    let start = Instant::now();
    let mut missing: Vec<String> = participants.to_vec();
    let mut last_state_check: Option<Instant> = None;
    loop {
        let answer = mew_client::http::get(&url, Duration::from_secs(2)).await;
        if let Some(r) = answer.ok().filter(|r| r.status == 200) {
            let connected = connected_ids(&r.body);
            missing.retain(|p| !connected.contains(p));
        }
        // The containers of those still missing, every 250 ms (one inspect each).
        if !missing.is_empty()
            && last_state_check.is_none_or(|t| t.elapsed() >= Duration::from_millis(250))
        {
            last_state_check = Some(Instant::now());
            let states = join_all(missing.iter().map(|p| {
                let name = mew_space::plan::container_name(&ctx.space_id, p);
                async move { not_joining(engine, &name).await }
            }))
            .await;
            let mut still = Vec::new();
            for (p, state) in missing.into_iter().zip(states) {
                match state {
                    Some(status) => exited.push(Exited {
                        participant: p,
                        status,
                    }),
                    None => still.push(p),
                }
            }
            missing = still;
        }
        if missing.is_empty() || start.elapsed() >= timeout {
            return (missing, exited);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `Some(status)` when the container will not join as it is: it is no longer running, or the
/// engine restarted it (it died once already).
async fn not_joining(engine: &Engine, name: &str) -> Option<String> {
    let info = crate::podman::inspect_container(&engine.docker, name)
        .await
        .ok()?;
    let restarts = info.restart_count.unwrap_or(0);
    let state = info.state?;
    let code = state.exit_code.unwrap_or(-1);
    if state.restarting == Some(true) || restarts > 0 {
        return Some(format!(
            "restarted {restarts} time(s), last exit code {code}"
        ));
    }
    if state.running == Some(true) {
        return None;
    }
    Some(format!(
        "{} with code {code}",
        state.status.map(|s| s.to_string()).unwrap_or_default()
    ))
}

/// The last `n` lines a container wrote (stdout and stderr, from the engine), if any.
pub async fn container_tail(engine: &Engine, name: &str, n: u64) -> Option<String> {
    use futures_util::StreamExt;
    let opts = crate::logs::LogOptions {
        follow: false,
        since: None,
        tail: Some(n),
    };
    let lines: Vec<String> = crate::logs::container_lines(&engine.docker, name, "", &opts)
        .filter_map(|l| async move { l.ok().map(|l| l.text) })
        .collect()
        .await;
    let lines = &lines[lines.len().saturating_sub(n as usize)..];
    (!lines.is_empty()).then(|| lines.join("\n"))
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
    // The old containers of a failed reconfiguration come back under their names.
    for name in &done.set_aside {
        match container::restore(docker, name).await {
            Ok(()) => report(Progress::RolledBack(format!("{name} restored"))),
            Err(e) => report(Progress::Warning(format!(
                "could not restore {name}: {}",
                mew_space::error_line(&e)
            ))),
        }
    }
    if let (Some(name), Some(id)) = (&done.network_created, &done.network_created_id) {
        if network::remove_network(docker, id).await.is_ok() {
            report(Progress::RolledBack(format!("network {name} removed")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_bodies() {
        let ids = connected_ids(
            r#"{"participants":[{"id":"a","connected":true},{"id":"b","connected":false}]}"#,
        );
        assert_eq!(ids, vec!["a".to_string()]);
    }
}
