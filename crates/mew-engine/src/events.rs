//! Follow the engine's events for one space (containers, networks and volumes carrying its
//! label), for `mew space events` and `mew space status --watch`.
use crate::inspect::{label_filter, OpError};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use mew_space::plan::model::labels;
use serde::Serialize;
use std::collections::HashMap;

/// One engine event about a space's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpaceEvent {
    /// Unix time in nanoseconds.
    pub time_nano: i64,
    /// `container`, `network`, `volume`, …
    pub kind: String,
    /// `create`, `start`, `die`, `oom`, `health_status: healthy`, `destroy`, …
    pub action: String,
    /// Participant id for containers, else the object's name.
    pub subject: String,
    /// Exit code on `die`.
    pub exit_code: Option<i64>,
    /// The engine's id of the object (to look a container's healthcheck up).
    #[serde(skip)]
    pub object_id: Option<String>,
    /// Docker's `execID` on exec events (Podman's compatible events carry none).
    #[serde(skip)]
    pub exec_id: Option<String>,
}

/// Events from now on for `space_id` (never ends unless the engine goes away).
pub fn follow(docker: &Docker, space_id: &str) -> impl Stream<Item = Result<SpaceEvent, OpError>> {
    let filters: HashMap<String, Vec<String>> = label_filter(labels::SPACE, space_id);
    let opts = EventsOptionsBuilder::default().filters(&filters).build();
    docker.events(Some(opts)).map(|r| {
        let m = r.map_err(|e| OpError::new("follow events", e))?;
        let attrs = m
            .actor
            .as_ref()
            .and_then(|a| a.attributes.clone())
            .unwrap_or_default();
        let subject = attrs
            .get(labels::PARTICIPANT)
            .or_else(|| attrs.get("name"))
            .cloned()
            .or_else(|| m.actor.as_ref().and_then(|a| a.id.clone()))
            .unwrap_or_default();
        Ok(SpaceEvent {
            time_nano: m
                .time_nano
                .or(m.time.map(|t| t * 1_000_000_000))
                .unwrap_or(0),
            kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
            action: m.action.unwrap_or_default(),
            subject,
            exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
            object_id: m.actor.as_ref().and_then(|a| a.id.clone()),
            exec_id: attrs.get("execID").cloned(),
        })
    })
}

/// Recognises the engine's own healthcheck runs among the exec events (Docker logs
/// `exec_create: <cmd>`, `exec_start: <cmd>` and `exec_die` for each probe, every few seconds),
/// so that `events` can leave them out and show the execs people run.
#[derive(Debug, Default)]
pub struct HealthcheckNoise {
    /// Container id → its healthcheck command as Docker writes it in the action (None: none).
    commands: HashMap<String, Option<String>>,
    /// Exec ids of probes seen starting, so their `exec_die` is recognised too.
    probes: std::collections::HashSet<String>,
}

impl HealthcheckNoise {
    pub async fn is_noise(&mut self, docker: &Docker, e: &SpaceEvent) -> bool {
        let (Some(exec), Some(container)) = (&e.exec_id, &e.object_id) else {
            return false;
        };
        if e.action == "exec_die" {
            return self.probes.remove(exec);
        }
        let Some(cmd) = e
            .action
            .strip_prefix("exec_create: ")
            .or_else(|| e.action.strip_prefix("exec_start: "))
        else {
            return false;
        };
        if !self.commands.contains_key(container) {
            let probe = healthcheck_command(docker, container).await;
            self.commands.insert(container.clone(), probe);
        }
        let is_probe = self.commands.get(container).and_then(Option::as_deref) == Some(cmd);
        if is_probe {
            self.probes.insert(exec.clone());
        }
        is_probe
    }
}

/// The container's healthcheck command, joined as in Docker's exec event actions.
async fn healthcheck_command(docker: &Docker, container: &str) -> Option<String> {
    let info = crate::podman::inspect_container(docker, container)
        .await
        .ok()?;
    let test = info.config?.healthcheck?.test?;
    Some(crate::podman::check_argv(&test)?.join(" "))
}

/// One human line: `2024-05-01T10:00:00.123Z container echo die (exit code 1)`.
pub fn format_event(e: &SpaceEvent) -> String {
    let secs = e.time_nano.div_euclid(1_000_000_000);
    let nanos = e.time_nano.rem_euclid(1_000_000_000) as u32;
    let when = chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let mut line = format!("{when} {} {} {}", e.kind, e.subject, e.action);
    if let Some(code) = e.exit_code {
        line.push_str(&format!(" (exit code {code})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_events() {
        let e = SpaceEvent {
            time_nano: 1_500_000_000,
            kind: "container".into(),
            action: "die".into(),
            subject: "echo".into(),
            exit_code: Some(2),
            object_id: None,
            exec_id: None,
        };
        assert_eq!(
            format_event(&e),
            "1970-01-01T00:00:01.500Z container echo die (exit code 2)"
        );
    }
}
