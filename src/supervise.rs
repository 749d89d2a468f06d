//! In-container init (`mew supervise`, design.md §1): PID 1 of participant containers.
//!
//! It spawns one command, forwards termination-style signals to it, reaps every child that the
//! kernel hands to it (orphans are re-parented to PID 1), copies the child's stdout/stderr to its
//! own (the engine's log driver reads those) and appends them line by line to a log file, then
//! exits with the child's status. Nothing here assumes a shell or a writable /tmp, so it works in
//! a `FROM scratch` image.
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use thiserror::Error;
use tokio::signal::unix::{signal, SignalKind};

/// Signals passed on to the child; anything else keeps its default meaning for the supervisor.
pub(crate) const FORWARDED_SIGNALS: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// How long to keep copying output after the child has exited. A background grandchild may keep
/// the pipes open forever; it must not keep the container alive.
const OUTPUT_DRAIN_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub(crate) struct SuperviseOptions {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    /// File that receives a copy of every output line (append mode).
    pub(crate) log: Option<PathBuf>,
    /// Variables set for the command on top of the supervisor's own environment.
    pub(crate) env: Vec<(String, String)>,
}

#[derive(Debug, Error)]
pub(crate) enum SuperviseError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: permission denied")]
    PermissionDenied(String),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot open log file {path}: {source}")]
    LogFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot install a handler for {signal}: {source}")]
    Signal {
        signal: Signal,
        #[source]
        source: io::Error,
    },
    #[error("lost track of the child process: {0}")]
    Wait(String),
}

impl SuperviseError {
    /// The exit status a shell would give for this failure (127 not found, 126 not executable).
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            SuperviseError::NotFound(_) => 127,
            SuperviseError::PermissionDenied(_) => 126,
            _ => 1,
        }
    }
}

/// Exit code for a wait status, shell style: the code, or 128 + signal number.
pub(crate) fn exit_code_of(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Open (creating parents) a log file in append mode, so writes land at the end even after
/// someone truncates it with `: > file`.
pub(crate) fn open_log(path: &Path) -> Result<File, SuperviseError> {
    let err = |source| SuperviseError::LogFile {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)
}

/// Run the command to completion; returns the exit code the supervisor should exit with.
pub(crate) async fn run(opts: SuperviseOptions) -> Result<i32, SuperviseError> {
    let log = match &opts.log {
        Some(path) => Some(Arc::new(Mutex::new(open_log(path)?))),
        None => None,
    };

    // Handlers first, so a signal arriving during spawn is not lost (PID 1 ignores signals it
    // has no handler for).
    let mut streams = Vec::new();
    for sig in FORWARDED_SIGNALS {
        let stream =
            signal(SignalKind::from_raw(sig as i32)).map_err(|source| SuperviseError::Signal {
                signal: sig,
                source,
            })?;
        streams.push((sig, stream));
    }

    become_subreaper();

    let mut child = Command::new(&opts.program)
        .args(&opts.args)
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => SuperviseError::NotFound(opts.program.clone()),
            io::ErrorKind::PermissionDenied => {
                SuperviseError::PermissionDenied(opts.program.clone())
            }
            _ => SuperviseError::Spawn {
                program: opts.program.clone(),
                source,
            },
        })?;
    let child_pid = Pid::from_raw(child.id() as i32);

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut copiers = 0;
    if let Some(out) = child.stdout.take() {
        spawn_copier(out, io::stdout(), log.clone(), done_tx.clone());
        copiers += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn_copier(err, io::stderr(), log.clone(), done_tx.clone());
        copiers += 1;
    }
    drop(done_tx);
    // The `Child` handle is not used for waiting: the reaper below collects it with waitpid(-1).
    drop(child);

    let (status_tx, mut status_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || reap_until(child_pid, status_tx));

    let code = loop {
        tokio::select! {
            status = &mut status_rx => {
                break match status {
                    Ok(Ok(code)) => code,
                    Ok(Err(e)) => return Err(SuperviseError::Wait(e)),
                    Err(_) => return Err(SuperviseError::Wait("reaper thread stopped".into())),
                };
            }
            _ = forward_one(&mut streams, child_pid) => {}
        }
    };

    // Let the copiers flush what the child wrote last, but do not wait on pipes held open by
    // background grandchildren.
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + OUTPUT_DRAIN_GRACE;
        for _ in 0..copiers {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
    })
    .await
    .ok();
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    Ok(code)
}

/// Wait for the next forwarded signal and pass it to the child.
async fn forward_one(streams: &mut [(Signal, tokio::signal::unix::Signal)], child: Pid) {
    let waits = streams.iter_mut().map(|(sig, stream)| {
        let sig = *sig;
        Box::pin(async move {
            stream.recv().await;
            sig
        })
    });
    let (sig, _, _) = futures_util::future::select_all(waits).await;
    // ESRCH just means the child is already gone; the reaper reports its status.
    let _ = kill(child, sig);
    tracing::debug!("forwarded {sig} to {child}");
}

/// Outside a container (tests, a host shell) we are not PID 1; becoming a child subreaper makes
/// orphans come to us all the same, so reaping behaves identically.
fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integer arguments and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!("PR_SET_CHILD_SUBREAPER failed; orphans go to the real init");
    }
}

/// Reap every child until the main one exits, then report its exit code.
fn reap_until(main: Pid, report: tokio::sync::oneshot::Sender<Result<i32, String>>) {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(status) if status.pid() == Some(main) => {
                if let Some(code) = exit_code_of(status) {
                    let _ = report.send(Ok(code));
                    return;
                }
            }
            Ok(_) => {} // an orphan (or a stop/continue notification): collected, keep going
            Err(Errno::EINTR) => {}
            Err(e) => {
                let _ = report.send(Err(e.to_string()));
                return;
            }
        }
    }
}

/// Copy one output stream line by line to `out` and to the shared log file.
fn spawn_copier<R, W>(source: R, mut out: W, log: Option<Arc<Mutex<File>>>, done: mpsc::Sender<()>)
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    std::thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    // A closed stdout must not stop the copy to the log file, and vice versa.
                    let _ = out.write_all(&line).and_then(|_| out.flush());
                    if let Some(log) = &log {
                        if let Ok(mut f) = log.lock() {
                            let _ = f.write_all(&line);
                            // Keep the file line-oriented even if the output ends mid-line.
                            if line.last() != Some(&b'\n') {
                                let _ = f.write_all(b"\n");
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_shell_conventions() {
        let pid = Pid::from_raw(42);
        assert_eq!(exit_code_of(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code_of(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(exit_code_of(WaitStatus::StillAlive), None);
        assert_eq!(SuperviseError::NotFound("x".into()).exit_code(), 127);
        assert_eq!(
            SuperviseError::PermissionDenied("x".into()).exit_code(),
            126
        );
    }

    #[test]
    fn log_file_is_appended_and_parents_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/c.log");
        {
            let mut f = open_log(&path).expect("open");
            f.write_all(b"one\n").expect("write");
        }
        {
            let mut f = open_log(&path).expect("open again");
            f.write_all(b"two\n").expect("write");
        }
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "one\ntwo\n");
    }
}
