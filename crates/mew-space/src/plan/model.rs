//! The contract between `config`/`plan` (pure) and `engine`/`apply` (I/O).
//!
//! `DesiredSpace` is what space.yaml asks for, fully resolved (names, images, env, limits, labels).
//! `ObservedSpace` is what the engine has, read once by labels. `Plan` is the list of stages that
//! turns one into the other; `apply` runs each stage's actions in parallel, stages in order.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

// Labels, roles, states, restart and log settings and the observed container live in the
// bottom module (`config` speaks of them too); they are re-exported here for the planner's users.
pub use crate::model::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// A bind source space.yaml gives relative to the space directory, as written (exports
    /// write it relative to their file). Absent from the hash when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<String>,
}

/// A named volume of the space (`volumes: [NAME:TARGET]`), created labelled like the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// Engine name: `<spaceId>_<name>`.
    pub name: String,
    /// The name space.yaml uses.
    pub key: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPublish {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Exec form, e.g. `["CMD", "mew", "gateway", "health", "--port", "8080"]`.
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// One container, fully resolved. Its hash (over everything but the hash label) decides
/// whether an existing container can be kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Engine name: `<spaceId>-<participant>`.
    pub name: String,
    pub participant: String,
    pub role: Role,
    pub image: String,
    /// Full argv (the image's entrypoint is replaced).
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    /// `uid:gid` of the calling user.
    pub user: Option<String>,
    pub mounts: Vec<Mount>,
    /// Network to join, and the DNS aliases on it.
    pub network: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortPublish>,
    pub resources: Resources,
    pub restart: RestartPolicy,
    pub log: LogConfig,
    pub stop_grace_secs: u64,
    /// Ask the engine for its init (when mew's own supervisor is not PID 1).
    pub init: bool,
    pub cap_drop_all: bool,
    pub no_new_privileges: bool,
    pub read_only_rootfs: bool,
    pub healthcheck: Option<HealthCheck>,
    /// A digest of the participant's token when the token reaches the container only as a
    /// mounted file (not in its env or argv): a new token still changes the hash, so the
    /// container is recreated, without the token appearing anywhere the engine shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_digest: Option<String>,
    /// Labels, including `io.mew.config-hash` once `with_hash` has run.
    pub labels: BTreeMap<String, String>,
}

impl ContainerSpec {
    /// sha256 over the spec's canonical JSON, ignoring the hash label itself.
    pub fn config_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut copy = self.clone();
        copy.labels.remove(labels::CONFIG_HASH);
        let json = serde_json::to_vec(&copy).expect("a ContainerSpec always serialises");
        hex::encode(Sha256::digest(&json))
    }

    /// Set the `io.mew.config-hash` label from the rest of the spec.
    pub fn with_hash(mut self) -> Self {
        let h = self.config_hash();
        self.labels.insert(labels::CONFIG_HASH.to_string(), h);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// `mew-<spaceId>`
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// What space.yaml asks for, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSpace {
    pub space_id: String,
    pub space_dir: PathBuf,
    /// The mew runtime image tag for this mew version (built locally when missing).
    pub runtime_image: String,
    /// Named volume with mew's files (mounted read-only at `/opt/mew` in non-mew images);
    /// `None` when every container uses the runtime image.
    pub runtime_volume: Option<String>,
    pub network: NetworkSpec,
    /// The space's named volumes, sorted by name.
    pub volumes: Vec<VolumeSpec>,
    /// Host address and port the gateway is published on.
    pub bind: String,
    pub port: u16,
    pub gateway: ContainerSpec,
    /// Participants that get a container, in space.yaml order.
    pub participants: Vec<ContainerSpec>,
    /// How long `up` waits for the participants it starts to join; 0: it does not wait.
    pub join_timeout_ms: u64,
}

impl DesiredSpace {
    /// The gateway, then the participants.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerSpec> {
        std::iter::once(&self.gateway).chain(&self.participants)
    }

    /// Images the containers use that the engine must have from elsewhere (pulled when missing):
    /// all but the runtime image, which mew builds. Sorted, each once.
    pub fn pulled_images(&self) -> BTreeSet<&str> {
        self.containers()
            .map(|c| c.image.as_str())
            .filter(|i| *i != self.runtime_image)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A mew gateway on the engine (of any space) and the host port it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPort {
    pub space: String,
    /// Its `io.mew.space.dir` label (`?` without one).
    pub dir: String,
    pub port: u16,
}

/// What the engine has for one space id, read once by label, and the few facts about other
/// objects that `up` decides on (images, ports held by other spaces' gateways).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedSpace {
    pub networks: Vec<ObservedNetwork>,
    pub containers: Vec<ObservedContainer>,
    /// Whether the runtime image for this mew version is present.
    pub runtime_image_present: bool,
    /// Whether the volume that carries mew into non-mew images exists (see `DesiredSpace::runtime_volume`).
    pub runtime_volume_present: bool,
    /// Which of the images asked about (`DesiredSpace::pulled_images`) the engine has.
    pub images_present: BTreeSet<String>,
    /// Volumes labelled with the space (what `down --volumes` removes).
    pub volumes: Vec<String>,
    /// Every mew gateway on the engine with its published host port.
    pub gateways: Vec<GatewayPort>,
}

impl ObservedSpace {
    /// Directories the space's objects say they come from (normally zero or one), sorted.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let set: BTreeSet<PathBuf> = self
            .containers
            .iter()
            .map(|c| &c.labels)
            .chain(self.networks.iter().map(|n| &n.labels))
            .filter_map(|l| l.get(labels::SPACE_DIR).map(PathBuf::from))
            .collect();
        set.into_iter().collect()
    }

    /// Another directory whose objects carry this space id, if there is one: a second space
    /// must not take them over.
    pub fn id_used_by_other_dir(&self, dir: &Path) -> Option<PathBuf> {
        self.dirs().into_iter().find(|d| d != dir)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Build the runtime image from the running mew executable.
    BuildRuntimeImage {
        tag: String,
    },
    /// Pull an image the engine does not have (with the engine's own credentials).
    PullImage {
        image: String,
    },
    /// Create the named volume holding mew (copied from the runtime image's `/opt/mew`), so that
    /// containers of other images can run `mew supervise` as their PID 1.
    EnsureRuntimeVolume {
        name: String,
        image: String,
    },
    CreateNetwork(NetworkSpec),
    /// Create a named volume of the space (one it does not have yet, by label).
    CreateVolume(VolumeSpec),
    /// Remove a network of the space, by id (`down`, after its containers; or a second network
    /// with the space's network name, which a killed `up` can leave behind).
    RemoveNetwork {
        name: String,
        id: String,
        duplicate: bool,
    },
    /// Stop (with the grace period) and remove a container.
    RemoveContainer {
        name: String,
        reason: RemoveReason,
    },
    /// Create a container from the spec and start it.
    CreateAndStart(Box<ContainerSpec>),
    /// Start an existing, unchanged but stopped container.
    Start {
        name: String,
    },
    /// Poll the gateway's `/health` from the host until it answers `ok`.
    WaitHealthy {
        name: String,
        url: String,
    },
    /// Poll the gateway's `/participants` until these ids are connected, or the time is up.
    WaitJoined {
        participants: Vec<String>,
        timeout_ms: u64,
    },
    /// Remove a volume labelled with the space (`down --volumes`).
    RemoveVolume {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// No longer in space.yaml.
    Orphan,
    /// Its config hash changed: it is recreated.
    Changed,
    /// The space is being taken down.
    Down,
    /// The space has two networks of one name: every container is made again on the one kept.
    DuplicateNetwork,
}

/// Actions within a stage are independent and run in parallel; stages run in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub title: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub stages: Vec<Stage>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.stages.iter().all(|s| s.actions.is_empty())
    }
}
