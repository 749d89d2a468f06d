//! `mew space up` and `mew space down` as library operations: load, lock, observe, plan, apply.
//! The CLI handlers only turn flags into `UpOptions` / `DownOptions` and print the outcome.
use mew_engine::apply::{self, apply, ApplyContext, ApplyError, Outcome, Progress};
use mew_engine::image::{self, Runtime};
use mew_engine::{observe, Engine, EngineError};
use mew_space::config::{ConfigError, Kind, Space};
use mew_space::plan::{self, labels, DesiredSpace, ObservedSpace, Plan, ResolveOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Gateway ports tried when `--port` is not given and the space is not running.
const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 8080..=8089;

#[derive(Debug, Error)]
pub(crate) enum SpaceError {
    /// Bad space.yaml or flags (exit code 2: the `ConfigError` stays in the error chain).
    #[error("{0}")]
    Config(#[source] ConfigError),
    #[error("{0}")]
    Engine(#[source] EngineError),
    #[error("{0}")]
    Apply(#[source] ApplyError),
    #[error("{0}")]
    Tokens(#[source] mew_space::tokens::TokenError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("space id `{id}` is already used by the space in {other}; take that one down (`mew space down -d {other}`) or give this one another id with --space-id")]
    IdInUse { id: String, other: String },
    #[error("port {port} on {bind} is taken by the gateway of mew space `{space}` in {dir}; stop it (`mew space down -d {dir}`) or choose another port with --port")]
    PortHeldBySpace {
        port: u16,
        bind: String,
        space: String,
        dir: String,
    },
    #[error("no free port in {from}-{to} on {bind}; choose one with --port")]
    NoFreePort { bind: String, from: u16, to: u16 },
    #[error("No running space found in {0}")]
    NotFound(String),
    /// Auto-start participants whose container exited (or restarted) before joining.
    #[error("{who} stopped before joining the gateway ({how}); the rest of the space stays up (as `docker compose up --wait` leaves it); see `mew space logs -d {dir} {first}`")]
    ParticipantsExited {
        who: String,
        how: String,
        dir: String,
        first: String,
    },
}

impl From<ConfigError> for SpaceError {
    fn from(e: ConfigError) -> Self {
        SpaceError::Config(e)
    }
}
impl From<EngineError> for SpaceError {
    fn from(e: EngineError) -> Self {
        SpaceError::Engine(e)
    }
}
impl From<ApplyError> for SpaceError {
    fn from(e: ApplyError) -> Self {
        SpaceError::Apply(e)
    }
}
impl From<mew_space::tokens::TokenError> for SpaceError {
    fn from(e: mew_space::tokens::TokenError) -> Self {
        SpaceError::Tokens(e)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct UpOptions {
    /// Engine address (`--host`); `None`: DOCKER_HOST, then the usual sockets.
    pub(crate) host: Option<String>,
    pub(crate) space_dir: Option<PathBuf>,
    pub(crate) space_config: Option<PathBuf>,
    pub(crate) space_id: Option<String>,
    pub(crate) port: Option<u16>,
    /// Host address the gateway is published on.
    pub(crate) bind: String,
    /// `--image CMD=IMAGE` flags.
    pub(crate) images: Vec<String>,
    /// `--log-level` for the gateway.
    pub(crate) log_level: Option<String>,
    /// How long to wait for auto-start participants to join (`None`: 20 s).
    pub(crate) join_timeout: Option<std::time::Duration>,
    pub(crate) dry_run: bool,
}

/// One participant's state after `up`.
#[derive(Debug, Clone)]
pub(crate) struct ParticipantState {
    pub(crate) id: String,
    pub(crate) role: String,
    pub(crate) state: String,
}

/// What `up` did and what is running now.
#[derive(Debug, Clone)]
pub(crate) struct UpReport {
    pub(crate) space_id: String,
    pub(crate) space_dir: PathBuf,
    /// Where the participants' output logs go (`Space::logs_dir`).
    pub(crate) logs_dir: PathBuf,
    pub(crate) bind: String,
    pub(crate) port: u16,
    /// The plan (what `--dry-run` prints).
    pub(crate) plan: Plan,
    /// `None` for a dry run.
    pub(crate) outcome: Option<Outcome>,
    pub(crate) participants: Vec<ParticipantState>,
}

impl UpReport {
    /// Nothing needed doing.
    pub(crate) fn unchanged(&self) -> bool {
        self.plan.is_empty()
    }
    pub(crate) fn gateway_ws(&self) -> String {
        apply::host_url(&self.bind, self.port).replacen("http://", "ws://", 1)
    }
}

/// Bring a space up (or to its desired state, if it is running).
pub(crate) async fn up(
    opts: &UpOptions,
    report: &(dyn Fn(Progress) + Send + Sync),
) -> Result<UpReport, SpaceError> {
    // Input first: a bad space.yaml or flag fails with exit code 2 before the engine is touched.
    let space = mew_space::config::find_and_load(
        opts.space_dir.as_deref(),
        opts.space_config.as_deref(),
        opts.space_id.as_deref(),
    )?;
    // Settings that load but do nothing (`auto_start` without `command`, …): one line each.
    for w in &space.warnings {
        report(Progress::Warning(w.clone()));
    }
    let host_env: BTreeMap<String, String> = std::env::vars().collect();
    for w in unset_env_warnings(&space, &host_env) {
        report(Progress::Warning(w));
    }
    let image_overrides = plan::image_overrides(&opts.images, &host_env)?;
    let rt = Runtime::current()?;
    let base = |port: u16, tokens: BTreeMap<String, String>| {
        resolve_options(opts, rt, &image_overrides, &host_env, port, tokens)
    };
    // Validate everything that depends only on the file (images per command, …).
    let placeholder_tokens = space
        .participants
        .iter()
        .map(|p| (p.id.clone(), String::new()))
        .collect();
    let checked = plan::desired(&space, &base(*DEFAULT_PORTS.start(), placeholder_tokens))?;
    if opts.port == Some(0) {
        return Err(ConfigError::Invalid("--port must be between 1 and 65535".into()).into());
    }

    if opts.dry_run {
        // Read-only: no lock, no directories, no token files (existing tokens are used so that
        // the plan's config hashes match what `up` would run).
        let engine = mew_engine::connect(opts.host.as_deref()).await?;
        let (port, desired, observed) = desired_and_observed(&engine, &space, opts).await?;
        return Ok(UpReport {
            logs_dir: space.logs_dir(),
            plan: plan::plan(&desired, &observed),
            participants: states(&desired, &observed),
            space_id: space.id,
            space_dir: space.dir,
            bind: opts.bind.clone(),
            port,
            outcome: None,
        });
    }

    let _lock = lock_space(&space.id, report).await?;
    let engine = mew_engine::connect(opts.host.as_deref()).await?;
    check_id_free(&engine, &space).await?;
    // Every image must be here (or be pulled now) before anything is stopped or started.
    ensure_images(&engine, &checked, &rt.image_tag()).await?;

    std::fs::create_dir_all(space.logs_dir()).map_err(|source| SpaceError::Io {
        what: format!("cannot create {}", space.logs_dir().display()),
        source,
    })?;
    make_fifos(&space)?;
    // `.mew/` beside a root-level space.yaml, before tokens are looked up, so both land in it.
    mew_space::tokens::ensure_mew_dir(&space.file).map_err(|source| SpaceError::Io {
        what: format!(
            "cannot create the .mew directory of {}",
            space.dir.display()
        ),
        source,
    })?;
    let port = choose_port(&engine, &space.id, opts).await?;
    let tokens = load_tokens(&space)?;
    report(Progress::Done(format!(
        "tokens loaded/generated for all {} participants",
        tokens.len()
    )));
    let token_files = participant_token_files(&space, &tokens)?;
    let mut resolve = base(port, tokens);
    resolve.token_files = token_files;
    let desired = plan::desired(&space, &resolve)?;
    let observed =
        observe::observe_space(&engine.docker, &space.id, desired.runtime_volume.as_deref())
            .await?;
    let the_plan = plan::plan(&desired, &observed);
    let mut ctx = ApplyContext::new(&space.id, space.dir.clone(), &opts.bind, port);
    ctx.logs_dir = space.logs_dir();
    if let Some(t) = opts.join_timeout {
        ctx.join_timeout = t;
    }
    ctx.network_id = observed
        .networks
        .iter()
        .find(|n| n.name == desired.network.name)
        .map(|n| n.id.clone());
    let outcome = apply(&engine, &the_plan, &ctx, report).await?;
    if let Some(first) = outcome.exited.first() {
        return Err(SpaceError::ParticipantsExited {
            who: outcome
                .exited
                .iter()
                .map(|e| e.participant.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            how: outcome
                .exited
                .iter()
                .map(|e| format!("{}: {}", e.participant, e.status))
                .collect::<Vec<_>>()
                .join("; "),
            dir: space.dir.display().to_string(),
            first: first.participant.clone(),
        });
    }
    let after =
        observe::observe_space(&engine.docker, &space.id, desired.runtime_volume.as_deref())
            .await?;
    Ok(UpReport {
        logs_dir: space.logs_dir(),
        participants: states(&desired, &after),
        space_id: space.id,
        space_dir: space.dir,
        bind: opts.bind.clone(),
        port,
        plan: the_plan,
        outcome: Some(outcome),
    })
}

/// `up`'s resolve options for `port` and `tokens` (everything else comes from the flags, the
/// host environment and this executable's runtime image).
fn resolve_options(
    opts: &UpOptions,
    rt: &Runtime,
    image_overrides: &BTreeMap<String, String>,
    host_env: &BTreeMap<String, String>,
    port: u16,
    tokens: BTreeMap<String, String>,
) -> ResolveOptions {
    let mut r = ResolveOptions::new(
        port,
        rt.image_tag(),
        rt.volume_name(),
        rt.argv(),
        image::crate_version(),
    );
    r.bind = opts.bind.clone();
    r.user = Some(caller_user());
    r.image_overrides = image_overrides.clone();
    r.host_env = host_env.clone();
    r.tokens = tokens;
    r.log_level = opts.log_level.clone();
    r
}

/// What `up` would run now (`up --dry-run`'s desired state: existing tokens only, the running
/// gateway's port) and what the engine runs for the space: read-only, no lock, no files.
pub(crate) async fn desired_and_observed(
    engine: &Engine,
    space: &Space,
    opts: &UpOptions,
) -> Result<(u16, DesiredSpace, ObservedSpace), SpaceError> {
    let host_env: BTreeMap<String, String> = std::env::vars().collect();
    let image_overrides = plan::image_overrides(&opts.images, &host_env)?;
    let rt = Runtime::current()?;
    let port = choose_port(engine, &space.id, opts).await?;
    let resolve = resolve_options(
        opts,
        rt,
        &image_overrides,
        &host_env,
        port,
        existing_tokens(space)?,
    );
    let desired = plan::desired(space, &resolve)?;
    let observed =
        observe::observe_space(&engine.docker, &space.id, desired.runtime_volume.as_deref())
            .await?;
    Ok((port, desired, observed))
}

/// Desired participants (gateway first) with the engine state of their containers.
fn states(desired: &DesiredSpace, observed: &ObservedSpace) -> Vec<ParticipantState> {
    std::iter::once(&desired.gateway)
        .chain(&desired.participants)
        .map(|spec| ParticipantState {
            id: spec.participant.clone(),
            role: spec.role.as_str().to_string(),
            state: observed
                .containers
                .iter()
                .find(|c| c.name == spec.name)
                .map(|c| c.state.clone())
                .unwrap_or_else(|| "not created".into()),
        })
        .collect()
}

/// The FIFOs of `fifo: true` participants (spec/cli.md §1.4): `fifos/<id>-in`, and `<id>-out`
/// unless the participant has an `output_log`. Made on the host (0600) so that the client's
/// container sees them through the space directory's bind mount; existing ones are kept.
fn make_fifos(space: &Space) -> Result<(), SpaceError> {
    use nix::sys::stat::Mode;
    let dir = space.dir.join("fifos");
    for p in space.participants.iter().filter(|p| p.fifo) {
        let io_err = |what: String, e: std::io::Error| SpaceError::Io { what, source: e };
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_err(format!("cannot create {}", dir.display()), e))?;
        let mut names = vec![format!("{}-in", p.id)];
        if p.output_log.is_none() {
            names.push(format!("{}-out", p.id));
        }
        for name in names {
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                continue;
            }
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).map_err(|e| {
                io_err(
                    format!("cannot create the FIFO {}", path.display()),
                    std::io::Error::from(e),
                )
            })?;
        }
    }
    Ok(())
}

/// `uid:gid` of the calling user: files written in the space stay theirs.
fn caller_user() -> String {
    format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid())
}

/// Tokens that exist already (environment or file), without creating any; a participant without
/// one gets a placeholder (its container would be new anyway).
fn existing_tokens(space: &Space) -> Result<BTreeMap<String, String>, SpaceError> {
    let dir = mew_space::tokens::tokens_dir(&mew_space::tokens::mew_dir_for(&space.file));
    let mut out = BTreeMap::new();
    for p in &space.participants {
        let token = mew_space::tokens::load_existing(&dir, &p.id)?
            .unwrap_or_else(|| "(generated at up)".to_string());
        out.insert(p.id.clone(), token);
    }
    Ok(out)
}

/// Every image the space's containers use, other than mew's runtime image (which `apply` builds
/// from this executable), present locally or pulled now: a missing one fails `up` before any
/// container is touched.
async fn ensure_images(
    engine: &Engine,
    desired: &DesiredSpace,
    runtime_image: &str,
) -> Result<(), SpaceError> {
    let images: BTreeSet<&str> = std::iter::once(&desired.gateway)
        .chain(&desired.participants)
        .map(|c| c.image.as_str())
        .filter(|i| *i != runtime_image)
        .collect();
    for image in images {
        mew_engine::container::ensure_image(&engine.docker, image).await?;
    }
    Ok(())
}

/// Tokens of every participant (created 0600 when missing), before the gateway starts.
fn load_tokens(space: &Space) -> Result<BTreeMap<String, String>, SpaceError> {
    let mew_dir = mew_space::tokens::mew_dir_for(&space.file);
    let ids: Vec<String> = space.participants.iter().map(|p| p.id.clone()).collect();
    Ok(mew_space::tokens::resolve_all(&mew_dir, &ids)?
        .into_iter()
        .collect())
}

/// What participants' mounts need on the host (see `plan::desired`): the empty directory that
/// hides `.mew/tokens`, and a file holding each one's own token.
fn participant_token_files(
    space: &Space,
    tokens: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SpaceError> {
    mew_space::tokens::ensure_mount_dirs(&mew_space::tokens::mew_dir_after_up(&space.file))?;
    let dir = mew_space::tokens::tokens_dir(&mew_space::tokens::mew_dir_for(&space.file));
    tokens
        .iter()
        .map(|(id, token)| {
            let file = mew_space::tokens::token_file_for(&dir, id, token)?;
            Ok((id.clone(), file.display().to_string()))
        })
        .collect()
}

/// The host-wide lock of space `id` (`mew_engine::lock`), held for a whole `up`, `down` or
/// `restart`: a second command on the same space waits, then finds the first one's result.
pub(crate) async fn lock_space(
    id: &str,
    report: &(dyn Fn(Progress) + Send + Sync),
) -> Result<mew_engine::lock::HostLock, SpaceError> {
    mew_engine::lock::lock_space(id, || {
        report(Progress::Begin(format!(
            "waiting for another mew command on space {id}"
        )))
    })
    .await
    .map_err(|source| SpaceError::Io {
        what: format!(
            "cannot take the lock {}",
            mew_engine::lock::space_lock_path(id).display()
        ),
        source,
    })
}

/// Refuse a space id that objects of another directory already carry.
async fn check_id_free(engine: &Engine, space: &Space) -> Result<(), SpaceError> {
    let dirs = observe::dirs_of_space(&engine.docker, &space.id).await?;
    match dirs.into_iter().find(|d| d != &space.dir) {
        Some(other) => Err(SpaceError::IdInUse {
            id: space.id.clone(),
            other: other.display().to_string(),
        }),
        None => Ok(()),
    }
}

/// `--port` (must be free unless this space's gateway holds it), else the port of this space's
/// gateway container, else the first free port of 8080-8089.
async fn choose_port(engine: &Engine, space_id: &str, opts: &UpOptions) -> Result<u16, SpaceError> {
    let current = gateway_port(engine, space_id).await;
    if let Some(port) = opts.port {
        if current == Some(port) || port_free(&opts.bind, port) {
            return Ok(port);
        }
        if let Some((space, dir)) = port_holder(engine, port).await {
            return Err(SpaceError::PortHeldBySpace {
                port,
                bind: opts.bind.clone(),
                space,
                dir,
            });
        }
        return Err(EngineError::PortTaken {
            host_ip: opts.bind.clone(),
            port,
        }
        .into());
    }
    if let Some(port) = current {
        return Ok(port);
    }
    DEFAULT_PORTS
        .clone()
        .find(|p| port_free(&opts.bind, *p))
        .ok_or_else(|| SpaceError::NoFreePort {
            bind: opts.bind.clone(),
            from: *DEFAULT_PORTS.start(),
            to: *DEFAULT_PORTS.end(),
        })
}

/// One line per participant whose `env` names host variables that are not set: it would get
/// the text `${VAR}` (coder-agent's `OPENAI_API_KEY`), which a user should know before waiting.
fn unset_env_warnings(space: &Space, host_env: &BTreeMap<String, String>) -> Vec<String> {
    space
        .participants
        .iter()
        .filter(|p| matches!(p.kind, Kind::Agent | Kind::Bridge | Kind::FifoClient))
        .filter_map(|p| {
            let mut vars: Vec<String> = p
                .env
                .values()
                .chain(p.mcp_server.iter().flat_map(|m| m.env.values()))
                .flat_map(|v| mew_space::config::substitute::unset_vars(v, host_env))
                .collect();
            vars.sort();
            vars.dedup();
            (!vars.is_empty()).then(|| {
                format!(
                    "participant `{}`: its env refers to {} but {} not set in your environment",
                    p.id,
                    vars.iter()
                        .map(|v| format!("${{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if vars.len() == 1 { "it is" } else { "they are" }
                )
            })
        })
        .collect()
}

/// The host port this space's gateway container publishes, if it exists.
async fn gateway_port(engine: &Engine, space_id: &str) -> Option<u16> {
    let filter = format!("{}={space_id}", labels::SPACE);
    let containers = observe::containers_with(&engine.docker, &filter)
        .await
        .ok()?;
    let gateway = containers
        .iter()
        .find(|c| c.labels.get(labels::ROLE).map(String::as_str) == Some("gateway"))?;
    published_port(engine, &gateway.id).await
}

/// The mew space (id, directory) whose gateway publishes `port`, if one does.
async fn port_holder(engine: &Engine, port: u16) -> Option<(String, String)> {
    let filter = format!("{}=gateway", labels::ROLE);
    let gateways = observe::containers_with(&engine.docker, &filter)
        .await
        .ok()?;
    for g in gateways {
        if published_port(engine, &g.id).await == Some(port) {
            let label = |k: &str| g.labels.get(k).cloned().unwrap_or_else(|| "?".into());
            return Some((label(labels::SPACE), label(labels::SPACE_DIR)));
        }
    }
    None
}

/// The first host port a container publishes.
async fn published_port(engine: &Engine, container: &str) -> Option<u16> {
    let info = mew_engine::podman::inspect_container(&engine.docker, container)
        .await
        .ok()?;
    info.host_config?
        .port_bindings?
        .into_values()
        .flatten()
        .flatten()
        .find_map(|b| b.host_port?.parse().ok())
}

fn port_free(bind: &str, port: u16) -> bool {
    let host = match bind {
        "" => "127.0.0.1",
        b => b.trim_start_matches('[').trim_end_matches(']'),
    };
    let addr: Result<std::net::IpAddr, _> = host.parse();
    match addr {
        Ok(ip) => std::net::TcpListener::bind((ip, port)).is_ok(),
        Err(_) => std::net::TcpListener::bind((host, port)).is_ok(),
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DownOptions {
    pub(crate) host: Option<String>,
    pub(crate) space_dir: Option<PathBuf>,
    pub(crate) space_id: Option<String>,
    /// Also remove volumes labelled with the space.
    pub(crate) volumes: bool,
    /// Stop grace in seconds for every container (default: each container's own).
    pub(crate) timeout: Option<u32>,
}

/// What `down` removed, per space.
#[derive(Debug, Clone)]
pub(crate) struct DownReport {
    pub(crate) space_id: String,
    pub(crate) containers: usize,
    pub(crate) networks: usize,
    pub(crate) volumes: usize,
}

/// Take down the space(s) of a directory (found by label, no space.yaml needed) or one id.
pub(crate) async fn down(
    opts: &DownOptions,
    report: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Vec<DownReport>, SpaceError> {
    let dir = match &opts.space_dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|source| SpaceError::Io {
            what: "cannot determine the current directory".into(),
            source,
        })?,
    };
    // Labels hold the canonical path; a deleted directory cannot be canonicalised, so fall back.
    let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| absolute(&dir));
    let space_id = opts
        .space_id
        .clone()
        .or_else(|| std::env::var(mew_space::config::ENV_SPACE_ID).ok())
        .filter(|s| !s.is_empty());
    let engine = mew_engine::connect(opts.host.as_deref()).await?;
    let ids: Vec<String> = match &space_id {
        Some(id) => vec![id.clone()],
        // The directory's space.yaml names a space that an `up` may be creating right now (it
        // has no labelled object yet): take that id too, so that `down` waits for the `up`.
        None => {
            let mut ids: BTreeSet<String> = observe::spaces_in_dir(&engine.docker, &dir)
                .await?
                .into_iter()
                .collect();
            if let Some(c) = crate::ops::target::from_config(&dir, None) {
                if c.dir == dir {
                    ids.insert(c.id);
                }
            }
            ids.into_iter().collect()
        }
    };
    let mut reports = Vec::new();
    for id in ids {
        let _lock = lock_space(&id, report).await?;
        let observed = observe::observe_objects(&engine.docker, &id).await?;
        if observed.containers.is_empty() && observed.networks.is_empty() {
            continue;
        }
        let the_plan = plan::plan_down(&observed);
        let mut ctx = ApplyContext::new(&id, dir.clone(), "127.0.0.1", 0);
        ctx.stop_timeout = opts.timeout.map(|t| i32::try_from(t).unwrap_or(i32::MAX));
        apply(&engine, &the_plan, &ctx, report).await?;
        let volumes = if opts.volumes {
            remove_space_volumes(&engine, &id).await?
        } else {
            0
        };
        reports.push(DownReport {
            space_id: id,
            containers: observed.containers.len(),
            networks: observed.networks.len(),
            volumes,
        });
    }
    if reports.is_empty() {
        let place = match space_id {
            Some(id) => format!("{} (space id {id})", dir.display()),
            None => dir.display().to_string(),
        };
        return Err(SpaceError::NotFound(place));
    }
    Ok(reports)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Volumes labelled with the space (the shared runtime volume carries no space label and stays).
async fn remove_space_volumes(engine: &Engine, id: &str) -> Result<usize, SpaceError> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{}={id}", labels::SPACE)],
    )]);
    let list = engine
        .docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| EngineError::api("cannot list volumes", e))?;
    let mut n = 0;
    for v in list.volumes.unwrap_or_default() {
        mew_engine::volume::remove_volume(&engine.docker, &v.name).await?;
        n += 1;
    }
    Ok(n)
}
