//! `DesiredSpace` → a compose file that `docker compose` and `docker stack deploy` accept.
//!
//! The file is portable and holds no secret:
//! - the space directory is bound from `.` (the compose file sits in it) at `/space`, instead of
//!   the same absolute path `up` uses, so that the same space gives the same bytes anywhere;
//! - each participant's token is a compose secret read from its token file and mounted at
//!   `/run/secrets/mew-token`, where mew's roles look when given no token (compose and Swarm both
//!   support secrets; an env file would have to be named by every command). The gateway reads
//!   the token files from the bound space directory, as under `up`;
//! - a `${TOKEN}` written in a participant's args or env is the only exception: it becomes a
//!   `${MEW_TOKEN_<ID>:?…}` reference that `mew space export --env-file` fills;
//! - the user is `${MEW_UID:-1000}:${MEW_GID:-1000}`.
use crate::config::{ConfigError, LoadOptions, Space};
use crate::plan::model::{ContainerSpec, DesiredSpace, HealthCheck, MountKind, RestartPolicy};
use crate::plan::{desired, ResolveOptions};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the space directory is mounted in exported services.
pub const CONTAINER_DIR: &str = "/space";
/// Compose's name for the volume that carries mew into non-mew images.
const RUNTIME_VOLUME_KEY: &str = "mew-runtime";
/// The file name of a participant's token under `/run/secrets/` (see `tokens::SECRET_FILE`).
const SECRET_TARGET: &str = "mew-token";

#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot export: space.yaml ({}) is outside the space directory ({})", file.display(), dir.display())]
    ConfigOutsideDir { file: PathBuf, dir: PathBuf },
    #[error("cannot write the compose file")]
    Yaml(#[from] serde_norway::Error),
    #[error("cannot export for Swarm: space.network.mode `shared` needs one network namespace, which Swarm services cannot share; use the default bridge mode")]
    SharedOnSwarm,
    #[error("cannot export for Kubernetes: {0}")]
    Unsupported(String),
    #[error("cannot export: {0}; build a static mew (cargo build --release --target x86_64-unknown-linux-musl), run its `mew image build`, and export with --static-image")]
    UnknownRuntime(String),
}

impl ExportError {
    /// Whether the user's input is at fault (exit code 2); the YAML writer failing is mew's bug.
    pub fn is_usage(&self) -> bool {
        match self {
            ExportError::Config(e) => e.is_usage(),
            ExportError::Yaml(_) => false,
            _ => true,
        }
    }
}

/// Which tool the file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// The Compose specification (`docker compose`): every setting, `depends_on` on a healthy
    /// gateway, the gateway published on 127.0.0.1 only.
    Compose,
    /// Compose file format 3.9 (`docker stack deploy`), whose schema refuses `name`,
    /// `mem_limit`, `cpus`, `pids_limit` and conditional `depends_on`: limits live under
    /// `deploy.resources.limits` only, and Swarm publishes the gateway port on every interface.
    Stack,
}

/// Settings that `up` takes from flags and the machine; fixed here so the output is portable.
#[derive(Debug, Clone)]
pub struct ComposeOptions {
    pub port: u16,
    pub bind: String,
    /// The runtime image reference.
    pub runtime_image: String,
    /// The named volume that carries that image's `/opt/mew` into other images.
    pub runtime_volume: String,
    /// How to run mew inside a container with `/opt/mew`.
    pub mew_argv: Vec<String>,
    pub mew_version: String,
    /// The image is the static one (`mew:<version>`), not this executable's own.
    pub static_image: bool,
}

impl ComposeOptions {
    /// The runtime image of a static mew (`images/Dockerfile`, or `mew image build` run by a musl
    /// build), where `/opt/mew/mew` runs as it is: the same bytes whichever mew exports, which
    /// compose-examples/ need.
    pub fn new(mew_version: &str) -> Self {
        ComposeOptions {
            port: 8080,
            bind: "127.0.0.1".into(),
            runtime_image: format!("mew:{mew_version}"),
            runtime_volume: format!("mew-runtime-{mew_version}"),
            mew_argv: vec![format!("{}/mew", crate::plan::desired::RUNTIME_MOUNT)],
            mew_version: mew_version.into(),
            static_image: true,
        }
    }
}

/// The value standing in for a participant's token where only a string can carry it (a
/// `${TOKEN}` in args or env): compose fills it from the environment.
fn token_ref(id: &str) -> String {
    let var = crate::tokens::env_var_name(id);
    format!("${{{var}:?set {var} (mew space export --env-file)}}")
}

/// What the resolver gets as a participant's token: recognisable afterwards, so that the
/// `MEW_TOKEN` variables and `--token` flags carrying it can be left out (the secret carries it).
pub(super) fn token_marker(id: &str) -> String {
    format!("\u{1}mew-token:{id}\u{1}")
}

/// Compose's name for a participant's token secret.
fn secret_name(id: &str) -> String {
    format!("mew-token-{id}")
}

/// Whether any participant's args or env spell out its token (`${TOKEN}`), which then needs
/// `MEW_TOKEN_<ID>` from the environment (`--env-file`).
pub fn token_refs_used(yaml: &str) -> bool {
    yaml.contains("(mew space export --env-file)}")
}

/// The space re-read as if its directory were `/space`.
fn portable(space: &Space, text: &str) -> Result<Space, ExportError> {
    let rel = space
        .file
        .strip_prefix(&space.dir)
        .map_err(|_| ExportError::ConfigOutsideDir {
            file: space.file.clone(),
            dir: space.dir.clone(),
        })?;
    let file = Path::new(CONTAINER_DIR).join(rel);
    let opts = LoadOptions {
        space_dir: Some(PathBuf::from(CONTAINER_DIR)),
        space_id: Some(space.id.clone()),
    };
    Ok(crate::config::parse_space(&file, text, &opts)?)
}

/// Resolve the space with placeholders for everything machine- or secret-dependent.
pub fn desired_for_export(
    space: &Space,
    text: &str,
    o: &ComposeOptions,
) -> Result<DesiredSpace, ExportError> {
    let space = portable(space, text)?;
    let mut opts = ResolveOptions::new(
        o.port,
        o.runtime_image.clone(),
        RUNTIME_VOLUME_KEY,
        o.mew_argv.clone(),
        o.mew_version.clone(),
    );
    opts.bind = o.bind.clone();
    opts.user = Some("${MEW_UID:-1000}:${MEW_GID:-1000}".into());
    opts.isolate_dot_mew = false;
    for p in space.participants.iter().filter(|p| p.kind.has_container()) {
        opts.tokens.insert(p.id.clone(), token_marker(&p.id));
    }
    Ok(desired(&space, &opts)?)
}

/// The compose file for a space: `text` is its space.yaml as read from disk.
pub fn compose(space: &Space, text: &str, o: &ComposeOptions) -> Result<String, ExportError> {
    export(space, text, o, Flavour::Compose)
}

/// The space as a file for `docker compose` or `docker stack deploy`.
pub fn export(
    space: &Space,
    text: &str,
    o: &ComposeOptions,
    flavour: Flavour,
) -> Result<String, ExportError> {
    let d = desired_for_export(space, text, o)?;
    let rel_file =
        space
            .file
            .strip_prefix(&space.dir)
            .map_err(|_| ExportError::ConfigOutsideDir {
                file: space.file.clone(),
                dir: space.dir.clone(),
            })?;
    let file = build(&d, &space.id, o, &tokens_dir_rel(rel_file));
    let rel = rel_file.display().to_string();
    let image = &o.runtime_image;
    let (format, out, run) = match flavour {
        Flavour::Compose => (
            "compose",
            "compose.yaml",
            "MEW_UID=$(id -u) MEW_GID=$(id -g) docker compose up -d --wait",
        ),
        Flavour::Stack => (
            "stack",
            "stack.yaml",
            "MEW_UID=$(id -u) MEW_GID=$(id -g) docker stack deploy -c stack.yaml <name>",
        ),
    };
    let (build_it, flag) = if o.static_image {
        (
            "a static (musl) mew's `mew image build` or images/Dockerfile",
            " --static-image",
        )
    } else {
        ("`mew image build` run by the mew that wrote this file", "")
    };
    let mut header = format!(
        "# Generated by `mew space export --format {format}{flag}` from {rel}; do not edit.\n\
         # Keep this file in the space directory: it binds `.` at {CONTAINER_DIR}, and the tokens are\n\
         # secrets read from the space's token files (the export creates them). The image {image}\n\
         # is made by {build_it}. Then:\n\
         #   mew space export --format {format}{flag} -o {out}\n\
         #   {run}\n"
    );
    let value = match flavour {
        Flavour::Compose => serde_norway::to_value(&file)?,
        Flavour::Stack => for_stack(serde_norway::to_value(&file)?)?,
    };
    let body = yaml11_safe(&serde_norway::to_string(&value)?);
    if token_refs_used(&body) {
        header.push_str(
            "# Some args or env spell out a token (${TOKEN}): also pass the MEW_TOKEN_<ID> variables,\n\
             # e.g. `--env-file .mew/compose.env` (written by mew space export --env-file).\n",
        );
    }
    Ok(header + &body)
}

/// The space's token directory relative to the space directory, as the export finds it once
/// `tokens::ensure_mew_dir` made `.mew` (the CLI does before exporting).
fn tokens_dir_rel(rel_file: &Path) -> String {
    let parent = rel_file.parent().unwrap_or(Path::new(""));
    let mew_dir = if parent.file_name().is_some_and(|n| n == ".mew") {
        parent.to_path_buf()
    } else {
        parent.join(".mew")
    };
    format!("./{}", mew_dir.join("tokens").display())
}

/// Rewrite a Compose-specification file into compose format 3.9 for `docker stack deploy`.
fn for_stack(file: serde_norway::Value) -> Result<serde_norway::Value, ExportError> {
    use serde_norway::{Mapping, Value};
    let serde_norway::Value::Mapping(top) = file else {
        return Ok(file);
    };
    let mut out = Mapping::new();
    out.insert("version".into(), "3.9".into());
    for (key, value) in top {
        match (key.as_str(), value) {
            (Some("name"), _) => {}
            (Some("services"), Value::Mapping(services)) => {
                let mut converted = Mapping::new();
                for (name, service) in services {
                    converted.insert(name, stack_service(service)?);
                }
                out.insert(key, Value::Mapping(converted));
            }
            (_, value) => {
                out.insert(key, value);
            }
        }
    }
    Ok(Value::Mapping(out))
}

fn stack_service(service: serde_norway::Value) -> Result<serde_norway::Value, ExportError> {
    use serde_norway::{Mapping, Value};
    let Value::Mapping(fields) = service else {
        return Ok(service);
    };
    let mut out = Mapping::new();
    for (key, value) in fields {
        match key.as_str() {
            // Not in the 3.x schema: the limits are under deploy.resources.limits already.
            Some("mem_limit" | "cpus" | "pids_limit") => {}
            // Swarm names containers itself, restarts by deploy.restart_policy and has no
            // no-new-privileges (stack deploy would only warn that it ignores them).
            Some("container_name" | "restart" | "security_opt") => {}
            // Swarm gives each service a virtual IP by default; DNS round robin names the
            // tasks themselves, which also works where the VIP's load balancer does not (and
            // is what host-mode published ports go with).
            Some("deploy") => {
                let mut deploy = match value {
                    Value::Mapping(m) => m,
                    _ => Mapping::new(),
                };
                deploy.insert("endpoint_mode".into(), "dnsrr".into());
                out.insert(key, Value::Mapping(deploy));
            }
            Some("network_mode") => return Err(ExportError::SharedOnSwarm),
            // 3.x only knows the list form (Swarm ignores it; agents reconnect until the
            // gateway is up).
            Some("depends_on") => {
                let names: Vec<Value> = match value {
                    Value::Mapping(m) => m.into_iter().map(|(k, _)| k).collect(),
                    other => vec![other],
                };
                out.insert(key, Value::Sequence(names));
            }
            // Swarm cannot publish on one address: the long form with `mode: host` publishes on
            // the node running the gateway (every interface of it).
            Some("ports") => {
                let ports: Vec<Value> = value
                    .as_sequence()
                    .map(|s| {
                        s.iter()
                            .filter_map(|p| p.as_str().map(stack_port))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(key, Value::Sequence(ports));
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    Ok(Value::Mapping(out))
}

/// `127.0.0.1:8080:9090` → `{target: 9090, published: 8080, protocol: tcp, mode: host}`.
fn stack_port(short: &str) -> serde_norway::Value {
    let mut parts = short.rsplitn(3, ':');
    let target: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let published: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(target);
    let mut m = serde_norway::Mapping::new();
    m.insert("target".into(), target.into());
    m.insert("published".into(), published.into());
    m.insert("protocol".into(), "tcp".into());
    m.insert("mode".into(), "host".into());
    serde_norway::Value::Mapping(m)
}

/// Quote plain scalars that YAML 1.1 parsers (docker stack deploy) read as booleans, such as
/// `restart: no`; serde_norway writes YAML 1.2, where they are strings.
fn yaml11_safe(yaml: &str) -> String {
    const BOOLISH: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| {
            line.trim_start()
                .starts_with("- ")
                .then(|| line.find("- ").unwrap_or(0) + 2)
        });
        match split {
            Some(i) if BOOLISH.contains(&&line[i..]) => {
                out.push_str(&line[..i]);
                out.push('\'');
                out.push_str(&line[i..]);
                out.push('\'');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `MEW_TOKEN_<ID>=<token>` lines for an env file (the secrets the compose file refers to).
pub fn env_file_text(tokens: &[(String, String)]) -> String {
    tokens
        .iter()
        .map(|(id, t)| format!("{}={t}\n", crate::tokens::env_var_name(id)))
        .collect()
}

#[derive(Serialize)]
struct ComposeFile {
    name: String,
    services: IndexMap<String, Service>,
    networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<String, Volume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, Secret>,
}

#[derive(Serialize)]
struct Secret {
    file: String,
}

#[derive(Serialize)]
struct ServiceSecret {
    source: String,
    target: String,
}

#[derive(Serialize)]
struct Network {
    name: String,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Volume {
    name: String,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Service {
    image: String,
    container_name: String,
    entrypoint: Vec<String>,
    command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    volumes: Vec<VolumeMount>,
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids_limit: Option<i64>,
    restart: String,
    logging: Logging,
    stop_grace_period: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    init: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security_opt: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<ServiceSecret>,
    deploy: Deploy,
}

#[derive(Serialize)]
struct VolumeMount {
    #[serde(rename = "type")]
    kind: String,
    source: String,
    target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

#[derive(Serialize)]
struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
}

#[derive(Serialize)]
struct Logging {
    driver: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    options: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
}

#[derive(Serialize)]
struct DependsOn {
    condition: String,
}

#[derive(Serialize)]
struct Deploy {
    resources: DeployResources,
    restart_policy: DeployRestart,
}

#[derive(Serialize)]
struct DeployResources {
    limits: DeployLimits,
}

#[derive(Serialize)]
struct DeployLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids: Option<i64>,
}

#[derive(Serialize)]
struct DeployRestart {
    condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
}

/// A compose project name: lower-case letters, digits, `-` and `_`.
fn project_name(space_id: &str) -> String {
    space_id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '-',
        })
        .collect()
}

fn build(d: &DesiredSpace, space_id: &str, o: &ComposeOptions, tokens_dir: &str) -> ComposeFile {
    let mut services = IndexMap::new();
    let mut gateway = service(&d.gateway, d, &o.mew_argv);
    if d.runtime_volume.is_some() {
        // The first container to mount an empty named volume fills it from its image: the
        // gateway (runtime image, healthy before anyone else starts) copies mew into it.
        gateway.volumes.push(VolumeMount {
            kind: "volume".into(),
            source: RUNTIME_VOLUME_KEY.into(),
            target: crate::plan::desired::RUNTIME_MOUNT.into(),
            read_only: false,
        });
    }
    services.insert("gateway".to_string(), gateway);
    let mut secrets = BTreeMap::new();
    for p in &d.participants {
        let mut s = service(p, d, &o.mew_argv);
        s.depends_on.insert(
            "gateway".into(),
            DependsOn {
                condition: "service_healthy".into(),
            },
        );
        let name = secret_name(&p.participant);
        s.secrets.push(ServiceSecret {
            source: name.clone(),
            target: SECRET_TARGET.into(),
        });
        secrets.insert(
            name,
            Secret {
                file: format!("{tokens_dir}/{}.token", p.participant),
            },
        );
        services.insert(p.participant.clone(), s);
    }
    let networks = BTreeMap::from([(
        d.network.name.clone(),
        Network {
            name: d.network.name.clone(),
            labels: d.network.labels.clone(),
        },
    )]);
    let mut volumes = match &d.runtime_volume {
        Some(_) => BTreeMap::from([(
            RUNTIME_VOLUME_KEY.to_string(),
            Volume {
                name: o.runtime_volume.clone(),
                labels: d.network.labels.clone(),
            },
        )]),
        None => BTreeMap::new(),
    };
    // The space's named volumes under the names `up` gives them, so both use the same data.
    for v in &d.volumes {
        volumes.insert(
            v.key.clone(),
            Volume {
                name: v.name.clone(),
                labels: v.labels.clone(),
            },
        );
    }
    ComposeFile {
        name: project_name(space_id),
        services,
        networks,
        volumes,
        secrets,
    }
}

fn service(c: &ContainerSpec, d: &DesiredSpace, mew_argv: &[String]) -> Service {
    let (network_mode, networks) = match c.network.strip_prefix("container:") {
        // Shared namespace: everyone lives in the gateway's.
        Some(_) => (Some("service:gateway".to_string()), BTreeMap::new()),
        None => (
            None,
            BTreeMap::from([(
                c.network.clone(),
                ServiceNetwork {
                    aliases: c.aliases.clone(),
                },
            )]),
        ),
    };
    let volumes = c
        .mounts
        .iter()
        .map(|m| match m.kind {
            MountKind::Bind => VolumeMount {
                kind: "bind".into(),
                source: match &m.relative {
                    // Relative to the space directory, where the compose file is.
                    Some(r) => r.clone(),
                    None => bind_source(&m.source, d),
                },
                target: m.target.clone(),
                read_only: m.read_only,
            },
            MountKind::Volume => VolumeMount {
                kind: "volume".into(),
                source: d
                    .volumes
                    .iter()
                    .find(|v| v.name == m.source)
                    .map_or_else(|| RUNTIME_VOLUME_KEY.to_string(), |v| v.key.clone()),
                target: m.target.clone(),
                read_only: m.read_only,
            },
        })
        .collect();
    let memory = c.resources.memory_bytes.map(bytes);
    let cpus = c.resources.nano_cpus.map(cpus);
    let refs = token_refs(d);
    let marker = token_marker(&c.participant);
    // The token travels as a secret: drop what carries it, and spell out what must (a
    // `${TOKEN}` the user wrote) as a reference compose fills in.
    let spelled = |v: &str| v.replace(&marker, &token_ref(&c.participant));
    let literal = |v: &String| escape_dollars(&spelled(v), &refs, false);
    let mut plain: Vec<&String> = Vec::with_capacity(c.cmd.len());
    let drop_flag = runs_mew(&c.cmd, mew_argv);
    let mut args = c.cmd.iter().peekable();
    while let Some(a) = args.next() {
        if drop_flag && a == "--token" && args.peek().is_some_and(|v| **v == marker) {
            args.next();
        } else {
            plain.push(a);
        }
    }
    let mut cmd = plain.into_iter().map(literal);
    let entrypoint: Vec<String> = cmd.next().into_iter().collect();
    Service {
        image: c.image.clone(),
        container_name: c.name.clone(),
        entrypoint,
        command: cmd.collect(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        // `${VAR}` in env means the host's variable, as under `up`: compose fills it in.
        environment: c
            .env
            .iter()
            .filter(|(_, v)| **v != marker)
            .map(|(k, v)| (k.clone(), escape_dollars(&spelled(v), &refs, true)))
            .collect(),
        volumes,
        labels: c.labels.clone(),
        network_mode,
        networks,
        ports: c
            .ports
            .iter()
            .map(|p| format!("{}:{}:{}", p.host_ip, p.host_port, p.container_port))
            .collect(),
        // compose v2 refuses a top-level limit that differs from its deploy one (an absent
        // one counts as 0): both carry the same value.
        mem_limit: memory.clone(),
        cpus: cpus.clone(),
        pids_limit: c.resources.pids_limit,
        restart: restart(&c.restart),
        logging: Logging {
            driver: c.log.driver.clone(),
            options: c.log.options.clone(),
        },
        stop_grace_period: format!("{}s", c.stop_grace_secs),
        init: c.init,
        cap_drop: if c.cap_drop_all {
            vec!["ALL".into()]
        } else {
            Vec::new()
        },
        security_opt: if c.no_new_privileges {
            vec!["no-new-privileges:true".into()]
        } else {
            Vec::new()
        },
        read_only: c.read_only_rootfs,
        healthcheck: c.healthcheck.as_ref().map(|h| Healthcheck {
            test: h.test.iter().map(literal).collect(),
            ..healthcheck(h)
        }),
        depends_on: BTreeMap::new(),
        secrets: Vec::new(),
        deploy: Deploy {
            resources: DeployResources {
                limits: DeployLimits {
                    memory,
                    cpus,
                    pids: c.resources.pids_limit,
                },
            },
            restart_policy: deploy_restart(&c.restart),
        },
    }
}

/// Whether the program a container runs (after `mew supervise … --`, if there) is mew itself,
/// whose roles read the secret when given no `--token`.
fn runs_mew(cmd: &[String], mew_argv: &[String]) -> bool {
    let program = match cmd.iter().position(|a| a == "--") {
        Some(i) => &cmd[i + 1..],
        None => cmd,
    };
    program.starts_with(mew_argv)
}

/// The token references the file may contain (one per participant with a container).
fn token_refs(d: &DesiredSpace) -> Vec<String> {
    d.participants
        .iter()
        .map(|p| token_ref(&p.participant))
        .collect()
}

/// Protect `$` from compose's interpolation (`$$`), except in mew's own token references and,
/// with `keep_braced`, in `${VAR}` (host variables, which compose then fills in).
fn escape_dollars(s: &str, refs: &[String], keep_braced: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(r) = refs.iter().find(|r| tail.starts_with(r.as_str())) {
            out.push_str(r);
            rest = &tail[r.len()..];
        } else if keep_braced && tail.starts_with("${") {
            out.push_str("${");
            rest = &tail[2..];
        } else {
            out.push_str("$$");
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Bind sources under the container-side space directory become paths relative to the
/// compose file (which lives in the space directory).
fn bind_source(source: &str, d: &DesiredSpace) -> String {
    let dir = d.space_dir.display().to_string();
    if source == dir {
        ".".into()
    } else if let Some(rest) = source.strip_prefix(&format!("{dir}/")) {
        format!("./{rest}")
    } else {
        source.to_string()
    }
}

fn bytes(b: i64) -> String {
    const KIB: i64 = 1024;
    if b % (KIB * KIB * KIB) == 0 {
        format!("{}g", b / (KIB * KIB * KIB))
    } else if b % (KIB * KIB) == 0 {
        format!("{}m", b / (KIB * KIB))
    } else if b % KIB == 0 {
        format!("{}k", b / KIB)
    } else {
        b.to_string()
    }
}

fn cpus(nano: i64) -> String {
    let s = format!("{:.9}", nano as f64 / 1e9);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn healthcheck(h: &HealthCheck) -> Healthcheck {
    Healthcheck {
        test: h.test.clone(),
        interval: duration(h.interval_ms),
        timeout: duration(h.timeout_ms),
        retries: h.retries,
        start_period: duration(h.start_period_ms),
    }
}

fn restart(r: &RestartPolicy) -> String {
    match r {
        RestartPolicy::No => "no".into(),
        RestartPolicy::OnFailure(None) => "on-failure".into(),
        RestartPolicy::OnFailure(Some(n)) => format!("on-failure:{n}"),
        RestartPolicy::Always => "always".into(),
        RestartPolicy::UnlessStopped => "unless-stopped".into(),
    }
}

/// Swarm's equivalent (`none` keeps Swarm from rescheduling what `up` would not restart).
fn deploy_restart(r: &RestartPolicy) -> DeployRestart {
    let (condition, max_attempts) = match r {
        RestartPolicy::No => ("none", None),
        RestartPolicy::OnFailure(n) => ("on-failure", *n),
        RestartPolicy::Always | RestartPolicy::UnlessStopped => ("any", None),
    };
    DeployRestart {
        condition: condition.into(),
        max_attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(256 * 1024 * 1024), "256m");
        assert_eq!(bytes(1024 * 1024 * 1024), "1g");
        assert_eq!(bytes(1000), "1000");
        assert_eq!(cpus(500_000_000), "0.5");
        assert_eq!(cpus(2_000_000_000), "2");
        assert_eq!(duration(2500), "2500ms");
        let refs = vec![token_ref("a")];
        let with_ref = format!("--token={} $HOME ${{X}} $$", refs[0]);
        assert_eq!(
            escape_dollars(&with_ref, &refs, false),
            format!("--token={} $$HOME $${{X}} $$$$", refs[0])
        );
        assert_eq!(escape_dollars("${KEY} $x", &refs, true), "${KEY} $$x");
        assert_eq!(
            yaml11_safe("restart: no\nx:\n- on\n  k: 'no'\n  t: no way\n"),
            "restart: 'no'\nx:\n- 'on'\n  k: 'no'\n  t: no way\n"
        );
        assert_eq!(project_name("My.Space_1"), "my-space_1");
        assert_eq!(
            token_ref("echo-agent"),
            "${MEW_TOKEN_ECHO_AGENT:?set MEW_TOKEN_ECHO_AGENT (mew space export --env-file)}"
        );
    }
}
