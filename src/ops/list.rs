//! `mew space list` (and `status` with no space here): every space on the engine, from labels,
//! as `docker compose ls` lists projects.
use bollard::models::ContainerSummary;
use mew_space::model::labels;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SpaceRow {
    pub(crate) id: String,
    pub(crate) dir: String,
    /// `running`, `stopped` or `partial` (some containers run).
    pub(crate) state: String,
    pub(crate) gateway_url: Option<String>,
    pub(crate) up: usize,
    pub(crate) total: usize,
}

/// One row per space id, sorted by id.
pub(crate) fn rows(containers: &[ContainerSummary]) -> Vec<SpaceRow> {
    let mut by_space: BTreeMap<String, SpaceRow> = BTreeMap::new();
    for c in containers {
        let labels = c.labels.clone().unwrap_or_default();
        let Some(id) = labels.get(labels::SPACE) else {
            continue;
        };
        let row = by_space.entry(id.clone()).or_insert_with(|| SpaceRow {
            id: id.clone(),
            dir: String::new(),
            state: String::new(),
            gateway_url: None,
            up: 0,
            total: 0,
        });
        if row.dir.is_empty() {
            row.dir = labels.get(labels::SPACE_DIR).cloned().unwrap_or_default();
        }
        let running = c.state.as_ref().is_some_and(|s| s.to_string() == "running");
        row.total += 1;
        row.up += usize::from(running);
        if labels.get(labels::ROLE).map(String::as_str) == Some("gateway") && running {
            let published = c
                .ports
                .iter()
                .flatten()
                .find_map(|p| Some((p.ip.clone().unwrap_or_default(), p.public_port?)));
            row.gateway_url = published.map(|(ip, port)| {
                crate::ops::status::gateway_url(&mew_space::net::reachable_host(&ip), port)
            });
        }
    }
    let mut out: Vec<SpaceRow> = by_space.into_values().collect();
    for r in &mut out {
        r.state = match (r.up, r.total) {
            (0, _) => "stopped",
            (u, t) if u == t => "running",
            _ => "partial",
        }
        .into();
    }
    out
}

pub(crate) fn render(rows: &[SpaceRow]) -> String {
    let mut t = vec![[
        "SPACE".to_string(),
        "STATE".into(),
        "PARTICIPANTS".into(),
        "GATEWAY".into(),
        "DIRECTORY".into(),
    ]];
    for r in rows {
        t.push([
            r.id.clone(),
            r.state.clone(),
            format!("{}/{}", r.up, r.total),
            r.gateway_url.clone().unwrap_or_else(|| "-".into()),
            r.dir.clone(),
        ]);
    }
    crate::ops::status::columns(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerSummaryStateEnum, PortSummary};
    use std::collections::HashMap;

    fn c(
        space: &str,
        role: &str,
        state: ContainerSummaryStateEnum,
        port: Option<u16>,
    ) -> ContainerSummary {
        ContainerSummary {
            labels: Some(HashMap::from([
                (labels::SPACE.to_string(), space.to_string()),
                (labels::SPACE_DIR.to_string(), format!("/s/{space}")),
                (labels::ROLE.to_string(), role.to_string()),
            ])),
            state: Some(state),
            ports: port.map(|p| {
                vec![PortSummary {
                    ip: Some("127.0.0.1".into()),
                    private_port: 8080,
                    public_port: Some(p),
                    typ: None,
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn one_row_per_space_with_gateway_and_counts() {
        use ContainerSummaryStateEnum::{EXITED, RUNNING};
        let list = [
            c("b", "agent", EXITED, None),
            c("a", "gateway", RUNNING, Some(18080)),
            c("a", "agent", RUNNING, None),
            c("b", "gateway", EXITED, None),
            c("c", "gateway", RUNNING, Some(9000)),
            c("c", "agent", EXITED, None),
        ];
        let r = rows(&list);
        let brief: Vec<(&str, &str, usize, usize)> = r
            .iter()
            .map(|r| (r.id.as_str(), r.state.as_str(), r.up, r.total))
            .collect();
        assert_eq!(
            brief,
            [
                ("a", "running", 2, 2),
                ("b", "stopped", 0, 2),
                ("c", "partial", 1, 2)
            ]
        );
        assert_eq!(r[0].gateway_url.as_deref(), Some("ws://127.0.0.1:18080"));
        assert_eq!(r[1].gateway_url, None);
        let table = render(&r);
        assert!(
            table.starts_with("SPACE  STATE    PARTICIPANTS  GATEWAY"),
            "{table}"
        );
        assert!(table.contains("b      stopped  0/2           -"), "{table}");
    }
}
