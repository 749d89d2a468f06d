//! `mew space connect` in a pseudo-terminal against a real gateway and a real calculator agent:
//! chat both ways, a proposal shown and approved (the calculator answers the approver), /exit.
mod common;

use common::gateway::{TestGateway, Ws};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SPACE: &str = "pty-space";
const YAML: &str = "space:\n  id: pty-space\n  default_participant: human\nparticipants:\n  \
    human:\n    capabilities: [{kind: \"*\"}]\n  \
    assistant:\n    capabilities: [{kind: chat}, {kind: mcp/proposal}]\n  \
    calculator:\n    capabilities: [{kind: mcp/response}]\n";

/// A child process killed when the test ends, however it ends.
struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The terminal side of a process running under a pty.
struct Term {
    master: std::fs::File,
    output: Arc<Mutex<String>>,
}

impl Term {
    fn spawn(cmd: &mut Command) -> (Reaped, Term) {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let child = cmd
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("spawn mew space connect");
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited and the slave is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let _ = master.as_raw_fd();
        (Reaped(child), Term { master, output })
    }

    fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// Wait until the screen shows `needle`; panics with the screen otherwise.
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.output.lock().unwrap().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "terminal never showed {needle:?}; it shows:\n{}",
            self.output.lock().unwrap()
        );
    }
}

async fn recv_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let v = ws.recv_json().await;
        if pred(&v) {
            return v;
        }
    }
    panic!("expected message never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_in_a_terminal_chats_and_approves_a_proposal() {
    let gw = TestGateway::start(YAML);
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let config = gw.mew_dir().join("space.yaml");
    let mew = env!("CARGO_BIN_EXE_mew");

    // Configured participants join with their own tokens (written by the gateway at start).
    let calculator_token = std::fs::read_to_string(gw.mew_dir().join("tokens/calculator.token"))
        .expect("calculator token");
    let _calculator = Reaped(
        Command::new(mew)
            .args([
                "agent",
                "calculator",
                "--gateway",
                &url,
                "--space",
                SPACE,
                "--id",
                "calculator",
            ])
            .env("MEW_TOKEN", calculator_token.trim())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn calculator"),
    );
    // The gateway wrote every participant's token file at start; its capabilities go with it.
    let token = std::fs::read_to_string(gw.mew_dir().join("tokens/assistant.token"))
        .expect("assistant token");
    let (mut assistant, _) = gw.join("assistant", SPACE, token.trim()).await;

    let (mut child, mut term) = Term::spawn(
        Command::new(mew)
            .args(["space", "connect", "--gateway", &url, "-c"])
            .arg(&config)
            .env_remove("MEW_SPACE_ID")
            .env("TERM", "dumb"),
    );
    // space.default_participant decides who we are; the welcome lists who is there.
    term.expect("as human (space pty-space)");
    term.expect("← system:gateway system/welcome");

    // Typed text goes out as chat.
    term.type_line("hello from the terminal");
    let chat = recv_where(&mut assistant, |v| v["kind"] == "chat").await;
    assert_eq!(chat["from"], "human");
    assert_eq!(chat["payload"]["text"], "hello from the terminal");

    // Chat comes in as one line.
    assistant
        .send(json!({"kind": "chat", "payload": {"text": "hi human"}}))
        .await;
    term.expect("← assistant chat hi human");

    // A proposal is listed with its number; approving it sends the proposed request to the
    // calculator on the assistant's behalf, and the calculator's answer comes back to us.
    assistant
        .send(
            json!({"id": "prop-1", "kind": "mcp/proposal", "to": ["calculator"],
            "payload": {"method": "tools/call",
                        "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}}),
        )
        .await;
    term.expect("← assistant mcp/proposal tools/call add");
    term.expect("[proposal #1: /approve 1 or /reject 1]");
    term.type_line("/proposals");
    term.expect("#1 from assistant to calculator");
    term.type_line("/approve 1");
    term.expect("→ mcp/request to calculator tools/call add");
    term.expect("← calculator mcp/response 5");
    let request = recv_where(&mut assistant, |v| v["kind"] == "mcp/request").await;
    assert_eq!(request["from"], "human");
    assert_eq!(request["correlation_id"], json!(["prop-1"]));

    // A second proposal, rejected: the proposer hears about it.
    assistant
        .send(
            json!({"id": "prop-2", "kind": "mcp/proposal", "to": ["calculator"],
            "payload": {"method": "tools/call", "params": {"name": "multiply",
                        "arguments": {"a": 2, "b": 3}}}}),
        )
        .await;
    term.expect("[proposal #2");
    term.type_line("/reject 2");
    let reject = recv_where(&mut assistant, |v| v["kind"] == "mcp/reject").await;
    assert_eq!(reject["correlation_id"], json!(["prop-2"]));

    term.type_line("/participants");
    term.expect("assistant (capabilities: chat, mcp/proposal");
    term.type_line("/help");
    term.expect("/approve N");

    term.type_line("/exit");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "connect did not exit on /exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn connect_without_a_gateway_fails_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("space.yaml"), YAML).unwrap();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "connect", "-d"])
        .arg(tmp.path())
        .args(["--gateway", &format!("ws://127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Failed to connect"));

    // An unknown participant is invalid input.
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "connect", "--participant", "nobody", "-d"])
        .arg(tmp.path())
        .args(["--gateway", &format!("ws://127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Participant 'nobody' not found in space configuration"));
}

/// The line client cut chat at about 120 characters and folded a tool result's newlines (the
/// cat-maze board printed as one line); `/call` replaces hand-written JSON-RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_client_shows_whole_chat_and_the_maze_board_and_calls_tools() {
    const MAZE_SPACE: &str = "pty-maze";
    let gw = TestGateway::start(
        "space:\n  id: pty-maze\n  default_participant: human\nparticipants:\n  \
         human:\n    capabilities: [{kind: \"*\"}]\n  \
         assistant:\n    capabilities: [{kind: chat}]\n  \
         cat-maze:\n    capabilities: [{kind: mcp/response}, {kind: mcp/notification}]\n",
    );
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let config = gw.mew_dir().join("space.yaml");
    let mew = env!("CARGO_BIN_EXE_mew");
    let token = |id: &str| {
        std::fs::read_to_string(gw.mew_dir().join(format!("tokens/{id}.token")))
            .expect("token")
            .trim()
            .to_string()
    };
    let _maze = Reaped(
        Command::new(mew)
            .args(["bridge", "start", "--gateway", &url, "--space", MAZE_SPACE])
            .args([
                "--participant-id",
                "cat-maze",
                "--token",
                &token("cat-maze"),
            ])
            .args(["--mcp-command", "mew", "--mcp-args", "mcp,cat-maze"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the cat-maze bridge"),
    );
    let (mut assistant, _) = gw.join("assistant", MAZE_SPACE, &token("assistant")).await;
    let (_child, mut term) = Term::spawn(
        Command::new(mew)
            .args(["connect", "--gateway", &url, "-c"])
            .arg(&config)
            .env_remove("MEW_SPACE_ID")
            .env("TERM", "dumb"),
    );
    term.expect("← system:gateway system/welcome");

    let long = format!("{} the end", "a long sentence ".repeat(20));
    assistant
        .send(json!({"kind": "chat", "payload": {"text": long}}))
        .await;
    term.expect(&format!("← assistant chat {long}"));

    // Wait for the bridge to be in the space before calling it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        term.type_line("/participants");
        std::thread::sleep(Duration::from_millis(300));
        if term
            .output
            .lock()
            .unwrap()
            .contains("  cat-maze (capabilities")
        {
            break;
        }
        assert!(Instant::now() < deadline, "cat-maze never joined");
    }
    term.type_line("/call cat-maze view");
    term.expect("→ mcp/request to cat-maze tools/call view {}");
    term.expect("← cat-maze mcp/response\r\n");
    // The board keeps its rows: several consecutive indented lines of maze walls.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = term.output.lock().unwrap().clone();
        let after = screen
            .split("← cat-maze mcp/response\r\n")
            .nth(1)
            .unwrap_or("");
        let rows = after
            .split("\r\n")
            .take_while(|l| l.starts_with("  ") && l.len() > 2)
            .count();
        if rows >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the board is not shown row by row:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    term.type_line("/help");
    term.expect("/call P TOOL ARGS");
}

/// Regression (issue 9, `default_to`): upstream templates set `default_to: {chat: [...]}` so that
/// what the human types is addressed to the agent; mew's connect sent it without `to`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_chat_goes_only_to_default_to() {
    const S: &str = "pty-default-to";
    let yaml = format!(
        "space:\n  id: {S}\n  default_participant: human\ndefaults:\n  routing:\n    \
         default_to:\n      chat: [bystander]\nparticipants:\n  human:\n    \
         capabilities: [{{kind: \"*\"}}]\n    default_to:\n      chat: [assistant]\n  \
         assistant:\n    capabilities: [{{kind: chat}}]\n  bystander:\n    \
         capabilities: [{{kind: chat}}]\n"
    );
    let gw = TestGateway::start(&yaml);
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let config = gw.mew_dir().join("space.yaml");
    let token = |id: &str| {
        std::fs::read_to_string(gw.mew_dir().join(format!("tokens/{id}.token")))
            .expect("token")
            .trim()
            .to_string()
    };
    let (mut assistant, _) = gw.join("assistant", S, &token("assistant")).await;
    let (mut bystander, _) = gw.join("bystander", S, &token("bystander")).await;
    let (_child, mut term) = Term::spawn(
        Command::new(env!("CARGO_BIN_EXE_mew"))
            .args(["space", "connect", "--gateway", &url, "-c"])
            .arg(&config)
            .env_remove("MEW_SPACE_ID")
            .env("TERM", "dumb"),
    );
    term.expect("← system:gateway system/welcome");
    term.type_line("only for the assistant");
    let chat = recv_where(&mut assistant, |v| v["kind"] == "chat").await;
    assert_eq!(chat["to"], json!(["assistant"]));
    assert_eq!(chat["payload"]["text"], "only for the assistant");
    term.expect("→ chat to assistant only for the assistant");
    // The gateway relays to everyone (spec/gateway.md §3.2); agents honour `to`, so the
    // bystander (the space-wide default) sees the chat addressed to the assistant only.
    let seen = recv_where(&mut bystander, |v| v["kind"] == "chat").await;
    assert_eq!(seen["to"], json!(["assistant"]));
}
