//! Validated `Space` + options from outside → `DesiredSpace` (every container fully resolved).
//! Pure: the host environment, tokens and image names all come in through `ResolveOptions`.
use super::model::*;
use crate::config::substitute::{self, Placeholders};
use crate::config::{
    default_log, ConfigError, Kind, NetworkMode, Participant, Space, VolumeEntry, VolumeSource,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Label on the gateway: digest of what the gateway reads from space.yaml (participants,
/// tokens, capabilities, …), so that editing those restarts it.
pub const LABEL_GATEWAY_VIEW: &str = "io.mew.gateway-view";
/// Label on participants: the gateway's config hash. Participants are recreated with the gateway
/// because upstream agents do not reconnect after losing it.
pub const LABEL_GATEWAY_HASH: &str = "io.mew.gateway-hash";

/// Where mew's files are mounted in containers whose image is not the runtime image.
pub const RUNTIME_MOUNT: &str = "/opt/mew";

/// The file holding a participant's own token (read-only) in its container. Exports that use
/// compose `secrets:` put it at the same place.
pub const TOKEN_SECRET_PATH: &str = "/run/secrets/mew-token";

const MIB: i64 = 1024 * 1024;
const GATEWAY_MEMORY: i64 = 256 * MIB;
const PARTICIPANT_MEMORY: i64 = 512 * MIB;
const PIDS_LIMIT: i64 = 512;
const STOP_GRACE_MS: u64 = 5_000;

/// Everything `desired` needs from outside space.yaml.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Gateway port, the same inside and outside the containers.
    pub port: u16,
    /// Host address the gateway port is published on.
    pub bind: String,
    /// `uid:gid` the processes run as.
    pub user: Option<String>,
    /// Tag of the runtime image for this mew version.
    pub runtime_image: String,
    /// Name of the volume carrying mew into other images.
    pub runtime_volume: String,
    /// How to run mew inside a container (e.g. `["/opt/mew/mew"]`).
    pub mew_argv: Vec<String>,
    /// Image per command key (see `command_key`), from `--image` and `MEW_IMAGE_*`.
    pub image_overrides: BTreeMap<String, String>,
    /// Image per command name when nothing else says (`node` → `node:22-slim`).
    pub default_images: BTreeMap<String, String>,
    /// Snapshot of the host environment (for `${VAR}` in `env` and a few passthroughs).
    pub host_env: BTreeMap<String, String>,
    /// Token of every participant that gets a container.
    pub tokens: BTreeMap<String, String>,
    /// Host file holding a participant's token, where it is not `<mewDir>/tokens/<id>.token`
    /// (an `MEW_TOKEN_<ID>` override; see `tokens::token_file_for`).
    pub token_files: BTreeMap<String, String>,
    /// Participants get `.mew` read-only, the tokens directory hidden and their own token file
    /// (see `participant_mounts`). Off for exports: compose cannot make the host directories
    /// these binds need, and their tokens come from an env file.
    pub isolate_dot_mew: bool,
    pub mew_version: String,
    /// `--log-level` passed to the gateway, if any.
    pub log_level: Option<String>,
    /// How long `up` waits for started participants to join (`--join-timeout`); 0: no wait.
    pub join_timeout_ms: u64,
}

impl ResolveOptions {
    /// Options with mew's defaults for everything not given.
    pub fn new(
        port: u16,
        runtime_image: impl Into<String>,
        runtime_volume: impl Into<String>,
        mew_argv: Vec<String>,
        mew_version: impl Into<String>,
    ) -> Self {
        ResolveOptions {
            port,
            bind: "127.0.0.1".into(),
            user: None,
            runtime_image: runtime_image.into(),
            runtime_volume: runtime_volume.into(),
            mew_argv,
            image_overrides: BTreeMap::new(),
            default_images: default_images(),
            host_env: BTreeMap::new(),
            tokens: BTreeMap::new(),
            token_files: BTreeMap::new(),
            isolate_dot_mew: true,
            mew_version: mew_version.into(),
            log_level: None,
            join_timeout_ms: 20_000,
        }
    }
}

/// Images used for well-known commands when space.yaml names none.
pub fn default_images() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("node".to_string(), "node:22-slim".to_string()),
        ("npm".to_string(), "node:22-slim".to_string()),
        ("npx".to_string(), "node:22-slim".to_string()),
        ("python3".to_string(), "python:3.12-slim".to_string()),
        ("python".to_string(), "python:3.12-slim".to_string()),
    ])
}

/// The key a command's image override is filed under: its file name upper-cased, with `-` and
/// `.` as `_` (`node` → `NODE`, `/usr/bin/python3.12` → `PYTHON3_12`), as in `MEW_IMAGE_<KEY>`.
pub fn command_key(command: &str) -> String {
    command_name(command)
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

fn command_name(command: &str) -> &str {
    command.rsplit('/').next().unwrap_or(command)
}

/// Image overrides from `--image CMD=IMAGE` flags and `MEW_IMAGE_<KEY>` variables (flags win).
pub fn image_overrides(
    flags: &[String],
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, value) in env {
        if let Some(key) = name.strip_prefix("MEW_IMAGE_") {
            if !key.is_empty() && !value.trim().is_empty() {
                out.insert(key.to_ascii_uppercase(), value.trim().to_string());
            }
        }
    }
    for flag in flags {
        match flag.split_once('=') {
            Some((cmd, image)) if !cmd.trim().is_empty() && !image.trim().is_empty() => {
                out.insert(command_key(cmd.trim()), image.trim().to_string());
            }
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "invalid --image `{flag}` (expected COMMAND=IMAGE, e.g. node=my/node:22)"
                )))
            }
        }
    }
    Ok(out)
}

/// The env variable carrying a participant's token (`MEW_TOKEN_<ID>`: upper-case, `-` → `_`).
pub fn token_env_name(id: &str) -> String {
    format!("MEW_TOKEN_{}", id.to_uppercase().replace('-', "_"))
}

/// Resolve a space into the containers, network and images it needs.
pub fn desired(space: &Space, opts: &ResolveOptions) -> Result<DesiredSpace, ConfigError> {
    if opts.mew_argv.is_empty() {
        return Err(ConfigError::Invalid(
            "internal: empty mew command line".into(),
        ));
    }
    let r = Resolver { space, opts };
    let gateway = r.gateway();
    let gateway_hash = gateway
        .labels
        .get(labels::CONFIG_HASH)
        .cloned()
        .unwrap_or_default();
    let mut participants = Vec::new();
    for p in &space.participants {
        if p.kind.has_container() {
            participants.push(r.participant(p, &gateway_hash)?);
        }
    }
    let volumes = r.named_volumes();
    let needs_volume = std::iter::once(&gateway)
        .chain(&participants)
        .any(|c| c.image != opts.runtime_image);
    Ok(DesiredSpace {
        space_id: space.id.clone(),
        space_dir: space.dir.clone(),
        runtime_image: opts.runtime_image.clone(),
        runtime_volume: needs_volume.then(|| opts.runtime_volume.clone()),
        network: NetworkSpec {
            name: network_name(&space.id),
            labels: r.base_labels(),
        },
        volumes,
        bind: opts.bind.clone(),
        port: opts.port,
        gateway,
        participants,
        join_timeout_ms: opts.join_timeout_ms,
    })
}

/// `mew-<spaceId>`.
pub fn network_name(space_id: &str) -> String {
    format!("mew-{space_id}")
}

/// `<spaceId>_<name>`: the engine's name of a named volume of the space (compose's too).
pub fn volume_name(space_id: &str, name: &str) -> String {
    format!("{space_id}_{name}")
}

/// `<spaceId>-<participant>`.
pub fn container_name(space_id: &str, participant: &str) -> String {
    format!("{space_id}-{participant}")
}

fn bind(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        kind: MountKind::Bind,
        source: source.to_string(),
        target: target.to_string(),
        read_only,
        relative: None,
    }
}

/// What runs in a participant's container, before supervision and common settings.
struct Program {
    role: Role,
    image: String,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
}

/// A broken invariant between config and plan (a caller bug, not a user error).
fn internal(participant: &str, what: &str) -> ConfigError {
    ConfigError::Invalid(format!("internal: participant `{participant}` {what}"))
}

struct Resolver<'a> {
    space: &'a Space,
    opts: &'a ResolveOptions,
}

impl Resolver<'_> {
    fn dir(&self) -> String {
        self.space.dir.display().to_string()
    }

    fn base_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::SPACE.to_string(), self.space.id.clone()),
            (labels::SPACE_DIR.to_string(), self.dir()),
            (labels::VERSION.to_string(), self.opts.mew_version.clone()),
        ])
    }

    fn labels(&self, participant: &str, role: Role) -> BTreeMap<String, String> {
        let mut l = self.base_labels();
        l.insert(labels::PARTICIPANT.into(), participant.into());
        l.insert(labels::ROLE.into(), role.as_str().into());
        l
    }

    /// What participants use to reach the gateway.
    fn gateway_url(&self) -> String {
        match self.space.network_mode {
            NetworkMode::Bridge => format!("ws://gateway:{}", self.opts.port),
            NetworkMode::Shared => format!("ws://localhost:{}", self.opts.port),
        }
    }

    /// `mew supervise --log <dir>/logs/<name>.log --` in front of every container's command.
    fn supervised(&self, log_name: &str, command: Vec<String>) -> Vec<String> {
        let mut cmd = self.opts.mew_argv.clone();
        cmd.push("supervise".into());
        cmd.push("--log".into());
        cmd.push(format!(
            "{}/{log_name}.log",
            self.space.logs_dir().display()
        ));
        cmd.push("--".into());
        cmd.extend(command);
        cmd
    }

    fn mew(&self, args: &[&str]) -> Vec<String> {
        let mut v = self.opts.mew_argv.clone();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// The gateway's mounts: the space directory read-write (it is trusted: it reads every token
    /// and writes `.mew/logs`), and space.yaml's directory when that lives elsewhere.
    fn gateway_mounts(&self, image: &str) -> Vec<Mount> {
        let mut m = vec![bind(&self.dir(), &self.dir(), false)];
        if !self.space.file.starts_with(&self.space.dir) {
            if let Some(parent) = self.space.file.parent() {
                let p = parent.display().to_string();
                m.push(bind(&p, &p, true));
            }
        }
        self.push_runtime_volume(&mut m, image);
        m
    }

    /// A participant's mounts: the space directory read-write, but `.mew` (space.yaml, the
    /// gateway's audit logs) read-only with the tokens directory hidden behind an empty one, and
    /// only its own token, read-only, at `TOKEN_SECRET_PATH`. Parent directories come before what
    /// is mounted inside them, so the engine stacks them in this order.
    fn participant_mounts(&self, p: &Participant, image: &str) -> Result<Vec<Mount>, ConfigError> {
        let id = p.id.as_str();
        let dir = self.dir();
        let mew_dir = crate::tokens::mew_dir_after_up(&self.space.file);
        let tokens = crate::tokens::tokens_dir(&mew_dir);
        let mut m = vec![bind(&dir, &dir, false)];
        for v in &p.volumes {
            m.push(self.user_mount(p, v, &mew_dir)?);
        }
        if !self.opts.isolate_dot_mew {
            self.push_runtime_volume(&mut m, image);
            m.sort_by_key(|mount| Path::new(&mount.target).components().count());
            return Ok(m);
        }
        // A space.yaml beside `.mew` (not in it) is protected on its own.
        let file = &self.space.file;
        if file.starts_with(&self.space.dir) && !file.starts_with(&mew_dir) {
            let f = file.display().to_string();
            m.push(bind(&f, &f, true));
        }
        // `.mew` beside a space.yaml outside the space directory is not in the container at all.
        if mew_dir.starts_with(&self.space.dir) {
            let md = mew_dir.display().to_string();
            m.push(bind(&md, &md, true));
            let empty = crate::tokens::empty_dir(&mew_dir).display().to_string();
            m.push(bind(&empty, &tokens.display().to_string(), true));
        }
        let own = self
            .opts
            .token_files
            .get(id)
            .cloned()
            .unwrap_or_else(|| tokens.join(format!("{id}.token")).display().to_string());
        m.push(bind(&own, TOKEN_SECRET_PATH, true));
        self.push_runtime_volume(&mut m, image);
        // Stable: mounts at the same depth keep the order above.
        m.sort_by_key(|mount| Path::new(&mount.target).components().count());
        Ok(m)
    }

    /// A `volumes:` entry as a mount, refused where it would hide what mew mounts itself.
    fn user_mount(
        &self,
        p: &Participant,
        v: &VolumeEntry,
        mew_dir: &Path,
    ) -> Result<Mount, ConfigError> {
        let target = Path::new(&v.target);
        let clash = if target == self.space.dir {
            Some("the space directory")
        } else if target.starts_with(mew_dir) {
            Some("the space's `.mew` directory")
        } else if target == Path::new(TOKEN_SECRET_PATH) {
            Some("the participant's token")
        } else if target.starts_with(RUNTIME_MOUNT) {
            Some("mew itself")
        } else {
            None
        };
        if let Some(what) = clash {
            return Err(ConfigError::At {
                file: self.space.file.clone(),
                line: v.pos.line,
                column: v.pos.column,
                message: format!(
                    "participant `{}`: volume `{}` would cover {what} at {}",
                    p.id,
                    v.short(),
                    v.target
                ),
            });
        }
        Ok(match &v.source {
            VolumeSource::Bind { path, relative } => Mount {
                kind: MountKind::Bind,
                source: path.display().to_string(),
                target: v.target.clone(),
                read_only: v.read_only,
                relative: relative.clone(),
            },
            VolumeSource::Named(name) => Mount {
                kind: MountKind::Volume,
                source: volume_name(&self.space.id, name),
                target: v.target.clone(),
                read_only: v.read_only,
                relative: None,
            },
        })
    }

    /// The named volumes the participants with a container mount, each once, by name.
    fn named_volumes(&self) -> Vec<VolumeSpec> {
        let names: std::collections::BTreeSet<&str> = self
            .space
            .participants
            .iter()
            .filter(|p| p.kind.has_container())
            .flat_map(|p| &p.volumes)
            .filter_map(|v| match &v.source {
                VolumeSource::Named(n) => Some(n.as_str()),
                VolumeSource::Bind { .. } => None,
            })
            .collect();
        names
            .into_iter()
            .map(|key| VolumeSpec {
                name: volume_name(&self.space.id, key),
                key: key.to_string(),
                labels: self.base_labels(),
            })
            .collect()
    }

    fn push_runtime_volume(&self, m: &mut Vec<Mount>, image: &str) {
        if image != self.opts.runtime_image {
            m.push(Mount {
                kind: MountKind::Volume,
                source: self.opts.runtime_volume.clone(),
                target: RUNTIME_MOUNT.into(),
                read_only: true,
                relative: None,
            });
        }
    }

    fn gateway(&self) -> ContainerSpec {
        let g = &self.space.gateway;
        let port = self.opts.port.to_string();
        let image = g
            .image
            .clone()
            .unwrap_or_else(|| self.opts.runtime_image.clone());
        let file = self.space.file.display().to_string();
        let mut real = self.mew(&[
            "gateway",
            "start",
            "--port",
            &port,
            "--bind",
            "0.0.0.0",
            "--space-config",
            &file,
            "--no-auto-start",
        ]);
        if let Some(level) = &self.opts.log_level {
            real.push("--log-level".into());
            real.push(level.clone());
        }
        if let Some(sub) = self.space.log_subdir() {
            real.push("--history-subdir".into());
            real.push(sub.into());
            // The id participants join under, which is not the file's.
            real.push("--space-id".into());
            real.push(self.space.id.clone());
        }
        // The gateway reads token overrides and logging switches from its environment.
        let env: BTreeMap<String, String> = self
            .opts
            .host_env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("MEW_TOKEN_")
                    || matches!(
                        k.as_str(),
                        "GATEWAY_LOGGING" | "ENVELOPE_HISTORY" | "CAPABILITY_DECISIONS"
                    )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut labels = self.labels("gateway", Role::Gateway);
        labels.insert(LABEL_GATEWAY_VIEW.into(), self.gateway_view());
        let mut health = vec!["CMD".to_string()];
        health.extend(self.mew(&["gateway", "health", "--port", &port]));
        ContainerSpec {
            name: container_name(&self.space.id, "gateway"),
            participant: "gateway".into(),
            role: Role::Gateway,
            read_only_rootfs: image == self.opts.runtime_image,
            mounts: self.gateway_mounts(&image),
            image,
            cmd: self.supervised("gateway", real),
            env,
            working_dir: Some(self.dir()),
            user: self.opts.user.clone(),
            network: network_name(&self.space.id),
            aliases: vec!["gateway".into()],
            ports: vec![PortPublish {
                host_ip: self.opts.bind.clone(),
                host_port: self.opts.port,
                container_port: self.opts.port,
            }],
            resources: Resources {
                memory_bytes: Some(g.memory_bytes.unwrap_or(GATEWAY_MEMORY)),
                nano_cpus: g.nano_cpus,
                pids_limit: Some(g.pids_limit.unwrap_or(PIDS_LIMIT)),
            },
            // A crashed or OOM-killed gateway comes back; participants rejoin by themselves.
            restart: g.restart.clone().unwrap_or(RestartPolicy::UnlessStopped),
            log: g.logging.clone().unwrap_or_else(default_log),
            stop_grace_secs: STOP_GRACE_MS / 1000,
            init: false,
            cap_drop_all: true,
            no_new_privileges: true,
            healthcheck: Some(HealthCheck {
                test: health,
                interval_ms: 2_000,
                timeout_ms: 2_000,
                retries: 5,
                start_period_ms: 10_000,
            }),
            token_digest: None,
            labels,
        }
        .with_hash()
    }

    /// sha256 of the parts of space.yaml the gateway acts on.
    fn gateway_view(&self) -> String {
        use sha2::{Digest, Sha256};
        let s = self.space;
        let participants: Vec<serde_json::Value> = s
            .participants
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "tokens": p.tokens,
                    "capabilities": p.capabilities,
                    "output_log": p.output_log,
                    "auto_connect": p.auto_connect,
                })
            })
            .collect();
        let mut view = serde_json::json!({
            "space": s.id,
            // The gateway loads the token files at start; a new token needs a new gateway.
            "tokens": self.opts.tokens,
            "participants": participants,
            "default_capabilities": s.defaults.capabilities,
            "logging": [s.gateway_logging.enabled, s.gateway_logging.envelope_history,
                        s.gateway_logging.capability_decisions],
        });
        // Only when set, so the hash of every space that does not use the key stays as it was.
        if s.allow_anonymous_joins {
            view["allow_anonymous_joins"] = serde_json::json!(true);
        }
        hex::encode(Sha256::digest(view.to_string().as_bytes()))
    }

    fn image_for(&self, p: &Participant, command: &str) -> Result<String, ConfigError> {
        if let Some(image) = &p.lifecycle.image {
            return Ok(image.clone());
        }
        let name = command_name(command);
        if name == "mew" {
            return Ok(self.opts.runtime_image.clone());
        }
        if let Some(image) = self.opts.image_overrides.get(&command_key(command)) {
            return Ok(image.clone());
        }
        if let Some(image) = self.opts.default_images.get(name) {
            return Ok(image.clone());
        }
        let message = format!(
            "participant `{}`: no image for command `{command}`; set `image:` for it (or `defaults.image`), or pass --image {name}=IMAGE",
            p.id
        );
        Err(match p.command_pos {
            Some(pos) => ConfigError::At {
                file: self.space.file.clone(),
                line: pos.line,
                column: pos.column,
                message,
            },
            None => ConfigError::Invalid(message),
        })
    }

    /// A path from space.yaml as an absolute path (relative ones are under the space dir).
    fn abs_path(&self, path: &str) -> String {
        if Path::new(path).is_absolute() {
            path.to_string()
        } else {
            format!("{}/{}", self.dir(), path.trim_start_matches("./"))
        }
    }

    /// Point loopback gateway URLs at the gateway's in-network address.
    fn rewrite(&self, s: String) -> String {
        match self.space.network_mode {
            NetworkMode::Bridge => substitute::rewrite_loopback(&s, self.opts.port),
            // In a shared namespace, localhost already is the gateway.
            NetworkMode::Shared => s,
        }
    }

    /// `mew bridge start …` wrapping the participant's MCP server (spec/cli.md §3.12).
    fn bridge_program(&self, p: &Participant, token: Option<&str>) -> Result<Program, ConfigError> {
        let Some(mcp) = &p.mcp_server else {
            return Err(internal(&p.id, "is a bridge without mcp_server"));
        };
        let gateway_url = self.gateway_url();
        let mut cmd = self.mew(&[
            "bridge",
            "start",
            "--gateway",
            &gateway_url,
            "--space",
            &self.space.id,
            "--participant-id",
            &p.id,
            "--mcp-command",
            &mcp.command,
        ]);
        let mut flag = |name: &str, value: String| {
            cmd.push(name.to_string());
            cmd.push(value);
        };
        if let Some(token) = token {
            flag("--token", token.to_string());
        }
        if !mcp.args.is_empty() {
            flag("--mcp-args", mcp.args.join(","));
        }
        if !mcp.env.is_empty() {
            let pairs: Vec<String> = mcp.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            flag("--mcp-env", pairs.join(","));
        }
        if let Some(cwd) = &mcp.cwd {
            flag("--mcp-cwd", self.abs_path(cwd));
        }
        let bc = &p.bridge_config;
        if let Some(t) = bc.init_timeout.filter(|t| *t > 0) {
            flag("--init-timeout", t.to_string());
        }
        if let Some(r) = bc.reconnect {
            flag("--reconnect", r.to_string());
        }
        if let Some(m) = bc.max_reconnects {
            flag("--max-reconnects", m.to_string());
        }
        if let Some(caps) = &p.capabilities {
            flag("--capabilities", caps.to_string());
        }
        let node_env = self.opts.host_env.get("NODE_ENV").cloned();
        Ok(Program {
            role: Role::Bridge,
            // The MCP server runs in the bridge's container: its command picks the image.
            image: self.image_for(p, &mcp.command)?,
            cmd,
            env: BTreeMap::from([(
                "NODE_ENV".to_string(),
                node_env.unwrap_or_else(|| "production".into()),
            )]),
        })
    }

    /// The participant's own `command` and `args`, placeholders substituted.
    fn agent_program(&self, p: &Participant, ph: &Placeholders) -> Result<Program, ConfigError> {
        let Some(command) = &p.command else {
            return Err(internal(&p.id, "is an agent without command"));
        };
        let mut cmd = if command_name(command) == "mew" {
            self.opts.mew_argv.clone()
        } else {
            vec![command.clone()]
        };
        cmd.extend(p.args.iter().map(|a| self.rewrite(substitute::arg(a, ph))));
        Ok(Program {
            role: Role::Agent,
            image: self.image_for(p, command)?,
            cmd,
            env: BTreeMap::new(),
        })
    }

    /// `mew client connect …` between the participant's FIFOs and the gateway.
    fn client_program(&self, p: &Participant, token: Option<&str>) -> Program {
        let dir = self.dir();
        let mut cmd = self.mew(&[
            "client",
            "connect",
            "--gateway",
            &self.gateway_url(),
            "--space",
            &self.space.id,
            "--participant-id",
            &p.id,
        ]);
        if let Some(token) = token {
            cmd.push("--token".into());
            cmd.push(token.to_string());
        }
        cmd.push("--fifo-in".into());
        cmd.push(format!("{dir}/fifos/{}-in", p.id));
        match &p.output_log {
            Some(out) => {
                cmd.push("--output-file".into());
                cmd.push(self.abs_path(out));
            }
            None => {
                cmd.push("--fifo-out".into());
                cmd.push(format!("{dir}/fifos/{}-out", p.id));
            }
        }
        Program {
            role: Role::Client,
            image: p
                .lifecycle
                .image
                .clone()
                .unwrap_or_else(|| self.opts.runtime_image.clone()),
            cmd,
            env: BTreeMap::new(),
        }
    }

    fn participant(
        &self,
        p: &Participant,
        gateway_hash: &str,
    ) -> Result<ContainerSpec, ConfigError> {
        let token = self
            .opts
            .tokens
            .get(&p.id)
            .ok_or_else(|| internal(&p.id, "has no token"))?;
        let gateway_url = self.gateway_url();
        // Under `up` each container has its own token file mounted (`participant_mounts`), so
        // the token stays out of the container's env and argv, which `docker inspect` shows.
        let secret_only = self.opts.isolate_dot_mew;
        let ph = Placeholders {
            port: self.opts.port,
            space: &self.space.id,
            token: if secret_only {
                crate::tokens::TOKEN_PLACEHOLDER
            } else {
                token
            },
            gateway_url: &gateway_url,
        };
        let argv_token = (!secret_only).then_some(token.as_str());
        let token_digest = secret_only.then(|| {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(format!("mew-token:{token}")))
        });
        let Program {
            role,
            image,
            cmd: real,
            mut env,
        } = match p.kind {
            Kind::Bridge => self.bridge_program(p, argv_token)?,
            Kind::Agent => self.agent_program(p, &ph)?,
            Kind::FifoClient => self.client_program(p, argv_token),
            Kind::Virtual | Kind::Passive => return Err(internal(&p.id, "has no container")),
        };

        // Host variables agents commonly need, passed only when set (spec/cli.md §6.3).
        for (k, v) in &self.opts.host_env {
            if k.starts_with("OPENAI_") || k.starts_with("ANTHROPIC_") || k == "NODE_ENV" {
                env.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        // The caller's uid usually has no home in the image; tools such as npx need a writable
        // one. (Containers on the runtime image have a read-only root and need none.)
        if image != self.opts.runtime_image {
            env.insert("HOME".into(), "/tmp".into());
        }
        env.insert("MEW_GATEWAY".into(), gateway_url.clone());
        env.insert("MEW_SPACE".into(), self.space.id.clone());
        env.insert("MEW_PARTICIPANT_ID".into(), p.id.clone());
        if secret_only {
            // `mew supervise` reads the file and sets MEW_TOKEN and MEW_TOKEN_<ID> for the
            // program: it finds its token as before, and `docker inspect` shows none.
            env.insert("MEW_TOKEN_FILE".into(), TOKEN_SECRET_PATH.into());
        } else {
            env.insert("MEW_TOKEN".into(), token.clone());
            env.insert(token_env_name(&p.id), token.clone());
        }
        for (k, v) in &p.env {
            env.insert(
                k.clone(),
                self.rewrite(substitute::env_value(v, &ph, &self.opts.host_env)),
            );
        }

        let l = &p.lifecycle;
        let mut labels = self.labels(&p.id, role);
        labels.insert(LABEL_GATEWAY_HASH.into(), gateway_hash.to_string());
        let (network, aliases) = match self.space.network_mode {
            NetworkMode::Bridge => (network_name(&self.space.id), vec![p.id.clone()]),
            NetworkMode::Shared => (
                format!("container:{}", container_name(&self.space.id, "gateway")),
                Vec::new(),
            ),
        };
        Ok(ContainerSpec {
            name: container_name(&self.space.id, &p.id),
            participant: p.id.clone(),
            role,
            read_only_rootfs: image == self.opts.runtime_image,
            mounts: self.participant_mounts(p, &image)?,
            image,
            cmd: self.supervised(&p.id, real),
            env,
            working_dir: Some(self.dir()),
            user: self.opts.user.clone(),
            network,
            aliases,
            ports: Vec::new(),
            resources: Resources {
                memory_bytes: Some(l.memory_bytes.unwrap_or(PARTICIPANT_MEMORY)),
                nano_cpus: l.nano_cpus,
                pids_limit: Some(l.pids_limit.unwrap_or(PIDS_LIMIT)),
            },
            restart: l.restart.clone().unwrap_or(RestartPolicy::No),
            log: l.logging.clone().unwrap_or_else(default_log),
            // The engine counts whole seconds; round up so a grace period is never shortened.
            stop_grace_secs: l.stop_grace_ms.unwrap_or(STOP_GRACE_MS).div_ceil(1000),
            init: false,
            cap_drop_all: true,
            no_new_privileges: true,
            healthcheck: None,
            token_digest,
            labels,
        }
        .with_hash())
    }
}
