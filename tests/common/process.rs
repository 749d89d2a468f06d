//! Test harness: a child process whose stdout is read line by line on a thread of its own, so a
//! test can wait for a line with a time limit; SIGTERM with timing; killed when dropped.
//! Part of `mod common;` (as `common::process`), and of `gateway_proc` (as `gateway_proc::process`).
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// SIGTERM `child` and wait up to 5 s for it to exit; SIGKILL it after that.
pub fn terminate(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// [`terminate`] `child`; returns its exit code and how long it took to exit.
pub fn stop_timed(child: &mut Child) -> (Option<i32>, Duration) {
    let start = Instant::now();
    terminate(child);
    let code = child.wait().ok().and_then(|s| s.code());
    (code, start.elapsed())
}

/// A running child with its stdout lines on a channel. Killed (and reaped) when dropped, however
/// the test ends.
pub struct LineChild {
    pub child: Child,
    lines: Receiver<String>,
}

impl Drop for LineChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LineChild {
    /// Spawn `cmd` with stdout piped (stdin and stderr as `cmd` sets them); `what` names it in
    /// the panic when it cannot start.
    pub fn spawn(cmd: &mut Command, what: &str) -> LineChild {
        Self::start(cmd, what, None)
    }

    /// Like [`LineChild::spawn`], and also print every line as `[<prefix>] <line>` (shown with
    /// the output of a failed test).
    pub fn spawn_echoing(cmd: &mut Command, what: &str, prefix: &str) -> LineChild {
        Self::start(cmd, what, Some(prefix.to_string()))
    }

    fn start(cmd: &mut Command, what: &str, echo: Option<String>) -> LineChild {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(prefix) = &echo {
                    println!("[{prefix}] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineChild { child, lines }
    }

    /// The next stdout line, if one comes within `limit` (None also once stdout has closed).
    pub fn next_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Wait for a stdout line containing `needle`; returns it. Lines before it are consumed.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Take the child's stdin (spawn it with `Stdio::piped()` stdin).
    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin is piped")
    }

    /// SIGTERM; returns the exit code and how long it took.
    pub fn stop(&mut self) -> (Option<i32>, Duration) {
        stop_timed(&mut self.child)
    }

    /// Wait up to `limit` for the child to exit by itself; its exit code (None: still running).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM; asserts the child exits with code 0 in less than `limit`.
    #[track_caller]
    pub fn assert_clean_stop(&mut self, limit: Duration) {
        let (code, took) = self.stop();
        assert_eq!(code, Some(0), "exit code after SIGTERM");
        assert!(took < limit, "SIGTERM took {took:?}");
    }
}
