//! The text form of a plan (what `mew space up --dry-run` prints): stable, one line per action.
//! It never shows commands or environments, so tokens and keys cannot leak into terminals or CI
//! logs; `mask_env` is there for callers that show a container's environment.
use super::model::*;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Render a plan. An empty plan says so in one line.
pub fn render(plan: &Plan) -> String {
    if plan.is_empty() {
        return "nothing to do: everything is up to date\n".to_string();
    }
    let mut out = String::new();
    for stage in plan.stages.iter().filter(|s| !s.actions.is_empty()) {
        let _ = writeln!(out, "{}:", stage.title);
        for action in &stage.actions {
            let _ = writeln!(out, "  {}", action_line(action));
        }
    }
    out
}

/// One action as one line.
pub fn action_line(action: &Action) -> String {
    match action {
        Action::BuildRuntimeImage { tag } => format!("+ build image {tag}"),
        Action::EnsureRuntimeVolume { name, image } => {
            format!("+ create volume {name} (mew from {image})")
        }
        Action::CreateNetwork(n) => format!("+ create network {}", n.name),
        Action::RemoveNetwork { name } => format!("- remove network {name}"),
        Action::RemoveContainer { name, reason } => match reason {
            RemoveReason::Orphan => format!("- remove {name} (no longer in space.yaml)"),
            RemoveReason::Changed => format!("~ recreate {name} (config changed)"),
            RemoveReason::Down => format!("- remove {name}"),
        },
        Action::CreateAndStart(spec) => {
            let mut line = format!(
                "+ create {} ({}, image {}",
                spec.name,
                spec.role.as_str(),
                spec.image
            );
            for p in &spec.ports {
                let _ = write!(line, ", port {}:{}", p.host_ip, p.host_port);
            }
            line.push(')');
            line
        }
        Action::Start { name } => format!("> start {name} (stopped)"),
        Action::WaitHealthy { name, url } => format!("? wait until {name} is healthy ({url})"),
        Action::WaitJoined { participants } => {
            format!("? wait until joined: {}", participants.join(", "))
        }
    }
}

/// A copy of `env` fit for printing: values of variables named like `*TOKEN*`, `*KEY*`,
/// `*SECRET*` or `*PASSWORD*` become `***`.
pub fn mask_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| {
            let upper = k.to_ascii_uppercase();
            let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD"]
                .iter()
                .any(|s| upper.contains(s));
            (
                k.clone(),
                if secret { "***".to_string() } else { v.clone() },
            )
        })
        .collect()
}
