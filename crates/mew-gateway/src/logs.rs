//! The two JSONL logs (spec/gateway.md §6) and the console (§7.1).
//!
//! Records are built by string concatenation around the already-serialised envelope (no second
//! serialisation) and written by one dedicated thread, so routing never waits on the disk. The
//! thread writes as soon as its queue runs empty: records batch only while more are waiting
//! (under load), and an idle gateway has each record in the file (written, not fsynced) at once,
//! as upstream's gateway does. HTTP answers wait for that (`LogSink::written`), so a caller that
//! posts and then reads the log finds its records.
use mew_space::config::lenient::LoggingSwitches;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// Longest an HTTP answer waits for the log writer (a stalled disk must not stall the API).
const WRITTEN_WAIT: Duration = Duration::from_millis(200);

enum Line {
    Envelope(String),
    Decision(String),
    /// Write out what is queued and end the thread.
    Stop,
}

impl Line {
    fn weight(&self) -> usize {
        match self {
            Line::Envelope(s) | Line::Decision(s) => s.len(),
            Line::Stop => 0,
        }
    }
}

/// Which logs are on, after the yaml switches and the environment overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSwitches {
    pub envelope_history: bool,
    pub capability_decisions: bool,
}

impl LogSwitches {
    pub fn resolve(yaml: LoggingSwitches, env: impl Fn(&str) -> Option<String>) -> LogSwitches {
        let parse = |name: &str| env(name).and_then(|v| parse_bool(&v));
        let master = parse("GATEWAY_LOGGING").or(yaml.enabled).unwrap_or(true);
        let envelope = parse("ENVELOPE_HISTORY")
            .or(yaml.envelope_history)
            .unwrap_or(true);
        let decisions = parse("CAPABILITY_DECISIONS")
            .or(yaml.capability_decisions)
            .unwrap_or(true);
        LogSwitches {
            envelope_history: master && envelope,
            capability_decisions: master && decisions,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Bytes of records sent to the writer thread and not yet written, bounded by
/// `limits::LOG_QUEUE_BYTES`: a sender over the bound waits for the writer (each record carries
/// a whole envelope, so an unbounded queue would hold every big message again).
#[derive(Default)]
struct Backlog {
    bytes: Mutex<usize>,
    drained: std::sync::Condvar,
}

impl Backlog {
    /// Wait (up to `LOG_WAIT`) for room; false when the writer did not make any.
    fn reserve(&self, n: usize) -> bool {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + LOG_WAIT;
        while *bytes > 0 && *bytes + n > super::limits::LOG_QUEUE_BYTES {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            bytes = self
                .drained
                .wait_timeout(bytes, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *bytes += n;
        true
    }

    fn add(&self, n: usize) {
        *self.bytes.lock().unwrap_or_else(|e| e.into_inner()) += n;
    }

    fn release(&self, n: usize) {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        *bytes = bytes.saturating_sub(n);
        self.drained.notify_all();
    }
}

/// Longest a router waits for the log writer before dropping a record (a stuck disk must not
/// stop routing).
const LOG_WAIT: Duration = Duration::from_secs(1);

/// Handle used by routing to emit records. Cheap: a channel send per record.
pub struct LogSink {
    tx: Option<mpsc::Sender<Line>>,
    backlog: std::sync::Arc<Backlog>,
    dropped: std::sync::atomic::AtomicBool,
    pub switches: LogSwitches,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Records handed to the writer so far.
    queued: AtomicU64,
    /// Records the writer has written out so far (it publishes after each flush).
    written: tokio::sync::watch::Receiver<u64>,
}

impl LogSink {
    /// Open `dir` (`<mew_dir>/logs/`, only if a log is on) and start the writer thread.
    pub fn start(dir: &Path, switches: LogSwitches, console: &Console) -> LogSink {
        let (written_tx, written) = tokio::sync::watch::channel(0u64);
        let none = LogSink {
            tx: None,
            backlog: Default::default(),
            dropped: Default::default(),
            switches: LogSwitches {
                envelope_history: false,
                capability_decisions: false,
            },
            thread: Mutex::new(None),
            queued: AtomicU64::new(0),
            written: written.clone(),
        };
        if !switches.envelope_history && !switches.capability_decisions {
            return none;
        }
        if let Err(e) = prepare_dir(dir) {
            console.warn(&format!(
                "Cannot create log directory {}: {e}",
                dir.display()
            ));
            return none;
        }
        let open = |on: bool, name: &str| -> Option<BufWriter<File>> {
            if !on {
                return None;
            }
            let path = dir.join(name);
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => Some(BufWriter::with_capacity(256 * 1024, f)),
                Err(e) => {
                    console.warn(&format!("Cannot open {}: {e}", path.display()));
                    None
                }
            }
        };
        let envelope = open(switches.envelope_history, "envelope-history.jsonl");
        let decisions = open(switches.capability_decisions, "capability-decisions.jsonl");
        let switches = LogSwitches {
            envelope_history: envelope.is_some(),
            capability_decisions: decisions.is_some(),
        };
        let (tx, rx) = mpsc::channel();
        let backlog = std::sync::Arc::new(Backlog::default());
        let thread = std::thread::Builder::new()
            .name("mew-gateway-logs".into())
            .stack_size(64 * 1024)
            .spawn({
                let backlog = backlog.clone();
                move || writer_loop(rx, envelope, decisions, written_tx, &backlog)
            })
            .ok();
        LogSink {
            tx: thread.as_ref().map(|_| tx),
            backlog,
            dropped: Default::default(),
            switches,
            thread: Mutex::new(thread),
            queued: AtomicU64::new(0),
            written,
        }
    }

    pub fn envelope(&self, record: String) {
        if self.switches.envelope_history {
            self.send(Line::Envelope(record));
        }
    }

    pub fn decision(&self, record: String) {
        if self.switches.capability_decisions {
            self.send(Line::Decision(record));
        }
    }

    /// An envelope record of about `size` bytes, built only once there is room for it: a
    /// record holds a whole envelope, and each recipient of a broadcast gets one.
    pub fn envelope_sized(&self, size: usize, build: impl FnOnce() -> String) {
        if !self.switches.envelope_history || self.tx.is_none() {
            return;
        }
        if !self.backlog.reserve(size) {
            self.warn_dropped();
            return;
        }
        let line = Line::Envelope(build());
        // Settle the estimate against what was built.
        let built = line.weight();
        if built > size {
            self.backlog.add(built - size);
        } else {
            self.backlog.release(size - built);
        }
        self.send_reserved(line);
    }

    fn send(&self, line: Line) {
        if self.tx.is_none() {
            return;
        }
        if !self.backlog.reserve(line.weight()) {
            self.warn_dropped();
            return;
        }
        self.send_reserved(line);
    }

    fn send_reserved(&self, line: Line) {
        if let Some(tx) = &self.tx {
            let weight = line.weight();
            let record = !matches!(line, Line::Stop);
            if tx.send(line).is_err() {
                self.backlog.release(weight);
            } else if record {
                self.queued.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn warn_dropped(&self) {
        if !self
            .dropped
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            let _ = writeln!(
                std::io::stderr(),
                "warning: the gateway log writer is not keeping up; records are being dropped"
            );
        }
    }

    /// Resolves once every record queued before the call is written to its file (or after
    /// `WRITTEN_WAIT`). Immediate when the writer is caught up, the usual case.
    pub async fn written(&self) {
        let target = self.queued.load(Ordering::Acquire);
        if *self.written.borrow() >= target {
            return;
        }
        let mut rx = self.written.clone();
        let _ = tokio::time::timeout(WRITTEN_WAIT, rx.wait_for(|w| *w >= target)).await;
    }

    /// Flush and stop the writer thread.
    pub fn shutdown(&self) {
        self.send(Line::Stop);
        if let Some(handle) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = handle.join();
        }
    }
}

fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let gi = dir.join(".gitignore");
    if !gi.exists() {
        std::fs::write(gi, "*\n!.gitignore\n")?;
    }
    Ok(())
}

fn writer_loop(
    rx: mpsc::Receiver<Line>,
    mut envelope: Option<BufWriter<File>>,
    mut decisions: Option<BufWriter<File>>,
    written_tx: tokio::sync::watch::Sender<u64>,
    backlog: &Backlog,
) {
    let mut warned = false;
    let mut flush_all = |e: &mut Option<BufWriter<File>>, d: &mut Option<BufWriter<File>>| {
        for w in [e, d].into_iter().flatten() {
            if let Err(err) = w.flush() {
                if !warned {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: cannot write gateway log: {err}"
                    );
                    warned = true;
                }
            }
        }
    };
    let mut written: u64 = 0;
    // Block until there is work, take everything already waiting (a batch forms only while
    // records arrive faster than the disk takes them), then write it out when the queue is
    // empty: one write per batch under load, one per record when idle.
    while let Ok(first) = rx.recv() {
        let mut pending = Some(first);
        let mut open = true;
        loop {
            let line = match pending.take() {
                Some(l) => l,
                None => match rx.try_recv() {
                    Ok(l) => l,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                },
            };
            let weight = line.weight();
            match line {
                Line::Envelope(s) => write_line(&mut envelope, &s),
                Line::Decision(s) => write_line(&mut decisions, &s),
                Line::Stop => {
                    open = false;
                    continue;
                }
            }
            written += 1;
            backlog.release(weight);
        }
        flush_all(&mut envelope, &mut decisions);
        // Failed writes count too: waiters must not hang on a full disk (warned above).
        written_tx.send_replace(written);
        if !open {
            return;
        }
    }
    flush_all(&mut envelope, &mut decisions);
}

fn write_line(w: &mut Option<BufWriter<File>>, s: &str) {
    if let Some(w) = w {
        // Errors surface at flush time, where they are reported once.
        let _ = w.write_all(s.as_bytes());
        let _ = w.write_all(b"\n");
    }
}

/// A JSON string literal.
pub fn js(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// One envelope-history record. `id` and `metadata` are raw JSON (metadata omitted when empty).
#[allow(clippy::too_many_arguments)]
pub fn envelope_record(
    event: &str,
    id: Option<&str>,
    envelope: &str,
    participant: &str,
    space_id: &str,
    direction: &str,
    transport: &str,
    metadata: &str,
) -> String {
    let mut s = String::with_capacity(envelope.len() + 256);
    s.push_str("{\"timestamp\":\"");
    s.push_str(&mew_protocol::iso_now());
    s.push_str("\",\"event\":\"");
    s.push_str(event);
    s.push('"');
    if let Some(id) = id {
        s.push_str(",\"id\":");
        s.push_str(id);
    }
    s.push_str(",\"envelope\":");
    s.push_str(envelope);
    s.push_str(",\"participant\":");
    s.push_str(&js(participant));
    s.push_str(",\"space_id\":");
    s.push_str(&js(space_id));
    s.push_str(",\"direction\":\"");
    s.push_str(direction);
    s.push_str("\",\"transport\":\"");
    s.push_str(transport);
    s.push('"');
    if !metadata.is_empty() && metadata != "{}" {
        s.push_str(",\"metadata\":");
        s.push_str(metadata);
    }
    s.push('}');
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Info,
    Warn,
    Error,
}

/// Console output: stdout/stderr, plus `GATEWAY_LOG_FILE` when set. Lines are written by a
/// dedicated thread, so a stalled stdout pipe (a slow log driver) never blocks routing.
pub struct Console {
    level: u8,
    tx: Option<mpsc::Sender<ConsoleLine>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

enum ConsoleLine {
    Line(Stream, String),
    Stop,
}

impl Console {
    /// `level`: debug, info, warn or error (anything else means info).
    pub fn new(level: &str, log_file: Option<PathBuf>) -> Console {
        let level = match level.to_ascii_lowercase().as_str() {
            "debug" => 0,
            "warn" | "warning" => 2,
            "error" => 3,
            _ => 1,
        };
        let file = log_file.and_then(|p| {
            if let Some(parent) = p.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            OpenOptions::new().create(true).append(true).open(p).ok()
        });
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mew-gateway-console".into())
            .stack_size(64 * 1024)
            .spawn(move || console_loop(rx, file))
            .ok();
        Console {
            level,
            tx: thread.as_ref().map(|_| tx),
            thread: Mutex::new(thread),
        }
    }

    /// Whether `-l debug` is on (check before formatting per-message lines).
    pub fn debug_enabled(&self) -> bool {
        self.level == 0
    }
    pub fn debug(&self, line: &str) {
        if self.level == 0 {
            self.out(line, Stream::Info);
        }
    }
    pub fn info(&self, line: &str) {
        if self.level <= 1 {
            self.out(line, Stream::Info);
        }
    }
    /// Printed whatever the level (the listening line, which tools parse for the port).
    pub fn always(&self, line: &str) {
        self.out(line, Stream::Info);
    }
    pub fn warn(&self, line: &str) {
        if self.level <= 2 {
            self.out(line, Stream::Warn);
        }
    }
    pub fn error(&self, line: &str) {
        self.out(line, Stream::Error);
    }

    fn out(&self, line: &str, kind: Stream) {
        match &self.tx {
            Some(tx) => {
                let _ = tx.send(ConsoleLine::Line(kind, line.to_string()));
            }
            None => write_console(kind, line, &mut None),
        }
    }

    /// Write out pending lines (bounded wait) and stop the thread.
    pub fn shutdown(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ConsoleLine::Stop);
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = handle.join();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn console_loop(rx: mpsc::Receiver<ConsoleLine>, mut file: Option<File>) {
    while let Ok(ConsoleLine::Line(kind, line)) = rx.recv() {
        write_console(kind, &line, &mut file);
    }
}

fn write_console(kind: Stream, line: &str, file: &mut Option<File>) {
    // Write errors are ignored: a closed stdout must not bring the gateway down.
    let _ = match kind {
        Stream::Info => writeln!(std::io::stdout().lock(), "{line}"),
        _ => writeln!(std::io::stderr().lock(), "{line}"),
    };
    if let Some(f) = file {
        let prefix = if kind == Stream::Error { "ERROR: " } else { "" };
        let _ = writeln!(f, "[{}] {prefix}{line}", mew_protocol::iso_now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches() {
        let none = |_: &str| None;
        let all = LogSwitches::resolve(LoggingSwitches::default(), none);
        assert!(all.envelope_history && all.capability_decisions);
        let off = LogSwitches::resolve(LoggingSwitches::default(), |k: &str| {
            (k == "GATEWAY_LOGGING").then(|| " FALSE ".to_string())
        });
        assert!(!off.envelope_history && !off.capability_decisions);
        let yaml = LoggingSwitches {
            enabled: Some(false),
            ..Default::default()
        };
        let env_wins = LogSwitches::resolve(yaml, |k: &str| {
            (k == "GATEWAY_LOGGING").then(|| "on".to_string())
        });
        assert!(env_wins.envelope_history);
        let ignored = LogSwitches::resolve(yaml, |_: &str| Some("maybe".to_string()));
        assert!(!ignored.envelope_history);
        let env_off = LogSwitches::resolve(LoggingSwitches::default(), |k: &str| {
            (k == "ENVELOPE_HISTORY").then(|| "off".to_string())
        });
        assert!(!env_off.envelope_history && env_off.capability_decisions);
    }

    #[test]
    fn record_order_and_omission() {
        let r = envelope_record(
            "delivered",
            Some("\"m-1\""),
            r#"{"id":"m-1"}"#,
            "p",
            "s",
            "outbound",
            "websocket",
            "{}",
        );
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "event",
                "id",
                "envelope",
                "participant",
                "space_id",
                "direction",
                "transport"
            ]
        );
    }
}
