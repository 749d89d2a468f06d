//! The container engine (Docker Engine API through bollard): connection, reading a space's objects
//! by label, images, containers, networks and volumes, and the plan executor (`apply`), which
//! makes no decisions. Every engine function returns `EngineError`.
use thiserror::Error;

pub mod apply;
pub mod clean;
pub mod connect;
pub mod container;
pub mod events;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod lock;
pub mod logs;
pub mod network;
pub mod observe;
pub mod podman;

pub mod stats;
pub mod testhook;
pub mod volume;

pub use connect::{connect, Engine, EngineInfo, EngineKind};

/// Everything that can go wrong talking to the engine. Each message is a sentence a user can act on.
#[derive(Debug, Error)]
pub enum EngineError {
    /// No engine answered at any of the places we looked.
    #[error("cannot reach a container engine ({tried}); start Docker or Podman (for Podman: `systemctl --user start podman.socket`), point DOCKER_HOST or --host at its socket, or check that you may use the socket (e.g. membership of the `docker` group)")]
    Unreachable { tried: String },
    /// `--host` / `DOCKER_HOST` has a form we cannot use.
    #[error("unsupported engine address `{0}`: use unix:///path/to/socket, tcp://host:port or http://host:port")]
    BadHost(String),
    /// A host port is already used by another process.
    #[error("port {port} on {host_ip} is already in use; stop whatever uses it or choose another port with --port")]
    PortTaken { host_ip: String, port: u16 },
    /// Docker's default address pools are exhausted (about 30 bridge networks).
    #[error("the engine has no free address pool for network `{network}`; remove unused networks (`mew space clean`, `docker network prune`) or add `default-address-pools` to the engine's daemon.json")]
    AddressPoolsExhausted { network: String },
    /// An image is not present and cannot be pulled.
    #[error("image `{image}` is not available locally and could not be pulled ({reason}); build or load it (`docker load`, `docker build`), or choose another image with --image or MEW_IMAGE_<COMMAND>")]
    ImageUnavailable { image: String, reason: String },
    /// The runtime image could not be built from this executable.
    #[error("cannot build the mew runtime image: {0}")]
    Build(String),
    /// Any other engine API failure, with what we were doing.
    #[error("{what}")]
    Api {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A local I/O failure while preparing something for the engine.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A broken invariant in mew itself (a bug, never the user's input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Whether the user's input is at fault (exit code 2) rather than the engine (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, EngineError::BadHost(_))
    }

    /// Wrap a bollard error with what we were doing.
    pub fn api(what: impl Into<String>, source: bollard::errors::Error) -> Self {
        EngineError::Api {
            what: what.into(),
            source,
        }
    }
}

/// The HTTP status of an engine error response, if it was one.
pub fn status_code(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the engine said "no such object".
pub fn is_not_found(err: &bollard::errors::Error) -> bool {
    status_code(err) == Some(404)
}
