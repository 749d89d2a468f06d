//! Run a command in a participant's container with the caller's stdio attached, and return its
//! exit code.
use crate::inspect::OpError;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use std::time::Duration;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error(transparent)]
    Engine(#[from] OpError),
    #[error("the engine did not attach to the command in {0}")]
    NotAttached(String),
    #[error("the command in {0} ended without an exit code")]
    NoExitCode(String),
}

/// Reads the caller's terminal size as (columns, rows).
pub type TerminalSize = fn() -> Option<(u16, u16)>;

/// Keep the exec's terminal the size of ours: now, and whenever the window changes.
async fn follow_terminal_size(docker: Docker, exec_id: String, size: TerminalSize) {
    let mut winch =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    loop {
        if let Some((width, height)) = size() {
            // Best effort: a wrong size only affects line wrapping.
            let _ = docker
                .resize_exec(&exec_id, ResizeExecOptions { height, width })
                .await;
        }
        match winch.as_mut() {
            Some(w) => {
                if w.recv().await.is_none() {
                    return;
                }
            }
            None => return,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub container: String,
    pub cmd: Vec<String>,
    /// Allocate a terminal (the caller's stdin is one).
    pub tty: bool,
    /// Reads the caller's terminal size (columns, rows) when `tty`: at start and on SIGWINCH.
    pub terminal_size: Option<TerminalSize>,
}

/// Run `req`, copying stdin in and stdout/stderr out; the command's exit code.
pub async fn exec(docker: &Docker, req: &ExecRequest) -> Result<i64, ExecError> {
    let what = |s: &str| format!("{s} in {}", req.container);
    let created = docker
        .create_exec(
            &req.container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(req.tty),
                cmd: Some(req.cmd.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| OpError::new(what("create an exec"), e))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: req.tty,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| OpError::new(what("start an exec"), e))?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(ExecError::NotAttached(req.container.clone()));
    };
    let resizer = match (req.tty, req.terminal_size) {
        (true, Some(size)) => Some(tokio::spawn(follow_terminal_size(
            docker.clone(),
            created.id.clone(),
            size,
        ))),
        _ => None,
    };
    // stdin → exec; on EOF close our side so the command sees EOF too.
    let stdin_task = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut input).await;
        let _ = input.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(chunk) = output.next().await {
        let chunk = chunk.map_err(|e| OpError::new(what("read exec output"), e))?;
        // A closed stdout/stderr (e.g. `| head`) must not abort the command's exit code.
        let _ = match chunk {
            LogOutput::StdErr { message } => stderr.write_all(&message).await,
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                stdout.write_all(&message).await
            }
            LogOutput::StdIn { .. } => Ok(()),
        };
        let _ = stdout.flush().await;
    }
    stdin_task.abort();
    if let Some(r) = resizer {
        r.abort();
    }
    // The stream can end a moment before the engine records the exit code.
    for _ in 0..50 {
        let info = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| OpError::new(what("inspect an exec"), e))?;
        if info.running != Some(true) {
            if let Some(code) = info.exit_code {
                return Ok(code);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(ExecError::NoExitCode(req.container.clone()))
}
