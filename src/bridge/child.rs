//! The MCP server as a stdio child: newline-delimited JSON-RPC on its stdin/stdout, its stderr
//! passed through to ours (so it lands in the bridge's error log).
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::BridgeError;

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerCommand {
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
}

pub(crate) struct McpChild {
    child: Child,
    to_server: mpsc::UnboundedSender<String>,
    from_server: mpsc::UnboundedReceiver<Value>,
}

impl McpChild {
    pub(crate) fn spawn(cmd: &ServerCommand) -> Result<McpChild, BridgeError> {
        if let Some(cwd) = &cmd.cwd {
            if !cwd.is_dir() {
                return Err(BridgeError::Cwd(cwd.display().to_string()));
            }
        }
        let (program, prefix) = program(&cmd.command).map_err(|source| BridgeError::Spawn {
            command: cmd.command.clone(),
            source,
        })?;
        let mut command = Command::new(program);
        command
            .args(prefix)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Whatever way the bridge ends, the server must not outlive it.
            .kill_on_drop(true);
        if let Some(cwd) = &cmd.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|source| BridgeError::Spawn {
            command: cmd.command.clone(),
            source,
        })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BridgeError::Spawn {
                command: cmd.command.clone(),
                source: std::io::Error::other("no stdio pipes"),
            });
        };

        // Writes go through a task so that a server that stops reading cannot stall the
        // bridge's event loop.
        let (to_server, mut outgoing) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(mut line) = outgoing.recv().await {
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });

        let (incoming, from_server) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(&line) {
                    Ok(msg) => {
                        if incoming.send(msg).is_err() {
                            break;
                        }
                    }
                    // Servers sometimes print banners on stdout; say so and carry on.
                    Err(_) => eprintln!("MCP server wrote a non-JSON line on stdout: {line}"),
                }
            }
        });

        Ok(McpChild {
            child,
            to_server,
            from_server,
        })
    }

    /// Queue a JSON-RPC message for the server.
    pub(crate) fn send(&self, msg: &Value) {
        let _ = self.to_server.send(msg.to_string());
    }

    /// The server's next message; `None` once it closed its stdout (it exited, usually).
    pub(crate) async fn recv(&mut self) -> Option<Value> {
        self.from_server.recv().await
    }

    /// Why the server is gone, for the log: its exit status if it ends soon.
    pub(crate) async fn exit_reason(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            Ok(Err(e)) => format!("cannot be waited for ({e})"),
            Err(_) => "closed its stdout but is still running".into(),
        }
    }

    /// Stop the server (it has no say in this: the bridge is going away).
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_millis(300), self.child.wait()).await;
    }
}

/// The program to start and the arguments that go before the server's own. `mew` means this
/// very executable: the built-in servers then always match the bridge, and in the runtime
/// image there is no `mew` on a PATH (the binary lives in /opt/mew and, when dynamically
/// linked, runs through its bundled loader).
fn program(command: &str) -> std::io::Result<(OsString, Vec<OsString>)> {
    if command != "mew" {
        return Ok((command.into(), Vec::new()));
    }
    let exe = std::env::current_exe()?;
    let through_loader = exe
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("ld-"));
    if through_loader {
        // Started as `<dir>/ld-… --library-path <dir> <mew> …`: /proc/self/exe is the loader,
        // and argv[0] is mew itself.
        if let (Some(dir), Some(argv0)) = (exe.parent(), std::env::args_os().next()) {
            let prefix = vec!["--library-path".into(), dir.into(), argv0];
            return Ok((exe.into_os_string(), prefix));
        }
    }
    Ok((exe.into_os_string(), Vec::new()))
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("ended ({status})"),
    }
}
