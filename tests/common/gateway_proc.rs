//! Test harness: run the real `mew gateway start` on a free loopback port in a temp directory.
//! Include with `#[path = "common/gateway_proc.rs"] mod gateway_proc;`; child processes with a
//! stdout line reader come with it as `gateway_proc::process`.
#![allow(dead_code)]
#[path = "process.rs"]
pub mod process;

pub use process::terminate;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn mew_exe() -> &'static str {
    env!("CARGO_BIN_EXE_mew")
}

/// A unique id for spaces and participants, so tests never share state.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos:08x}", std::process::id())
}

pub struct GatewayProc {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl GatewayProc {
    /// Write `space_yaml` to `<tmp>/space.yaml` and start a gateway on a free port.
    pub fn start(space_yaml: &str) -> GatewayProc {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("space.yaml"), space_yaml).expect("write space.yaml");
        let (child, port) = spawn(dir.path(), 0);
        GatewayProc {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// SIGTERM the gateway and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }

    /// Start again on the same port (the gateway restarted).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port may linger for a moment after the old process exits.
            match try_spawn(self.dir.path(), self.port) {
                Some((child, _)) => {
                    self.child = Some(child);
                    return;
                }
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                None => panic!("gateway did not restart on port {}", self.port),
            }
        }
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(dir: &Path, port: u16) -> (Child, u16) {
    try_spawn(dir, port).expect("gateway did not report `Gateway listening on port <n>`")
}

fn try_spawn(dir: &Path, port: u16) -> Option<(Child, u16)> {
    let mut child = Command::new(mew_exe())
        .args([
            "gateway",
            "start",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--space-config")
        .arg(dir.join("space.yaml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mew gateway start");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.split("listening on port").nth(1) {
                    let digits: String = rest
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if let Ok(p) = digits.parse::<u16>() {
                        let _ = tx.send(p);
                        sent = true;
                    }
                }
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(p) => Some((child, p)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

/// Poll `f` until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Lines of a file that parse as JSON.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
