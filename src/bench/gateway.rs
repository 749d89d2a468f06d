//! `mew bench gateway`: fan-out throughput and latency of a MEW gateway.
//!
//! One sender and N receivers join one space over loopback. The sender sends M chat envelopes
//! (paced at R per second, or as fast as possible) carrying a send timestamp; every receiver
//! records when each arrives. The gateway relays each message to everyone, so a run is M × N
//! deliveries to receivers. When the benchmark starts the gateway itself it also reads its idle
//! RSS from /proc. The same load can run against a peer gateway started by a command.
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use thiserror::Error;
use tokio::sync::mpsc;

use super::stats::{cpu_time, quantile, rss_kib};
use mew_client::{Event, Participant, ParticipantOptions};
use mew_protocol::envelope;

#[derive(Debug, Clone)]
pub(crate) struct LoadOptions {
    pub(crate) receivers: usize,
    pub(crate) messages: usize,
    /// Messages per second; 0 = as fast as possible.
    pub(crate) rate: f64,
    /// How long to wait for stragglers after the last send.
    pub(crate) drain_timeout: Duration,
}

/// Which gateway to measure.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// An already running gateway.
    Url(String),
    /// Start `mew gateway start` from this executable on a free loopback port.
    SpawnMew { exe: PathBuf },
    /// Start a peer gateway: a shell command in which `{port}` is replaced by a free port.
    PeerCommand(String),
}

#[derive(Debug, Error)]
pub(crate) enum BenchError {
    #[error("cannot create the benchmark directory {path}: {source}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the gateway `{what}`: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the gateway `{0}` did not start listening within 20 s")]
    NotListening(String),
    #[error(
        "only {joined} of {expected} participants joined within 10 s; is the gateway at {url} up, and does its space allow anonymous joins (space.allow_anonymous_joins: true)?"
    )]
    JoinTimeout {
        joined: usize,
        expected: usize,
        url: String,
    },
    #[error("no free loopback port: {0}")]
    Port(#[source] std::io::Error),
}

/// Results of one load run against one gateway.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) label: String,
    pub(crate) url: String,
    pub(crate) expected: usize,
    pub(crate) delivered: usize,
    pub(crate) elapsed: Duration,
    /// Latency samples in microseconds, sorted.
    pub(crate) latencies_us: Vec<u64>,
    /// (idle RSS, RSS after the run, peak RSS) in KiB, when the process is ours.
    pub(crate) rss_kib: Option<(u64, u64, u64)>,
    /// CPU time used from the first send to the end of collection: (gateway, when the process
    /// is ours; this load generator, all its threads).
    pub(crate) cpu: (Option<Duration>, Option<Duration>),
    /// Gateway CPU time for the whole run: joins, sends, and until 0.5 s after the last
    /// delivery, so work the gateway defers (its log writer) is counted too.
    pub(crate) gateway_cpu_total: Option<Duration>,
}

impl Report {
    pub(crate) fn deliveries_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.delivered as f64 / secs
        } else {
            0.0
        }
    }

    pub(crate) fn p50_us(&self) -> Option<u64> {
        quantile(&self.latencies_us, 0.50)
    }

    pub(crate) fn p99_us(&self) -> Option<u64> {
        quantile(&self.latencies_us, 0.99)
    }
}

fn ms(us: Option<u64>) -> String {
    us.map(|v| format!("{:.2} ms", v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.label, self.url)?;
        writeln!(
            f,
            "  deliveries     {} / {} in {:.3} s",
            self.delivered,
            self.expected,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  throughput     {:.0} deliveries/s",
            self.deliveries_per_sec()
        )?;
        writeln!(
            f,
            "  latency        p50 {}  p99 {}  max {}",
            ms(self.p50_us()),
            ms(self.p99_us()),
            ms(self.latencies_us.last().copied())
        )?;
        let share = |d: Duration| {
            let secs = self.elapsed.as_secs_f64();
            if secs > 0.0 {
                format!(
                    "{:.2} s ({:.0}% of one core)",
                    d.as_secs_f64(),
                    100.0 * d.as_secs_f64() / secs
                )
            } else {
                format!("{:.2} s", d.as_secs_f64())
            }
        };
        let cpu = |d: Option<Duration>| d.map(share).unwrap_or_else(|| "n/a".into());
        writeln!(
            f,
            "  CPU in run     gateway {}, load generator {}",
            cpu(self.cpu.0),
            cpu(self.cpu.1)
        )?;
        if let Some(total) = self.gateway_cpu_total {
            writeln!(
                f,
                "  gateway CPU    {:.2} s for the whole run (joins to 0.5 s after the last delivery)",
                total.as_secs_f64()
            )?;
        }
        match self.rss_kib {
            Some((idle, after, peak)) => write!(
                f,
                "  gateway RSS    idle {:.1} MiB, after run {:.1} MiB, peak {:.1} MiB",
                idle as f64 / 1024.0,
                after as f64 / 1024.0,
                peak as f64 / 1024.0
            ),
            None => write!(f, "  gateway RSS    n/a (not started by the benchmark)"),
        }
    }
}

/// A gateway process started by the benchmark; stopped (SIGTERM, then kill) on drop.
pub(super) struct Spawned {
    pub(super) child: Child,
    dir: Option<PathBuf>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(BenchError::Port)?;
    Ok(l.local_addr().map_err(BenchError::Port)?.port())
}

pub(super) fn space_id() -> String {
    format!("bench-{:08x}", rand::random::<u32>())
}

/// Start mew's gateway on a free port with both JSONL logs on; returns it and its URL.
fn spawn_mew(exe: &PathBuf, space: &str) -> Result<(Spawned, String), BenchError> {
    spawn_mew_with(exe, space, "")
}

/// `spawn_mew` with more space.yaml text (a `participants:` section, say) appended.
pub(super) fn spawn_mew_with(
    exe: &PathBuf,
    space: &str,
    extra_yaml: &str,
) -> Result<(Spawned, String), BenchError> {
    let dir = std::env::temp_dir().join(format!("mew-{space}"));
    let work_dir = |source| BenchError::WorkDir {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(work_dir)?;
    let config = dir.join("space.yaml");
    // The load participants join without tokens, as anonymous participants.
    let yaml = format!(
        "space:\n  id: {space}\n  name: {space}\n  allow_anonymous_joins: true\n\
         gateway_logging:\n  enabled: true\n  envelope_history:\n    enabled: true\n  \
         capability_decisions:\n    enabled: true\n{extra_yaml}"
    );
    std::fs::write(&config, yaml).map_err(work_dir)?;
    let what = format!("{} gateway start", exe.display());
    let mut child = Command::new(exe)
        .args(["gateway", "start", "--port", "0", "--bind", "127.0.0.1"])
        .arg("--space-config")
        .arg(&config)
        .current_dir(&dir)
        .env("GATEWAY_LOGGING", "true")
        .env("ENVELOPE_HISTORY", "true")
        .env("CAPABILITY_DECISIONS", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: what.clone(),
            source,
        })?;
    let stdout = child.stdout.take();
    let spawned = Spawned {
        child,
        dir: Some(dir),
    };
    // Read the announced port, then keep draining stdout so the gateway never blocks on it.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(out) = stdout {
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(port) = parse_listening_port(&line) {
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
            }
        });
    }
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| BenchError::NotListening(what))?;
    Ok((spawned, format!("ws://127.0.0.1:{port}")))
}

/// The port from the gateway's `Gateway listening on port <n>` line.
pub(crate) fn parse_listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on port").nth(1)?;
    rest.trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Start a peer gateway from a shell command with `{port}` substituted; wait until it accepts.
fn spawn_peer(cmd: &str) -> Result<(Spawned, String), BenchError> {
    let port = free_port()?;
    let line = cmd.replace("{port}", &port.to_string());
    // `exec` so the pid we measure is the gateway, not the shell.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {line}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: line.clone(),
            source,
        })?;
    let spawned = Spawned { child, dir: None };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(BenchError::NotListening(line));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((spawned, format!("ws://127.0.0.1:{port}")))
}

/// Run the load against one target.
pub(crate) async fn run(target: Target, load: &LoadOptions) -> Result<Report, BenchError> {
    let space = space_id();
    let (spawned, url, label) = match &target {
        Target::Url(url) => (None, url.clone(), "gateway".to_string()),
        Target::SpawnMew { exe } => {
            let (s, url) = spawn_mew(exe, &space)?;
            (Some(s), url, "mew gateway".to_string())
        }
        Target::PeerCommand(cmd) => {
            let (s, url) = spawn_peer(cmd)?;
            (Some(s), url, format!("peer: {cmd}"))
        }
    };
    let pid = spawned.as_ref().map(|s| s.child.id());
    if pid.is_some() {
        // Let start-up allocations settle before calling it idle.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let idle = pid.and_then(rss_kib).map(|(rss, _)| rss);
    let cpu_start = pid.and_then(cpu_time);
    let mut report = drive(&url, &space, load, pid).await?;
    report.label = label;
    if let (Some(pid), Some(before)) = (pid, cpu_start) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        report.gateway_cpu_total = cpu_time(pid).map(|after| after.saturating_sub(before));
    }
    if let (Some(pid), Some(idle)) = (pid, idle) {
        if let Some((after, peak)) = rss_kib(pid) {
            report.rss_kib = Some((idle, after, peak));
        }
    }
    drop(spawned);
    Ok(report)
}

/// Connect everyone, send, collect.
async fn drive(
    url: &str,
    space: &str,
    load: &LoadOptions,
    gateway_pid: Option<u32>,
) -> Result<Report, BenchError> {
    let epoch = Arc::new(Instant::now());
    let options = |id: String| ParticipantOptions {
        gateway: url.to_string(),
        space: space.to_string(),
        participant_id: id,
        token: None,
    };
    let (welcome_tx, mut welcome_rx) = mpsc::unbounded_channel::<()>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Vec<u64>>();
    let mut receivers = Vec::new();
    for i in 0..load.receivers {
        let p = Participant::spawn(options(format!("bench-recv-{i}")));
        let (welcome, done, epoch) = (welcome_tx.clone(), done_tx.clone(), epoch.clone());
        let expected = load.messages;
        receivers.push(tokio::spawn(receive(p, expected, epoch, welcome, done)));
    }
    let mut sender = Participant::spawn(options("bench-sender".into()));
    let out = sender.sender();
    // The sender's own copies are not counted, but its welcome is awaited like the others'.
    let sender_welcome = welcome_tx.clone();
    let sender_task = tokio::spawn(async move {
        while let Some(ev) = sender.next_event().await {
            if let Event::Envelope(env) = ev {
                if envelope::kind(&env) == Some("system/welcome") {
                    let _ = sender_welcome.send(());
                }
            }
        }
    });
    drop((welcome_tx, done_tx));

    let expected_joins = load.receivers + 1;
    let mut joined = 0;
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while joined < expected_joins {
        match tokio::time::timeout_at(join_deadline, welcome_rx.recv()).await {
            Ok(Some(())) => joined += 1,
            _ => {
                for r in &receivers {
                    r.abort();
                }
                sender_task.abort();
                return Err(BenchError::JoinTimeout {
                    joined,
                    expected: expected_joins,
                    url: url.to_string(),
                });
            }
        }
    }
    // Presence notices of the last joins are still in flight; let them pass.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let own_pid = std::process::id();
    let cpu_before = (gateway_pid.and_then(cpu_time), cpu_time(own_pid));
    let start = Instant::now();
    let interval = (load.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / load.rate));
    for seq in 0..load.messages {
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(seq as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let sent_us = epoch.elapsed().as_micros() as u64;
        let env = envelope::build(
            "bench-sender",
            "chat",
            &[],
            &[],
            json!({ "text": format!("bench {seq}"), "bench": { "seq": seq, "sent_us": sent_us } }),
        );
        out.send(&env);
    }

    let mut latencies = Vec::with_capacity(load.messages * load.receivers);
    let mut finished = 0;
    let mut last_delivery = start;
    // Receivers report when they have everything; the deadline bounds a lossy run.
    let deadline = tokio::time::Instant::now() + load.drain_timeout;
    while finished < load.receivers {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(mut samples)) => {
                finished += 1;
                latencies.append(&mut samples);
                last_delivery = Instant::now();
            }
            _ => break,
        }
    }
    let used = |before: Option<Duration>, pid: Option<u32>| {
        Some(pid.and_then(cpu_time)?.saturating_sub(before?))
    };
    let cpu = (
        used(cpu_before.0, gateway_pid),
        used(cpu_before.1, Some(own_pid)),
    );
    for r in &receivers {
        r.abort();
    }
    // Receivers that timed out still hold their samples: collect what they had.
    for r in receivers {
        let _ = r.await;
    }
    while let Ok(mut samples) = done_rx.try_recv() {
        latencies.append(&mut samples);
    }
    sender_task.abort();
    latencies.sort_unstable();
    let delivered = latencies.len();
    Ok(Report {
        label: String::new(),
        url: url.to_string(),
        expected: load.messages * load.receivers,
        delivered,
        elapsed: last_delivery.duration_since(start),
        latencies_us: latencies,
        rss_kib: None,
        cpu,
        gateway_cpu_total: None,
    })
}

/// One receiver: signal its welcome, record latencies, report them when complete (or when
/// aborted, through the guard).
async fn receive(
    mut p: Participant,
    expected: usize,
    epoch: Arc<Instant>,
    welcome: mpsc::UnboundedSender<()>,
    done: mpsc::UnboundedSender<Vec<u64>>,
) {
    struct Report(Vec<u64>, mpsc::UnboundedSender<Vec<u64>>);
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send(std::mem::take(&mut self.0));
        }
    }
    let mut samples = Report(Vec::with_capacity(expected), done);
    while let Some(ev) = p.next_event().await {
        let Event::Envelope(env) = ev else { continue };
        if let Some(sent) = env
            .pointer("/payload/bench/sent_us")
            .and_then(Value::as_u64)
        {
            let now = epoch.elapsed().as_micros() as u64;
            samples.0.push(now.saturating_sub(sent));
            if samples.0.len() >= expected {
                break;
            }
        } else if envelope::kind(&env) == Some("system/welcome") {
            let _ = welcome.send(());
        }
    }
    drop(samples);
    p.close().await;
}

/// Side-by-side summary with ratios (mew / peer).
pub(crate) fn comparison(mew: &Report, peer: &Report) -> String {
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}×", a / b)
        } else {
            "-".into()
        }
    };
    let lat = |r: &Report, q: fn(&Report) -> Option<u64>| q(r).map(|v| v as f64).unwrap_or(0.0);
    let mut s = String::from("comparison (mew ÷ peer)\n");
    s += &format!(
        "  throughput     {}  (higher is better)\n",
        ratio(mew.deliveries_per_sec(), peer.deliveries_per_sec())
    );
    s += &format!(
        "  p50 latency    {}  (lower is better)\n",
        ratio(lat(mew, Report::p50_us), lat(peer, Report::p50_us))
    );
    s += &format!(
        "  p99 latency    {}  (lower is better)",
        ratio(lat(mew, Report::p99_us), lat(peer, Report::p99_us))
    );
    if let (Some((a, a_after, _)), Some((b, b_after, _))) = (mew.rss_kib, peer.rss_kib) {
        s += &format!(
            "\n  idle RSS       {}  (lower is better)",
            ratio(a as f64, b as f64)
        );
        s += &format!(
            "\n  RSS after run  {}  (lower is better)",
            ratio(a_after as f64, b_after as f64)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        assert_eq!(
            parse_listening_port("Gateway listening on port 43121"),
            Some(43121)
        );
        assert_eq!(
            parse_listening_port("[x] Gateway listening on port 8080 (space demo)"),
            Some(8080)
        );
        assert_eq!(parse_listening_port("starting"), None);
    }

    fn report(dps: f64, p50: u64) -> Report {
        Report {
            label: "x".into(),
            url: "ws://x".into(),
            expected: 1,
            delivered: dps as usize,
            elapsed: Duration::from_secs(1),
            latencies_us: vec![p50],
            rss_kib: Some((2048, 4096, 4096)),
            cpu: (Some(Duration::from_millis(500)), None),
            gateway_cpu_total: None,
        }
    }

    #[test]
    fn report_and_ratios_render() {
        let a = report(2000.0, 500);
        let b = report(1000.0, 1000);
        let text = a.to_string();
        assert!(text.contains("2000 deliveries/s"), "{text}");
        assert!(text.contains("p50 0.50 ms"), "{text}");
        assert!(text.contains("idle 2.0 MiB"), "{text}");
        assert!(text.contains("gateway 0.50 s (50% of one core)"), "{text}");
        let cmp = comparison(&a, &b);
        assert!(cmp.contains("throughput     2.00×"), "{cmp}");
        assert!(cmp.contains("p50 latency    0.50×"), "{cmp}");
    }
}
