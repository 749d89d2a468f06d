//! `mew space status`: rows from the engine's facts plus the gateway's participant list, as a
//! table or as JSON.
//!
//! JSON schema (stable; keys are snake_case, absent values are `null`): see [`JSON_SCHEMA`],
//! which `mew space status --help` prints.
use mew_space::model::{ContainerDetail, ContainerState, Role, StatsSample};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The `--json` document, as `mew space status --help` shows it.
pub(crate) const JSON_SCHEMA: &str = r#"Print JSON instead of the table.
Schema (stable; snake_case keys; null when unknown or absent):

{
  "space_id": "demo",
  "space_name": "Demo",            // space.name from space.yaml
  "space_dir": "/abs/dir",         // io.mew.space.dir label
  "gateway_url": "ws://127.0.0.1:8080",
  "gateway_reachable": true,       // GET /participants answered
  "connected": ["echo"],           // ids connected to the gateway
  "participants": [{
    "participant": "echo",         // io.mew.participant
    "role": "agent",               // io.mew.role
    "container": "demo-echo",
    "state": "running",            // running, exited, restarting,
                                   // created, paused, removing, dead
    "exit_code": null,             // set once stopped
    "oom_killed": false,
    "health": "healthy",           // healthy, unhealthy, starting
    "restart_count": 0,
    "memory_used_bytes": 1048576,  // while running
    "memory_limit_bytes": 536870912,
    "cpu_percent": 0.4,            // 100 = one core, average since
                                   // start (--watch: since last frame)
    "started_at": "2024-05-01T10:00:00.1Z",
    "uptime_secs": 42,             // while running
    "joined": true                 // null for the gateway itself
  }]
}"#;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ParticipantStatus {
    pub(crate) participant: String,
    pub(crate) role: Option<Role>,
    pub(crate) container: String,
    pub(crate) state: ContainerState,
    pub(crate) exit_code: Option<i64>,
    pub(crate) oom_killed: bool,
    pub(crate) health: Option<String>,
    pub(crate) restart_count: i64,
    pub(crate) memory_used_bytes: Option<u64>,
    pub(crate) memory_limit_bytes: Option<i64>,
    pub(crate) cpu_percent: Option<f64>,
    pub(crate) started_at: Option<String>,
    pub(crate) uptime_secs: Option<i64>,
    pub(crate) joined: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SpaceStatus {
    pub(crate) space_id: String,
    pub(crate) space_name: Option<String>,
    pub(crate) space_dir: Option<String>,
    pub(crate) gateway_url: Option<String>,
    pub(crate) gateway_reachable: bool,
    pub(crate) connected: Option<Vec<String>>,
    pub(crate) participants: Vec<ParticipantStatus>,
}

/// `running`, `exited (code N)`, `restarting`, … for the table.
pub(crate) fn state_label(state: ContainerState, exit_code: Option<i64>) -> String {
    match (state, exit_code) {
        (ContainerState::Exited | ContainerState::Dead, Some(code)) => {
            format!("{state} (code {code})")
        }
        // Between two runs under a restart policy: why it last stopped.
        (ContainerState::Restarting, Some(code)) if code != 0 => {
            format!("restarting (code {code})")
        }
        _ => state.to_string(),
    }
}

/// Where the gateway can be reached from the host: (host, port) of its published port.
pub(crate) fn gateway_address(facts: &[ContainerDetail]) -> Option<(String, u16)> {
    let gw = facts.iter().find(|f| f.container.is_gateway())?;
    let p = gw.published.first()?;
    Some((mew_space::net::reachable_host(&p.host_ip), p.host_port))
}

/// The URL users connect to: the address the port is published on, as `up` prints it. Not
/// `localhost`: the port is published on 127.0.0.1 only, and clients that resolve `localhost` to
/// `::1` first (Node 17+) would be refused.
pub(crate) fn gateway_url(host: &str, port: u16) -> String {
    mew_space::net::reachable_url("ws", host, port)
}

/// Seconds between two RFC 3339 times.
fn secs_between(from: &str, to: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    let nanos = (b - a).num_nanoseconds()?;
    Some(nanos as f64 / 1e9)
}

/// CPU use in percent of one core: from the previous sample when there is one (`--watch`),
/// else averaged since the container started (one-shot stats carry no previous reading).
pub(crate) fn cpu_percent(
    facts: &ContainerDetail,
    previous: Option<&StatsSample>,
    now_rfc3339: &str,
) -> Option<f64> {
    let s = facts.stats.as_ref()?;
    let total = s.cpu_total_ns? as f64;
    let read_at = s.read_at.as_deref().unwrap_or(now_rfc3339);
    if let Some(prev) = previous {
        if let (Some(pt), Some(pr)) = (prev.cpu_total_ns, prev.read_at.as_deref()) {
            if let Some(dt) = secs_between(pr, read_at).filter(|d| *d > 0.0) {
                return Some(round1((total - pt as f64).max(0.0) / 1e9 / dt * 100.0));
            }
        }
    }
    let started = facts.started_at.as_deref()?;
    let up = secs_between(started, read_at).filter(|d| *d > 0.0)?;
    Some(round1(total / 1e9 / up * 100.0))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Inputs besides the containers.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusContext {
    pub(crate) space_id: String,
    /// space.yaml's name, when the space was found through it.
    pub(crate) space_name: Option<String>,
    pub(crate) now_rfc3339: String,
    /// Connected participant ids from the gateway, `None` when it could not be asked.
    pub(crate) connected: Option<BTreeSet<String>>,
    /// Previous stats per container id (for `--watch`).
    pub(crate) previous: HashMap<String, StatsSample>,
}

pub(crate) fn build(facts: &[ContainerDetail], ctx: &StatusContext) -> SpaceStatus {
    let participants = facts
        .iter()
        .map(|f| {
            let c = &f.container;
            let state = c.state;
            let running = state.is_running();
            ParticipantStatus {
                participant: c.participant_id().to_string(),
                role: c.role(),
                container: c.name.clone(),
                exit_code: if state == ContainerState::Running {
                    None
                } else {
                    f.exit_code
                },
                oom_killed: f.oom_killed,
                health: f.health.clone(),
                restart_count: f.restart_count,
                memory_used_bytes: f.stats.as_ref().and_then(|s| s.memory_used),
                memory_limit_bytes: f.memory_limit,
                cpu_percent: cpu_percent(f, ctx.previous.get(&c.id), &ctx.now_rfc3339),
                started_at: f.started_at.clone(),
                uptime_secs: if running {
                    f.started_at
                        .as_deref()
                        .and_then(|s| secs_between(s, &ctx.now_rfc3339))
                        .map(|s| s.max(0.0) as i64)
                } else {
                    None
                },
                joined: match (&ctx.connected, c.is_gateway()) {
                    (Some(ids), false) => Some(ids.contains(c.participant_id())),
                    _ => None,
                },
                state,
            }
        })
        .collect();
    let gw = gateway_address(facts);
    SpaceStatus {
        space_id: ctx.space_id.clone(),
        space_name: ctx.space_name.clone(),
        space_dir: facts
            .iter()
            .find_map(|f| f.container.space_dir().map(str::to_string)),
        gateway_url: gw.as_ref().map(|(h, p)| gateway_url(h, *p)),
        gateway_reachable: ctx.connected.is_some(),
        connected: ctx.connected.as_ref().map(|c| c.iter().cloned().collect()),
        participants,
    }
}

/// `12.3 MiB`, `1.0 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `45s`, `3m12s`, `2h05m`, `3d04h`.
pub(crate) fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The human table, header included.
/// No container of the space runs (or is about to): the space is stopped, not gone.
pub(crate) fn is_stopped(status: &SpaceStatus) -> bool {
    !status.participants.is_empty()
        && status
            .participants
            .iter()
            // A created container is about to run.
            .all(|p| !(p.state.is_running() || p.state == ContainerState::Created))
}

pub(crate) fn render_table(status: &SpaceStatus) -> String {
    let mut out = String::new();
    match &status.space_name {
        Some(name) => out.push_str(&format!("Space: {name} ({})\n", status.space_id)),
        None => out.push_str(&format!("Space: {}\n", status.space_id)),
    }
    if let Some(dir) = &status.space_dir {
        out.push_str(&format!("Directory: {dir}\n"));
    }
    if is_stopped(status) {
        out.push_str(
            "State: stopped (the participants it last had are below; start it with `mew up`)\n",
        );
    }
    match (&status.gateway_url, status.gateway_reachable) {
        (Some(url), true) => out.push_str(&format!("Gateway: {url}\n")),
        (Some(url), false) => out.push_str(&format!("Gateway: {url} (not answering)\n")),
        (None, _) => out.push_str("Gateway: not published\n"),
    }
    // Includes participants without a container (output_log ones, people, remote agents).
    if let Some(connected) = &status.connected {
        let list = if connected.is_empty() {
            "none".to_string()
        } else {
            connected.join(", ")
        };
        out.push_str(&format!("Connected: {list}\n"));
    }
    out.push('\n');
    let header = [
        "PARTICIPANT",
        "ROLE",
        "STATE",
        "HEALTH",
        "RESTARTS",
        "OOM",
        "MEMORY",
        "CPU",
        "UPTIME",
        "JOINED",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for p in &status.participants {
        let dash = || "-".to_string();
        let memory = match (p.memory_used_bytes, p.memory_limit_bytes) {
            (Some(u), Some(l)) => format!("{} / {}", human_bytes(u), human_bytes(l.max(0) as u64)),
            (Some(u), None) => format!("{} / -", human_bytes(u)),
            (None, Some(l)) => format!("- / {}", human_bytes(l.max(0) as u64)),
            (None, None) => dash(),
        };
        rows.push(vec![
            p.participant.clone(),
            p.role.map(|r| r.to_string()).unwrap_or_else(dash),
            state_label(p.state, p.exit_code),
            p.health.clone().unwrap_or_else(dash),
            p.restart_count.to_string(),
            if p.oom_killed {
                "yes".into()
            } else {
                "no".into()
            },
            memory,
            p.cpu_percent
                .map(|c| format!("{c:.1}%"))
                .unwrap_or_else(dash),
            p.uptime_secs.map(human_duration).unwrap_or_else(dash),
            match p.joined {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None if p.role == Some(Role::Gateway) => dash(),
                None => "unknown".into(),
            },
        ]);
    }
    out.push_str(&columns(&rows));
    out
}

/// Rows as left-aligned columns two spaces apart (the first row is the header).
pub(crate) fn columns<R: AsRef<[String]>>(rows: &[R]) -> String {
    let n = rows.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.as_ref()[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mew_space::model::{labels, ObservedContainer, Published};
    use std::collections::BTreeMap;

    fn facts(participant: &str, role: &str, state: &str) -> ContainerDetail {
        ContainerDetail {
            container: ObservedContainer {
                id: format!("id-{participant}"),
                name: format!("s-{participant}"),
                labels: BTreeMap::from([
                    (labels::SPACE_DIR.to_string(), "/d".to_string()),
                    (labels::PARTICIPANT.to_string(), participant.to_string()),
                    (labels::ROLE.to_string(), role.to_string()),
                ]),
                state: ContainerState::from_engine(state),
            },
            exit_code: Some(0),
            oom_killed: false,
            health: None,
            restart_count: 0,
            started_at: Some("2024-01-01T00:00:00Z".into()),
            finished_at: None,
            memory_limit: Some(512 * 1024 * 1024),
            published: vec![],
            stats: None,
        }
    }

    #[test]
    fn podman_states_are_mapped() {
        let label = |s: &str, code| state_label(ContainerState::from_engine(s), code);
        assert_eq!(label("stopped", Some(1)), "exited (code 1)");
        assert_eq!(label("configured", None), "created");
        assert_eq!(label("running", None), "running");
        assert_eq!(label("exited", Some(3)), "exited (code 3)");
        assert_eq!(label("running", Some(0)), "running");
        assert_eq!(label("restarting", Some(2)), "restarting (code 2)");
    }

    #[test]
    fn builds_rows_with_joined_and_uptime() {
        let mut gw = facts("gateway", "gateway", "running");
        gw.published = vec![Published {
            container_port: 8080,
            host_ip: "127.0.0.1".into(),
            host_port: 18080,
        }];
        let mut echo = facts("echo", "agent", "running");
        echo.stats = Some(StatsSample {
            memory_used: Some(2048),
            cpu_total_ns: Some(1_000_000_000),
            read_at: Some("2024-01-01T00:00:10Z".into()),
        });
        let mut dead = facts("crash", "agent", "stopped");
        dead.exit_code = Some(137);
        dead.oom_killed = true;
        let ctx = StatusContext {
            space_id: "s".into(),
            space_name: Some("Demo".into()),
            now_rfc3339: "2024-01-01T00:01:00Z".into(),
            connected: Some(["echo".to_string()].into()),
            previous: HashMap::new(),
        };
        let st = build(&[gw, echo, dead], &ctx);
        assert_eq!(st.gateway_url.as_deref(), Some("ws://127.0.0.1:18080"));
        assert_eq!(st.space_dir.as_deref(), Some("/d"));
        assert_eq!(st.participants[0].joined, None);
        assert_eq!(st.participants[1].joined, Some(true));
        assert_eq!(st.participants[1].uptime_secs, Some(60));
        assert_eq!(st.participants[1].cpu_percent, Some(10.0));
        assert_eq!(st.participants[1].exit_code, None);
        assert_eq!(st.participants[2].state, ContainerState::Exited);
        assert_eq!(json_state(&st, 2), "exited");
        assert_eq!(st.participants[2].exit_code, Some(137));
        assert_eq!(st.participants[2].joined, Some(false));
        assert_eq!(st.participants[2].uptime_secs, None);
        let table = render_table(&st);
        assert!(table.starts_with("Space: Demo (s)\n"), "{table}");
        assert!(table.contains("\nConnected: echo\n"), "{table}");
        assert!(table.contains("exited (code 137)"), "{table}");
        assert!(table.contains("2.0 KiB / 512.0 MiB"), "{table}");
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["participants"][2]["oom_killed"], true);
        assert_eq!(json["participants"][1]["memory_limit_bytes"], 536870912);
    }

    fn json_state(st: &SpaceStatus, i: usize) -> String {
        serde_json::to_value(st).unwrap()["participants"][i]["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn documented_schema_lists_every_key() {
        let st = build(&[facts("a", "agent", "running")], &StatusContext::default());
        let v = serde_json::to_value(&st).unwrap();
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.extend(v["participants"][0].as_object().unwrap().keys().cloned());
        for k in keys {
            assert!(
                JSON_SCHEMA.contains(&format!("\"{k}\":")),
                "{k} is not documented"
            );
        }
    }

    #[test]
    fn cpu_from_previous_sample() {
        let mut f = facts("a", "agent", "running");
        f.stats = Some(StatsSample {
            memory_used: None,
            cpu_total_ns: Some(3_000_000_000),
            read_at: Some("2024-01-01T00:00:12Z".into()),
        });
        let prev = StatsSample {
            memory_used: None,
            cpu_total_ns: Some(2_000_000_000),
            read_at: Some("2024-01-01T00:00:10Z".into()),
        };
        assert_eq!(cpu_percent(&f, Some(&prev), "x"), Some(50.0));
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(3725), "1h02m");
        assert_eq!(human_duration(90_000), "1d01h");
    }
}
