//! Auto-start of config participants (spec/gateway.md §7.3 step 4), when the gateway is run
//! without `--no-auto-start` (outside containers).
use super::state::Gateway;
use mew_space::config::lenient::ParticipantConfig;
use mew_space::config::substitute;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pids of running children, so shutdown can stop them.
#[derive(Default)]
pub struct Children {
    pids: Mutex<HashMap<String, u32>>,
    stopping: std::sync::atomic::AtomicBool,
}

impl Children {
    /// SIGTERM every running child.
    pub fn stop_all(&self) {
        // Under the lock, so a child registered concurrently either is in the map now or
        // sees `stopping` when it registers (see `register`).
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for pid in pids.values() {
            terminate(*pid);
        }
    }

    fn register(&self, id: &str, pid: u32) {
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        pids.insert(id.to_string(), pid);
        if self.stopping() {
            terminate(pid);
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// In an `args` item: the first `${PORT}`, `${SPACE}` and `${TOKEN}` (spec/gateway.md §7.3:
/// upstream replaces only the first occurrence of each); everything else stays as written.
fn expand_arg(s: &str, port: &str, space: &str, token: &str) -> String {
    let seen = std::cell::RefCell::new(Vec::new());
    substitute::expand(s, |name| {
        let value = match name {
            "PORT" => port,
            "SPACE" => space,
            "TOKEN" => token,
            _ => return None,
        };
        let mut seen = seen.borrow_mut();
        if seen.iter().any(|n| n == name) {
            return None;
        }
        seen.push(name.to_string());
        Some(value.to_string())
    })
}

/// In an `env` value: `${VAR}` from the gateway's environment; unset variables stay verbatim.
fn expand_env(s: &str) -> String {
    substitute::expand(s, |name| std::env::var(name).ok())
}

/// Command, arguments and extra environment of one child.
pub type LaunchSpec = (String, Vec<String>, Vec<(String, String)>);

/// The command line and environment for one participant.
pub fn command_for(
    id: &str,
    pc: &ParticipantConfig,
    port: u16,
    space: &str,
    token: &str,
) -> Option<LaunchSpec> {
    let command = pc.command.clone()?;
    let port_s = port.to_string();
    let args = pc
        .args
        .iter()
        .map(|a| expand_arg(a, &port_s, space, token))
        .collect();
    let mut env = vec![
        ("PORT".to_string(), port_s),
        ("SPACE".to_string(), space.to_string()),
        ("TOKEN".to_string(), token.to_string()),
        (mew_space::tokens::env_var_name(id), token.to_string()),
    ];
    for (k, v) in &pc.env {
        env.push((k.clone(), expand_env(v)));
    }
    Some((command, args, env))
}

/// Spawn every `auto_start` participant with a `command`; restart on failure when asked.
pub fn start_all(gw: &Arc<Gateway>, children: &Arc<Children>) {
    let Some(cfg) = gw.config() else {
        return;
    };
    let port = gw.port.load(std::sync::atomic::Ordering::Relaxed);
    let space = gw.default_space();
    for (id, pc) in &cfg.participants {
        if !pc.auto_start || pc.command.is_none() {
            continue;
        }
        let token = gw.lock().token_map.get(id).cloned().unwrap_or_default();
        let Some(spec) = command_for(id, pc, port, &space, &token) else {
            continue;
        };
        let restart = pc.restart_policy.as_deref() == Some("on-failure");
        tokio::spawn(supervise(
            gw.clone(),
            children.clone(),
            id.clone(),
            spec,
            restart,
        ));
    }
}

async fn supervise(
    gw: Arc<Gateway>,
    children: Arc<Children>,
    id: String,
    (command, args, env): LaunchSpec,
    restart: bool,
) {
    loop {
        if children.stopping() {
            return;
        }
        let mut cmd = tokio::process::Command::new(&command);
        cmd.args(&args).envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                gw.console
                    .error(&format!("Failed to start {id} ({command}): {e}"));
                return;
            }
        };
        if let Some(pid) = child.id() {
            children.register(&id, pid);
        }
        gw.console.info(&format!("Started {id}: {command}"));
        let status = child.wait().await;
        children
            .pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let failed = status.map(|s| !s.success()).unwrap_or(true);
        if !(restart && failed) || children.stopping() {
            gw.console.info(&format!("{id} exited"));
            return;
        }
        gw.console
            .warn(&format!("{id} failed; restarting in 5 seconds"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        let pc = ParticipantConfig {
            command: Some("node".into()),
            args: vec![
                "--port=${PORT}${PORT}".into(),
                "${SPACE}".into(),
                "-t".into(),
                "${TOKEN}".into(),
            ],
            env: [("X".to_string(), "${MEW_TEST_SURELY_UNSET_VAR}".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let (cmd, args, env) = command_for("my-agent", &pc, 9, "sp", "tk").unwrap();
        assert_eq!(cmd, "node");
        assert_eq!(args, ["--port=9${PORT}", "sp", "-t", "tk"]);
        assert!(env.contains(&("MEW_TOKEN_MY_AGENT".into(), "tk".into())));
        assert!(env.contains(&("X".into(), "${MEW_TEST_SURELY_UNSET_VAR}".into())));
        assert!(!expand_env("a${PATH}b").contains("${"));
        // Each placeholder's first occurrence, in one pass: a value is not expanded again.
        assert_eq!(
            expand_arg("${TOKEN}${SPACE}${TOKEN}-${HOME}", "1", "${TOKEN}", "t"),
            "t${TOKEN}${TOKEN}-${HOME}"
        );
    }
}
