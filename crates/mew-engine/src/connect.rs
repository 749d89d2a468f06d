//! Finding and connecting to the container engine (design.md §6).
//!
//! Order: `--host`, then `DOCKER_HOST`, then the Docker socket, then Podman's sockets. The API
//! version is always negotiated: we start from 1.41 (Docker 20.10, Podman 4.x), because an engine
//! refuses any request, even `/version`, made with a version newer than it knows.
use super::EngineError;
use bollard::{ClientVersion, Docker};
use std::path::PathBuf;
use std::time::Duration;

/// Highest API version mew needs; negotiation only ever lowers it.
const BASE_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};
/// Per-request timeout of the client (seconds). Builds and stops can take a while.
const REQUEST_TIMEOUT_SECS: u64 = 300;
/// How long the first ping may take before we call an endpoint unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }
}

/// Who answered, for `mew doctor` and for engine-specific workarounds.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub kind: EngineKind,
    /// Engine version, e.g. `20.10.24` or `4.3.1`.
    pub version: String,
    /// API version the engine offers.
    pub api_version: String,
    /// API version we talk (after negotiation).
    pub negotiated_api: String,
    /// Where we connected, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
    pub os: String,
    pub arch: String,
}

/// A connected, version-negotiated engine client.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub info: EngineInfo,
}

/// Connect to the engine at `host` (from `--host`), else `DOCKER_HOST`, else the first local
/// socket that answers. Every endpoint is pinged; the error lists what was tried and why it failed.
pub async fn connect(host: Option<&str>) -> Result<Engine, EngineError> {
    let explicit = host
        .map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok())
        .filter(|h| !h.trim().is_empty());
    let candidates = match explicit {
        // An address the user chose is the only one we try: falling back elsewhere would surprise.
        Some(h) => vec![h],
        None => default_sockets()
            .into_iter()
            .map(|p| format!("unix://{}", p.display()))
            .collect(),
    };
    let mut tried = Vec::new();
    for endpoint in candidates {
        match try_endpoint(&endpoint).await {
            Ok(engine) => return Ok(engine),
            Err(Attempt::BadHost) => return Err(EngineError::BadHost(endpoint)),
            Err(Attempt::Failed(why)) => tried.push(format!("{endpoint}: {why}")),
        }
    }
    Err(EngineError::Unreachable {
        tried: tried.join("; "),
    })
}

/// Local sockets, in the order we try them.
pub fn default_sockets() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(dir).join("podman/podman.sock"));
    }
    v.push(PathBuf::from("/run/podman/podman.sock"));
    v
}

enum Attempt {
    BadHost,
    Failed(String),
}

async fn try_endpoint(endpoint: &str) -> Result<Engine, Attempt> {
    let docker = client_for(endpoint)?;
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Err(_) => return Err(Attempt::Failed("no answer within 5 s".into())),
        Ok(Err(e)) => return Err(Attempt::Failed(describe(&e))),
        Ok(Ok(d)) => d,
    };
    let version = match tokio::time::timeout(PING_TIMEOUT, docker.version()).await {
        Err(_) => return Err(Attempt::Failed("no answer within 5 s".into())),
        Ok(Err(e)) => return Err(Attempt::Failed(describe(&e))),
        Ok(Ok(v)) => v,
    };
    let negotiated = docker.client_version();
    let info = EngineInfo {
        kind: engine_kind(&version),
        version: version.version.clone().unwrap_or_default(),
        api_version: version.api_version.clone().unwrap_or_default(),
        negotiated_api: format!("{}.{}", negotiated.major_version, negotiated.minor_version),
        endpoint: endpoint.to_string(),
        os: version.os.clone().unwrap_or_default(),
        arch: version.arch.clone().unwrap_or_default(),
    };
    tracing::debug!(?info, "connected to the container engine");
    Ok(Engine { docker, info })
}

fn client_for(endpoint: &str) -> Result<Docker, Attempt> {
    if let Some(path) = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.starts_with('/').then_some(endpoint))
    {
        if !std::path::Path::new(path).exists() {
            return Err(Attempt::Failed("no such socket".into()));
        }
        return Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, &BASE_API)
            .map_err(|e| Attempt::Failed(describe(&e)));
    }
    if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        return Docker::connect_with_http(endpoint, REQUEST_TIMEOUT_SECS, &BASE_API)
            .map_err(|e| Attempt::Failed(describe(&e)));
    }
    Err(Attempt::BadHost)
}

/// Podman's compat API names itself in the version components; Docker says "Engine".
fn engine_kind(v: &bollard::models::SystemVersion) -> EngineKind {
    let podman_component = v
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
    let podman_platform = v
        .platform
        .as_ref()
        .is_some_and(|p| p.name.to_ascii_lowercase().contains("podman"));
    if podman_component || podman_platform {
        EngineKind::Podman
    } else {
        EngineKind::Docker
    }
}

/// A short reason for a failed attempt, with the OS error when there is one (permission denied…).
fn describe(e: &bollard::errors::Error) -> String {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_str = s.to_string();
        if !msg.contains(&s_str) {
            msg = format!("{msg}: {s_str}");
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_is_one_clear_sentence() {
        let err = connect(Some("unix:///nonexistent/mew-test.sock"))
            .await
            .expect_err("no engine there");
        let text = err.to_string();
        assert!(
            text.contains("unix:///nonexistent/mew-test.sock: no such socket"),
            "{text}"
        );
        assert!(text.contains("DOCKER_HOST"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[tokio::test]
    async fn unknown_scheme_is_rejected() {
        let err = connect(Some("ftp://example"))
            .await
            .expect_err("bad scheme");
        assert!(matches!(err, EngineError::BadHost(_)));
    }

    #[test]
    fn podman_is_recognised_by_its_component() {
        let v = bollard::models::SystemVersion {
            components: Some(vec![bollard::models::SystemVersionComponents {
                name: "Podman Engine".into(),
                version: "4.3.1".into(),
                details: None,
            }]),
            ..Default::default()
        };
        assert_eq!(engine_kind(&v), EngineKind::Podman);
        assert_eq!(
            engine_kind(&bollard::models::SystemVersion::default()),
            EngineKind::Docker
        );
    }
}
