//! `mew client connect` against the real gateway: output log lines, FIFO input, reconnect after a
//! gateway restart, prompt exit on SIGTERM.
#[path = "common/gateway_proc.rs"]
mod gateway_proc;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway_proc::{json_lines, mew_exe, terminate, unique, wait_for, GatewayProc};
use serde_json::Value;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(gw: &GatewayProc, space: &str, id: &str, extra: &[&str]) -> Proc {
    let child = Command::new(mew_exe())
        .args([
            "client",
            "connect",
            "--gateway",
            &gw.url(),
            "--space",
            space,
        ])
        .args(["--participant-id", id])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mew client connect");
    Proc(child)
}

/// The clients join without tokens: anonymous participants, which the space must allow.
fn space_yaml(space: &str) -> String {
    format!("space:\n  id: {space}\n  name: {space}\n  allow_anonymous_joins: true\n")
}

/// Wait until `path` holds a JSON line satisfying `pred`.
fn wait_line(path: &Path, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    wait_for(limit, || json_lines(path).into_iter().find(|v| pred(v)))
}

fn is_welcome(v: &Value) -> bool {
    v["kind"] == "system/welcome"
}

fn send_via_fifo(fifo: &Path, line: &str) {
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .expect("open fifo for writing");
    writeln!(w, "{line}").expect("write fifo");
}

#[test]
fn output_log_gets_one_compact_line_per_received_envelope() {
    let space = unique("cc-out");
    let gw = GatewayProc::start(&space_yaml(&space));
    let watcher_log = gw.path("logs/watcher.log");
    let fifo = gw.path("fifos/sender-in");
    std::fs::create_dir_all(gw.path("fifos")).expect("mkdir");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");

    let watcher_log_s = watcher_log.to_string_lossy().to_string();
    let _watcher = connect(&gw, &space, "watcher", &["--output-log", &watcher_log_s]);
    wait_line(&watcher_log, Duration::from_secs(10), is_welcome).expect("watcher welcome");

    let fifo_s = fifo.to_string_lossy().to_string();
    let _sender = connect(&gw, &space, "sender", &["--fifo-in", &fifo_s]);
    wait_line(&watcher_log, Duration::from_secs(10), |v| {
        v["kind"] == "system/presence" && v["payload"]["participant"]["id"] == "sender"
    })
    .expect("presence of the sender");

    send_via_fifo(
        &fifo,
        r#"{"kind":"chat","id":"cc-msg-1","correlation_id":"x-1","payload":{"text":"hello / ünïcode"}}"#,
    );
    let got = wait_line(&watcher_log, Duration::from_secs(10), |v| {
        v["id"] == "cc-msg-1"
    })
    .expect("chat reached the output log");
    assert_eq!(got["from"], "sender");
    assert_eq!(got["payload"]["text"], "hello / ünïcode");

    // Lines are compact JSON (tests grep for fragments), one per message, UTF-8 raw.
    let raw = std::fs::read_to_string(&watcher_log).expect("read");
    let line = raw
        .lines()
        .find(|l| l.contains("cc-msg-1"))
        .expect("raw line");
    assert!(line.contains(r#""correlation_id":["x-1"]"#), "{line}");
    assert!(line.contains(r#""text":"hello / ünïcode""#), "{line}");
    assert!(!line.contains(": "), "not compact: {line}");
    assert!(raw
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn reconnects_and_rejoins_after_gateway_restart() {
    let space = unique("cc-restart");
    let mut gw = GatewayProc::start(&space_yaml(&space));
    let log = gw.path("logs/client.log");
    let log_s = log.to_string_lossy().to_string();
    let _client = connect(&gw, &space, "survivor", &["--output-log", &log_s]);
    wait_line(&log, Duration::from_secs(10), is_welcome).expect("first welcome");

    gw.restart();
    // A second welcome means the client rejoined the new gateway by itself.
    let rejoined = wait_for(Duration::from_secs(10), || {
        let n = json_lines(&log).iter().filter(|v| is_welcome(v)).count();
        (n >= 2).then_some(n)
    });
    assert!(rejoined.is_some(), "no welcome after restart");

    // And it receives traffic on the new connection.
    let fifo = gw.path("in.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let fifo_s = fifo.to_string_lossy().to_string();
    let _sender = connect(&gw, &space, "poster", &["--fifo-in", &fifo_s]);
    send_via_fifo(
        &fifo,
        r#"{"kind":"chat","id":"after-restart","payload":{"text":"still there?"}}"#,
    );
    wait_line(&log, Duration::from_secs(10), |v| {
        v["id"] == "after-restart"
    })
    .expect("message after restart");
}

#[test]
fn starts_before_the_gateway_and_connects_when_it_comes_up() {
    let space = unique("cc-early");
    let mut gw = GatewayProc::start(&space_yaml(&space));
    gw.stop();
    let log = gw.path("early.log");
    let log_s = log.to_string_lossy().to_string();
    let _client = connect(&gw, &space, "early", &["--output-log", &log_s]);
    std::thread::sleep(Duration::from_millis(700));
    gw.restart();
    wait_line(&log, Duration::from_secs(10), is_welcome).expect("welcome once the gateway is up");
}

#[test]
fn sigterm_exits_zero_promptly() {
    let space = unique("cc-term");
    let gw = GatewayProc::start(&space_yaml(&space));
    let log = gw.path("t.log");
    let log_s = log.to_string_lossy().to_string();
    let mut client = connect(&gw, &space, "quitter", &["--output-log", &log_s]);
    wait_line(&log, Duration::from_secs(10), is_welcome).expect("welcome");
    let start = Instant::now();
    terminate(&mut client.0);
    let status = client.0.wait().expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_gateway_url_is_invalid_input() {
    let out = Command::new(mew_exe())
        .args(["client", "connect", "--gateway", "ftp://x", "--space", "s"])
        .args(["--output-log", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn interactive_mode_on_a_terminal() {
    use std::io::Read;
    use std::os::fd::OwnedFd;

    let space = unique("cc-tty");
    let gw = GatewayProc::start(&space_yaml(&space));
    let watcher_log = gw.path("watcher.log");
    let watcher_log_s = watcher_log.to_string_lossy().to_string();
    let _watcher = connect(&gw, &space, "watcher", &["--output-log", &watcher_log_s]);
    wait_line(&watcher_log, Duration::from_secs(10), is_welcome).expect("watcher welcome");

    // A pseudo-terminal as stdin makes the client interactive.
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut master = std::fs::File::from(pty.master);
    let mut child = Command::new(mew_exe())
        .args([
            "client",
            "connect",
            "--gateway",
            &gw.url(),
            "--space",
            &space,
        ])
        .args(["--participant-id", "tty-user"])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn interactive client");
    let mut stdout = child.stdout.take().expect("stdout");
    let guard = Proc(child);
    wait_line(&watcher_log, Duration::from_secs(10), |v| {
        v["kind"] == "system/presence" && v["payload"]["participant"]["id"] == "tty-user"
    })
    .expect("tty-user joined");

    writeln!(master, "hello from a terminal").expect("type");
    let chat = wait_line(&watcher_log, Duration::from_secs(10), |v| {
        v["from"] == "tty-user" && v["kind"] == "chat"
    })
    .expect("plain text went out as chat");
    assert_eq!(chat["payload"]["text"], "hello from a terminal");

    writeln!(
        master,
        r#"{{"kind":"chat","id":"tty-json","payload":{{"text":"as json"}}}}"#
    )
    .expect("type");
    wait_line(&watcher_log, Duration::from_secs(10), |v| {
        v["id"] == "tty-json"
    })
    .expect("JSON line went out as an envelope");

    writeln!(master, "/exit").expect("type");
    let mut guard = guard;
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = guard.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "/exit did not end the client");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut shown = String::new();
    stdout.read_to_string(&mut shown).expect("read stdout");
    // Received messages are shown readably, not as JSON.
    assert!(shown.contains("tty-user: hello from a terminal"), "{shown}");
    assert!(shown.contains("tty-user: as json"), "{shown}");
}

#[test]
fn fifo_out_receives_lines_when_a_reader_is_attached() {
    use std::io::BufRead;

    let space = unique("cc-fifo-out");
    let gw = GatewayProc::start(&space_yaml(&space));
    let out = gw.path("client-out");
    nix::unistd::mkfifo(&out, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let out_s = out.to_string_lossy().to_string();
    let _client = connect(&gw, &space, "piped", &["--fifo-out", &out_s]);
    // Opening the read end blocks until the client opens the write end for its first line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(f) = std::fs::File::open(&out) else {
            return;
        };
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a line on the FIFO");
    let v: Value = serde_json::from_str(&first).expect("JSON line");
    assert_eq!(v["kind"], "system/welcome");
    assert_eq!(v["payload"]["you"]["id"], "piped");
}
