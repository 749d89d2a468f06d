//! The bottom layer: values that both `config` (what space.yaml says) and `plan` (what the
//! engine should have, and has) speak of. It imports nothing else of this crate.
//!
//! One model of a container as the engine shows it: `ObservedContainer` (what a list call
//! gives, read by labels), with `ContainerDetail` beside it where `status` needs what only an
//! inspect gives. Its state is a `ContainerState` and its role a `Role`, each parsed in one place.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Label keys (design.md §3). Every engine object mew creates carries them.
pub mod labels {
    pub const SPACE: &str = "io.mew.space";
    pub const SPACE_DIR: &str = "io.mew.space.dir";
    pub const PARTICIPANT: &str = "io.mew.participant";
    pub const ROLE: &str = "io.mew.role";
    pub const CONFIG_HASH: &str = "io.mew.config-hash";
    pub const VERSION: &str = "io.mew.version";
}

/// What a container does in its space (the `io.mew.role` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Gateway,
    Agent,
    Client,
    Bridge,
    /// Holds a network namespace others join.
    Infra,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Agent => "agent",
            Role::Client => "client",
            Role::Bridge => "bridge",
            Role::Infra => "infra",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "gateway" => Role::Gateway,
            "agent" => Role::Agent,
            "client" => Role::Client,
            "bridge" => Role::Bridge,
            "infra" => Role::Infra,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A container's state in Docker's vocabulary. Podman's own names are mapped in `from_engine`,
/// the one place that reads an engine's state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerState {
    /// An engine's state name (Docker's, or Podman's through its compatible API); a name
    /// neither engine uses (or none at all) is a container not usable as it is.
    pub fn from_engine(s: &str) -> ContainerState {
        ContainerState::parse(s).unwrap_or(ContainerState::Dead)
    }

    /// A state name either engine uses, or `None`.
    pub fn parse(s: &str) -> Option<ContainerState> {
        Some(match s {
            "created" | "configured" | "initialized" => ContainerState::Created,
            // A container being stopped still runs (Docker shows it as `running` too).
            "running" | "stopping" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "removing" => ContainerState::Removing,
            "exited" | "stopped" => ContainerState::Exited,
            "dead" | "unknown" => ContainerState::Dead,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
        }
    }

    /// Its process runs, or the engine is about to run it again (restart policy).
    pub fn is_running(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Restarting)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    /// `on-failure[:N]`; `None` = unlimited retries.
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// One container of mew's, as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
}

impl ObservedContainer {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
    /// The `io.mew.participant` label.
    pub fn participant(&self) -> Option<&str> {
        self.label(labels::PARTICIPANT)
    }
    /// The participant id, or for a container without that label its name less `<space>-`.
    pub fn participant_id(&self) -> &str {
        if let Some(p) = self.participant() {
            return p;
        }
        self.label(labels::SPACE)
            .and_then(|space| self.name.strip_prefix(space)?.strip_prefix('-'))
            .unwrap_or(&self.name)
    }
    pub fn role(&self) -> Option<Role> {
        self.label(labels::ROLE).and_then(Role::parse)
    }
    pub fn is_gateway(&self) -> bool {
        self.role() == Some(Role::Gateway)
    }
    pub fn space(&self) -> Option<&str> {
        self.label(labels::SPACE)
    }
    /// The `io.mew.space.dir` label.
    pub fn space_dir(&self) -> Option<&str> {
        self.label(labels::SPACE_DIR)
    }
    pub fn config_hash(&self) -> Option<&str> {
        self.label(labels::CONFIG_HASH)
    }
    pub fn is_running(&self) -> bool {
        self.state.is_running()
    }
}

/// Gateway first, then by participant id (the order `status`, `logs` and `restart` use).
pub fn sort_gateway_first(containers: &mut [ObservedContainer]) {
    containers.sort_by(|a, b| {
        (!a.is_gateway(), a.participant_id()).cmp(&(!b.is_gateway(), b.participant_id()))
    });
}

/// A host address a container port is published on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u16,
}

/// One stats reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSample {
    /// Memory in use, page cache excluded (as `docker stats` counts it).
    pub memory_used: Option<u64>,
    /// Cumulated CPU time in nanoseconds.
    pub cpu_total_ns: Option<u64>,
    /// When the engine read it (RFC 3339).
    pub read_at: Option<String>,
}

/// What an inspect (and a stats sample) adds to an `ObservedContainer`, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDetail {
    pub container: ObservedContainer,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a healthcheck.
    pub health: Option<String>,
    pub restart_count: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `HostConfig.Memory`; `None` when unlimited.
    pub memory_limit: Option<i64>,
    pub published: Vec<Published>,
    pub stats: Option<StatsSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_states_docker_and_podman() {
        use ContainerState::*;
        for (name, state) in [
            ("created", Created),
            ("running", Running),
            ("paused", Paused),
            ("restarting", Restarting),
            ("removing", Removing),
            ("exited", Exited),
            ("dead", Dead),
            // Podman's own names.
            ("stopped", Exited),
            ("configured", Created),
            ("initialized", Created),
            ("stopping", Running),
            ("unknown", Dead),
        ] {
            assert_eq!(ContainerState::from_engine(name), state, "{name}");
        }
        assert_eq!(ContainerState::parse("nonsense"), None);
        assert_eq!(ContainerState::from_engine(""), Dead);
        for s in [Created, Running, Paused, Restarting, Removing, Exited, Dead] {
            assert_eq!(ContainerState::from_engine(s.as_str()), s);
        }
        assert!(Running.is_running() && Restarting.is_running());
        assert!(!Paused.is_running() && !Exited.is_running() && !Created.is_running());
        assert_eq!(format!("{:8}|", Exited), "exited  |");
    }

    fn container(name: &str, labels: &[(&str, &str)]) -> ObservedContainer {
        ObservedContainer {
            id: name.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            state: ContainerState::Running,
        }
    }

    #[test]
    fn participant_role_and_order() {
        let gw = container(
            "s-gateway",
            &[
                (labels::SPACE, "s"),
                (labels::PARTICIPANT, "gateway"),
                (labels::ROLE, "gateway"),
            ],
        );
        let unlabelled = container("s-zed", &[(labels::SPACE, "s")]);
        let agent = container(
            "s-a",
            &[(labels::PARTICIPANT, "a"), (labels::ROLE, "agent")],
        );
        assert!(gw.is_gateway());
        assert_eq!(agent.role(), Some(Role::Agent));
        assert_eq!(unlabelled.role(), None);
        assert_eq!(unlabelled.participant_id(), "zed");
        let mut all = vec![unlabelled, agent, gw];
        sort_gateway_first(&mut all);
        let ids: Vec<&str> = all.iter().map(|c| c.participant_id()).collect();
        assert_eq!(ids, ["gateway", "a", "zed"]);
    }
}
