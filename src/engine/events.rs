//! Follow the engine's events for one space (containers, networks and volumes carrying its
//! label), for `mew space events` and `mew space status --watch`.
use crate::engine::inspect::{label_filter, OpError};
use crate::plan::model::labels;
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
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
        })
    })
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
        };
        assert_eq!(
            format_event(&e),
            "1970-01-01T00:00:01.500Z container echo die (exit code 2)"
        );
    }
}
