//! `mew supervise`: exit codes, signal forwarding, log tee, orphan reaping.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn mew() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mew"))
}

/// Kills the supervisor if a test fails half-way.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "supervisor did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exit_code_is_propagated() {
    let status = mew()
        .args(["supervise", "--", "sh", "-c", "exit 7"])
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(7));
    let status = mew()
        .args(["supervise", "--", "true"])
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn missing_command_exits_127_with_one_line() {
    let out = mew()
        .args(["supervise", "--", "/nonexistent/mew-no-such-cmd", "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.contains("command not found"), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

fn spawn_and_wait_ready(script: &str) -> (Guard, BufReader<std::process::ChildStdout>) {
    let mut child = mew()
        .args(["supervise", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line.trim(), "ready");
    (Guard(child), out)
}

#[test]
fn sigterm_is_forwarded_and_trap_exit_code_returned() {
    let (mut guard, _out) =
        spawn_and_wait_ready("trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done");
    kill(Pid::from_raw(guard.0.id() as i32), Signal::SIGTERM).expect("kill");
    let status = wait_with_timeout(&mut guard.0, Duration::from_secs(5));
    assert_eq!(status.code(), Some(42));
}

#[test]
fn child_killed_by_signal_gives_128_plus_signal() {
    // `exec` makes the shell itself the long-running process, with the default SIGUSR1 action.
    let (mut guard, _out) = spawn_and_wait_ready("echo ready; exec sleep 30");
    kill(Pid::from_raw(guard.0.id() as i32), Signal::SIGUSR1).expect("kill");
    let status = wait_with_timeout(&mut guard.0, Duration::from_secs(5));
    assert_eq!(status.code(), Some(128 + Signal::SIGUSR1 as i32));
}

#[test]
fn output_is_copied_and_appended_to_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logs/nested/agent.log");
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    std::fs::write(&log, "before\n").expect("seed log");
    let out = mew()
        .args(["supervise", "--log"])
        .arg(&log)
        .args([
            "--",
            "sh",
            "-c",
            "echo out1; echo err1 >&2; echo out2; printf 'partial'",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out1\nout2\npartial");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err1\n");
    let content = std::fs::read_to_string(&log).expect("read log");
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines[0], "before");
    for want in ["out1", "err1", "out2", "partial"] {
        assert!(lines.contains(&want), "missing {want} in {content:?}");
    }
    assert_eq!(lines.len(), 5, "{content:?}");
}

#[test]
fn log_parent_directories_are_created_and_truncation_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a/b/c.log");
    let mut child = mew()
        .args(["supervise", "--log"])
        .arg(&log)
        .args(["--", "sh", "-c", "echo first; read _; echo second"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let guard = Guard(child);
    let start = Instant::now();
    while std::fs::read_to_string(&log).unwrap_or_default() != "first\n" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "first line never logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What a test does with `: > file`.
    std::fs::File::create(&log).expect("truncate");
    use std::io::Write;
    stdin.write_all(b"go\n").expect("write stdin");
    drop(stdin);
    let mut guard = guard;
    let status = wait_with_timeout(&mut guard.0, Duration::from_secs(5));
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&log).expect("read"), "second\n");
}

fn ppid_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn state_of(pid: i32) -> Option<char> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|v| v.trim().chars().next())
}

#[test]
fn orphans_are_adopted_and_reaped() {
    // The inner shell starts a short sleep in the background and exits at once: the sleep is
    // orphaned while the main command keeps running.
    let (mut guard, mut out) =
        spawn_and_wait_ready("echo ready; sh -c 'sleep 0.3 & echo $!'; sleep 3");
    let supervisor = guard.0.id() as i32;
    let mut line = String::new();
    out.read_line(&mut line).expect("read grandchild pid");
    let orphan: i32 = line.trim().parse().expect("pid");
    // It must be re-parented to the supervisor ...
    let start = Instant::now();
    loop {
        match ppid_of(orphan) {
            Some(p) if p == supervisor => break,
            Some(_) => {}
            None => panic!("orphan {orphan} vanished before it was seen re-parented"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "orphan never re-parented"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // ... and, once it exits, reaped (not left as a zombie) while the main command still runs.
    let start = Instant::now();
    while let Some(state) = state_of(orphan) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "orphan {orphan} still present in state {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        guard.0.try_wait().expect("try_wait").is_none(),
        "main command ended early"
    );
    kill(Pid::from_raw(supervisor), Signal::SIGTERM).expect("kill");
    let status = wait_with_timeout(&mut guard.0, Duration::from_secs(5));
    assert_eq!(status.code(), Some(143));
}

/// Exported spaces mount the token as a file (MEW_TOKEN_FILE here stands in for
/// /run/secrets/mew-token): the supervised program, in any language, finds it in MEW_TOKEN; a
/// MEW_TOKEN that is set wins.
#[test]
fn token_file_reaches_the_command_as_mew_token() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mew-token");
    std::fs::write(&file, "tok-from-file\n").unwrap();
    let run = |env_token: Option<&str>| {
        let mut cmd = mew();
        cmd.args(["supervise", "--", "sh", "-c", "printf '%s' \"$MEW_TOKEN\""])
            .env("MEW_TOKEN_FILE", &file)
            .env_remove("MEW_TOKEN");
        if let Some(t) = env_token {
            cmd.env("MEW_TOKEN", t);
        }
        let out = cmd.output().expect("run mew supervise");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(None), "tok-from-file");
    assert_eq!(run(Some("tok-from-env")), "tok-from-env");
}

/// Under `mew space up` the token is only in the mounted file, and `${TOKEN}` in space.yaml's
/// args and env reaches the container as a placeholder: the supervised program gets the token in
/// MEW_TOKEN, MEW_TOKEN_<ID> and in place of the placeholder, in its args and its env.
#[test]
fn token_file_fills_mew_token_id_and_the_token_placeholder() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mew-token");
    std::fs::write(&file, "tok-from-file\n").unwrap();
    let ph = mew_space::tokens::TOKEN_PLACEHOLDER;
    let out = mew()
        .args([
            "supervise",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s|%s' \"$MEW_TOKEN\" \"$MEW_TOKEN_ECHO_AGENT\" \"$1\" \"$SELF\"",
            "sh",
            &format!("--token={ph}"),
        ])
        .env("MEW_TOKEN_FILE", &file)
        .env("MEW_PARTICIPANT_ID", "echo-agent")
        .env("SELF", format!("Bearer {ph}"))
        .env_remove("MEW_TOKEN")
        .env_remove("MEW_TOKEN_ECHO_AGENT")
        .output()
        .expect("run mew supervise");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "tok-from-file|tok-from-file|--token=tok-from-file|Bearer tok-from-file"
    );
}
