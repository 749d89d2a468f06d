//! Where Podman's Docker-compatible API (4.3) answers differently from Docker's, and mew adapts.
//!
//! Listing containers: Podman 4.3 reports its own state names (`stopped`, `stopping`,
//! `configured`, `initialized`) in `/containers/json`, which the Docker API model does not know, so
//! the typed list fails to parse. We then read the same answer (bollard keeps the payload in the
//! error) with the states mapped onto Docker's names.
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

/// `docker.list_containers`, also on Podman.
pub async fn list_containers(
    docker: &Docker,
    options: Option<ListContainersOptions>,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    match docker.list_containers(options).await {
        Err(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }) => reparse_summaries(&contents).ok_or(bollard::errors::Error::JsonDataError {
            message,
            contents,
            column,
        }),
        other => other,
    }
}

/// The container list with Podman's state names replaced by Docker's; `None` when it still does
/// not parse (then the original error stands).
fn reparse_summaries(contents: &str) -> Option<Vec<ContainerSummary>> {
    let mut list: Vec<serde_json::Value> = serde_json::from_str(contents).ok()?;
    for c in &mut list {
        if let Some(state) = c.get_mut("State") {
            if let Some(docker_name) = state.as_str().map(docker_state) {
                *state = serde_json::Value::String(docker_name.to_string());
            }
        }
    }
    serde_json::from_value(serde_json::Value::Array(list)).ok()
}

/// Docker's name for a Podman container state. Podman's `stopping` is still running (Docker
/// shows a container being stopped as `running` too).
pub fn docker_state(podman: &str) -> &str {
    match podman {
        "configured" | "initialized" => "created",
        "stopped" => "exited",
        "stopping" => "running",
        "unknown" => "dead",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_states_become_docker_states() {
        let body = r#"[{"Id":"a","Names":["/x"],"State":"stopped"},
                       {"Id":"b","Names":["/y"],"State":"configured"},
                       {"Id":"c","Names":["/z"],"State":"running"}]"#;
        let list = reparse_summaries(body).expect("parses");
        let states: Vec<String> = list
            .iter()
            .map(|c| c.state.map(|s| s.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(states, ["exited", "created", "running"]);
    }

    #[test]
    fn garbage_stays_an_error() {
        assert!(reparse_summaries("not json").is_none());
        assert!(reparse_summaries(r#"[{"State":"nonsense"}]"#).is_none());
    }
}
