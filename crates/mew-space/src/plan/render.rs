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
        Action::PullImage { image } => format!("+ pull image {image}"),
        Action::RemoveVolume { name } => format!("- remove volume {name}"),
        Action::EnsureRuntimeVolume { name, image } => {
            format!("+ create volume {name} (mew from {image})")
        }
        Action::CreateNetwork(n) => format!("+ create network {}", n.name),
        Action::CreateVolume(v) => format!("+ create volume {}", v.name),
        Action::RemoveNetwork {
            name,
            id,
            duplicate,
        } => {
            if *duplicate {
                let short: String = id.chars().take(12).collect();
                format!("- remove network {name} (duplicate, id {short})")
            } else {
                format!("- remove network {name}")
            }
        }
        Action::RemoveContainer { name, reason } => match reason {
            RemoveReason::Orphan => format!("- remove {name} (no longer in space.yaml)"),
            RemoveReason::Changed => format!("~ recreate {name} (config changed)"),
            RemoveReason::Down => format!("- remove {name}"),
            RemoveReason::DuplicateNetwork => {
                format!("~ recreate {name} (on the one network kept)")
            }
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
        Action::WaitJoined { participants, .. } => {
            format!("? wait until joined: {}", participants.join(", "))
        }
    }
}

/// A copy of `env` fit for printing: values of variables named like `*TOKEN*`, `*KEY*`,
/// `*SECRET*` or `*PASSWORD*` become `***` (not `*_FILE`: a path to a secret is none).
pub fn mask_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| {
            let upper = k.to_ascii_uppercase();
            let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD"]
                .iter()
                .any(|s| upper.contains(s))
                && !upper.ends_with("_FILE");
            (
                k.clone(),
                if secret { "***".to_string() } else { v.clone() },
            )
        })
        .collect()
}

/// The plan with the full settings of every container it creates (for `--dry-run -v`).
/// Secrets are masked: env values named like tokens or keys, and those values wherever they
/// occur in the command line.
pub fn render_detailed(plan: &Plan) -> String {
    if plan.is_empty() {
        return render(plan);
    }
    let mut out = String::new();
    for stage in plan.stages.iter().filter(|s| !s.actions.is_empty()) {
        let _ = writeln!(out, "{}:", stage.title);
        for action in &stage.actions {
            let _ = writeln!(out, "  {}", action_line(action));
            if let Action::CreateAndStart(spec) = action {
                container_details(&mut out, spec);
            }
        }
    }
    out
}

fn container_details(out: &mut String, spec: &ContainerSpec) {
    let masked = mask_env(&spec.env);
    // Values that were masked in env are secrets wherever they appear.
    let secrets: Vec<&str> = spec
        .env
        .iter()
        // Very short values would mangle unrelated text and are no real secrets.
        .filter(|(k, v)| masked.get(*k).is_some_and(|m| m != *v) && v.len() >= 4)
        .map(|(_, v)| v.as_str())
        .collect();
    let hide = |s: &str| {
        secrets.iter().fold(
            s.replace(crate::tokens::TOKEN_PLACEHOLDER, "${TOKEN}"),
            |acc, secret| acc.replace(secret, "***"),
        )
    };
    let cmd: Vec<String> = spec.cmd.iter().map(|a| quote(&hide(a))).collect();
    let _ = writeln!(out, "      command: {}", cmd.join(" "));
    if !masked.is_empty() {
        let env: Vec<String> = masked
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(&hide(v))))
            .collect();
        let _ = writeln!(out, "      env: {}", env.join(" "));
    }
    let mounts: Vec<String> = spec
        .mounts
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MountKind::Bind => "",
                MountKind::Volume => "volume ",
            };
            let mode = if m.read_only { "ro" } else { "rw" };
            format!("{kind}{}:{} ({mode})", m.source, m.target)
        })
        .collect();
    let _ = writeln!(out, "      mounts: {}", mounts.join(", "));
    let mut net = format!("      network: {}", spec.network);
    if !spec.aliases.is_empty() {
        let _ = write!(net, " (alias {})", spec.aliases.join(", "));
    }
    if let Some(user) = &spec.user {
        let _ = write!(net, ", user {user}");
    }
    let _ = writeln!(out, "{net}");
    let r = &spec.resources;
    let mut limits = Vec::new();
    if let Some(m) = r.memory_bytes {
        limits.push(format!("memory {}", size(m)));
    }
    if let Some(c) = r.nano_cpus {
        limits.push(format!("cpus {}", c as f64 / 1e9));
    }
    if let Some(p) = r.pids_limit {
        limits.push(format!("pids {p}"));
    }
    let restart = match &spec.restart {
        RestartPolicy::No => "no".to_string(),
        RestartPolicy::OnFailure(None) => "on-failure".to_string(),
        RestartPolicy::OnFailure(Some(n)) => format!("on-failure:{n}"),
        RestartPolicy::Always => "always".to_string(),
        RestartPolicy::UnlessStopped => "unless-stopped".to_string(),
    };
    limits.push(format!("restart {restart}"));
    limits.push(format!("stop grace {}s", spec.stop_grace_secs));
    let opts: Vec<String> = spec
        .log
        .options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if opts.is_empty() {
        limits.push(format!("log {}", spec.log.driver));
    } else {
        limits.push(format!("log {} ({})", spec.log.driver, opts.join(", ")));
    }
    let _ = writeln!(out, "      limits: {}", limits.join(", "));
}

fn size(bytes: i64) -> String {
    const MIB: i64 = 1024 * 1024;
    if bytes % (1024 * MIB) == 0 {
        format!("{}g", bytes / (1024 * MIB))
    } else if bytes % MIB == 0 {
        format!("{}m", bytes / MIB)
    } else {
        format!("{bytes}b")
    }
}

/// Single-quote an argument when a shell would split or interpret it.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%*".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
