//! `mew space up` and `mew space down` as library operations: load, lock, observe, plan, apply.
//! The CLI handlers only turn flags into `UpOptions` / `DownOptions` and print the outcome.
use mew_engine::apply::{apply, ApplyContext, ApplyError, Outcome, Progress};
use mew_engine::image::{self, Runtime};
use mew_engine::{observe, Engine, EngineError};
use mew_space::config::{ConfigError, Kind, Space};
use mew_space::model::{ContainerState, Role};
use mew_space::plan::{self, DesiredSpace, ObservedSpace, Plan, PortError, ResolveOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum SpaceError {
    /// Bad space.yaml or flags (exit code 2: the `ConfigError` stays in the error chain).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Tokens(#[from] mew_space::tokens::TokenError),
    #[error("{what}")]
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

impl SpaceError {
    /// Whether the user's input is at fault (exit code 2) rather than the engine (1).
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            SpaceError::Config(e) => e.is_usage(),
            SpaceError::Engine(e) => e.is_usage(),
            SpaceError::Apply(e) => e.is_usage(),
            SpaceError::Tokens(e) => e.is_usage(),
            _ => false,
        }
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
    pub(crate) role: Role,
    /// `None`: it has no container.
    pub(crate) state: Option<ContainerState>,
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
        mew_space::net::reachable_url("ws", &self.bind, self.port)
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
    // Paths a container would not see (files outside the space directory, missing bind sources).
    mew_space::config::paths::check_host_paths(&space, &|p| p.exists())?;
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
    let join_timeout_ms = join_timeout_ms(opts);
    let base = |port: u16, tokens: BTreeMap<String, String>| {
        let mut r = resolve_options(opts, rt, &image_overrides, &host_env, port, tokens);
        r.join_timeout_ms = join_timeout_ms;
        r
    };
    // Validate everything that depends only on the file (images per command, …). Its images and
    // runtime volume are those of the real one: they are what `observe` looks for.
    let checked = checked_desired(&space, &base)?;
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
    // Read once, under the lock: everything the plan (and the port) is decided on.
    let observed = observe::observe_space(&engine.docker, &space.id, Some(&checked)).await?;
    if let Some(other) = observed.id_used_by_other_dir(&space.dir) {
        return Err(SpaceError::IdInUse {
            id: space.id.clone(),
            other: other.display().to_string(),
        });
    }
    let port = choose_port(&space.id, opts, &observed)?;

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
    let tokens = load_tokens(&space)?;
    report(Progress::Done(format!(
        "tokens loaded/generated for all {} participants",
        tokens.len()
    )));
    let token_files = participant_token_files(&space, &tokens)?;
    let mut resolve = base(port, tokens);
    resolve.token_files = token_files;
    let desired = plan::desired(&space, &resolve)?;
    let the_plan = plan::plan(&desired, &observed);
    let mut ctx = ApplyContext::new(&space.id, space.dir.clone(), &opts.bind, port);
    ctx.logs_dir = space.logs_dir();
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
    let after = observe::observe_objects(&engine.docker, &space.id).await?;
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
    let resolve = |port: u16, tokens: BTreeMap<String, String>| {
        let mut r = resolve_options(opts, rt, &image_overrides, &host_env, port, tokens);
        r.join_timeout_ms = join_timeout_ms(opts);
        r
    };
    // Observe looks for what the space would run (its images, its runtime volume), which do
    // not depend on the port or the tokens.
    let checked = checked_desired(space, &resolve)?;
    let observed = observe::observe_space(&engine.docker, &space.id, Some(&checked)).await?;
    let port = choose_port(&space.id, opts, &observed)?;
    let desired = plan::desired(space, &resolve(port, existing_tokens(space)?))?;
    Ok((port, desired, observed))
}

/// The space resolved with placeholder tokens and port: what depends on the file only (its
/// images, its runtime volume), checked before anything is touched and looked for by observe.
fn checked_desired(
    space: &Space,
    resolve: &dyn Fn(u16, BTreeMap<String, String>) -> ResolveOptions,
) -> Result<DesiredSpace, SpaceError> {
    let placeholder_tokens = space
        .participants
        .iter()
        .map(|p| (p.id.clone(), String::new()))
        .collect();
    Ok(plan::desired(
        space,
        &resolve(*plan::DEFAULT_PORTS.start(), placeholder_tokens),
    )?)
}

/// `--join-timeout` in milliseconds (default 20 s; 0 leaves the join wait out of the plan).
fn join_timeout_ms(opts: &UpOptions) -> u64 {
    opts.join_timeout
        .map_or(20_000, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
}

/// Desired participants (gateway first) with the engine state of their containers.
fn states(desired: &DesiredSpace, observed: &ObservedSpace) -> Vec<ParticipantState> {
    std::iter::once(&desired.gateway)
        .chain(&desired.participants)
        .map(|spec| ParticipantState {
            id: spec.participant.clone(),
            role: spec.role,
            state: observed
                .containers
                .iter()
                .find(|c| c.name == spec.name)
                .map(|c| c.state),
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

/// The gateway's port (`plan::choose_port`), probing the host for free ones.
fn choose_port(
    space_id: &str,
    opts: &UpOptions,
    observed: &ObservedSpace,
) -> Result<u16, SpaceError> {
    let bind = &opts.bind;
    plan::choose_port(space_id, opts.port, &observed.gateways, |p| {
        port_free(bind, p)
    })
    .map_err(|e| match e {
        PortError::HeldBySpace { port, space, dir } => SpaceError::PortHeldBySpace {
            port,
            bind: bind.clone(),
            space,
            dir,
        },
        PortError::Taken { port } => EngineError::PortTaken {
            host_ip: bind.clone(),
            port,
        }
        .into(),
        PortError::NoneFree { from, to } => SpaceError::NoFreePort {
            bind: bind.clone(),
            from,
            to,
        },
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

/// Whether the host lets us bind `port` on `bind` now (a host fact, not an engine one).
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
        let the_plan = plan::plan_down(&observed, opts.volumes);
        let mut ctx = ApplyContext::new(&id, dir.clone(), "127.0.0.1", 0);
        ctx.stop_timeout = opts.timeout.map(|t| i32::try_from(t).unwrap_or(i32::MAX));
        apply(&engine, &the_plan, &ctx, report).await?;
        // As upstream's `down`: the space's FIFOs go with it (a new `up` makes them again).
        let fifo_dirs: BTreeSet<PathBuf> = observed
            .containers
            .iter()
            .filter_map(|c| c.labels.get(mew_space::model::labels::SPACE_DIR))
            .map(PathBuf::from)
            .collect();
        let fifos_only = crate::ops::clean::FileScope {
            fifos: true,
            ..Default::default()
        };
        for d in fifo_dirs {
            let fifos = crate::ops::clean::files_to_clean(&d, &fifos_only, &BTreeSet::new());
            crate::ops::clean::remove_files(&fifos);
        }
        let volumes = if opts.volumes {
            observed.volumes.len()
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
