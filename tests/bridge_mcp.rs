//! `mew bridge start` with the built-in MCP servers (`mew mcp cat-maze`, `mew mcp filesystem`)
//! through the real gateway: correlated answers to requests addressed to the bridge, silence
//! for the others, path confinement, start failures (exit 1, one line) and prompt SIGTERM.
#[path = "common/gateway_proc.rs"]
mod gateway_proc;
#[path = "common/participant.rs"]
mod participant;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gateway_proc::process::LineChild;
use gateway_proc::{mew_exe, unique, GatewayProc};
use mew_client::Participant;
use mew_protocol::envelope;
use participant::{is_join_of, next_matching, space_yaml_with_tester, text_of};
use serde_json::{json, Value};

fn space_yaml(space: &str) -> String {
    space_yaml_with_tester(
        space,
        r#"  maze:
    tokens: ["maze-token"]
    capabilities:
      - kind: "mcp/*"
  files:
    tokens: ["files-token"]
    capabilities:
      - kind: "mcp/*"
"#,
    )
}

/// `mew bridge start` as the runner generates it, for participant `id`.
fn start_bridge(gw: &GatewayProc, space: &str, id: &str, extra: &[&str]) -> LineChild {
    let token = format!("{id}-token");
    LineChild::spawn(
        Command::new(mew_exe())
            .args(["bridge", "start", "--gateway", &gw.url(), "--space", space])
            .args(["--participant-id", id, "--token", &token])
            .args(["--mcp-command", mew_exe()])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit()),
        "bridge",
    )
}

/// How long the tester waits for an envelope.
const LIMIT: Duration = Duration::from_secs(10);

struct Tester {
    p: Participant,
    next: u64,
}

impl Tester {
    async fn join(gw: &GatewayProc, space: &str) -> Tester {
        let p = participant::join_tester(&gw.url(), space, LIMIT).await;
        Tester { p, next: 100 }
    }

    async fn wait_presence(&mut self, id: &str) {
        let got = next_matching(&mut self.p, LIMIT, |v| is_join_of(v, id)).await;
        assert!(got.is_some(), "{id} never joined");
    }

    /// Send an `mcp/request` to `to` with a fresh JSON-RPC id; returns the envelope id.
    fn request(&mut self, to: &str, method: &str, params: Value) -> (String, u64) {
        self.next += 1;
        let env = envelope::build(
            "tester",
            "mcp/request",
            &[to.to_string()],
            &[],
            json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}),
        );
        self.p.sender().send(&env);
        (
            env["id"].as_str().unwrap_or_default().to_string(),
            self.next,
        )
    }

    /// Call `method` on `to`; checks the correlation and the JSON-RPC id, returns the payload.
    async fn mcp(&mut self, to: &str, method: &str, params: Value) -> Value {
        let (env_id, rpc_id) = self.request(to, method, params);
        let reply = next_matching(&mut self.p, LIMIT, |v| {
            v["correlation_id"] == json!([env_id])
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {method}"));
        assert_eq!(reply["kind"], "mcp/response", "{reply}");
        assert_eq!(reply["from"], to, "{reply}");
        assert_eq!(reply["to"], json!(["tester"]), "{reply}");
        assert_eq!(reply["payload"]["jsonrpc"], "2.0");
        assert_eq!(reply["payload"]["id"], rpc_id, "{reply}");
        reply["payload"].clone()
    }

    async fn call(&mut self, to: &str, tool: &str, args: Value) -> Value {
        let payload = self
            .mcp(to, "tools/call", json!({"name": tool, "arguments": args}))
            .await;
        payload["result"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_maze_bridge_answers_requests_addressed_to_it() {
    let space = unique("br-maze");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let caps = r#"[{"kind":"mcp/request"},{"kind":"mcp/response"}]"#;
    let mut bridge = start_bridge(
        &gw,
        &space,
        "maze",
        &["--mcp-args", "mcp,cat-maze", "--capabilities", caps],
    );
    let joined = bridge.wait_line("joined", Duration::from_secs(15));
    let joined = joined.expect("no join line");
    assert!(
        joined.contains(&format!("bridge maze joined space {space}"))
            && joined.contains("MCP server mew-cat-maze ready (7 tools)"),
        "{joined}"
    );
    tester.wait_presence("maze").await;

    // Addressed to someone else: the bridge stays silent. The server answers in order, so
    // an answer to it would arrive before the answer to the next request.
    let (ignored, _) = tester.request("someone-else", "tools/list", json!({}));
    // No `to` at all: not necessarily for this bridge either.
    let broadcast = envelope::build(
        "tester",
        "mcp/request",
        &[],
        &[],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    tester.p.sender().send(&broadcast);
    let no_to_id = broadcast["id"].as_str().unwrap_or_default().to_string();
    let (list_env, list_rpc) = tester.request("maze", "tools/list", json!({}));
    let mut seen = Vec::new();
    let reply = next_matching(&mut tester.p, LIMIT, |v| {
        v["from"] == "maze" && v["kind"] == "mcp/response"
    })
    .await;
    if let Some(r) = reply {
        seen.push(r);
    }
    assert_eq!(seen.len(), 1, "no answer to tools/list");
    assert_eq!(seen[0]["correlation_id"], json!([list_env]), "{}", seen[0]);
    assert_ne!(seen[0]["correlation_id"], json!([ignored]));
    assert_ne!(seen[0]["correlation_id"], json!([no_to_id]));
    assert_eq!(seen[0]["payload"]["id"], list_rpc);
    let names: Vec<&str> = seen[0]["payload"]["result"]["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["view", "up", "down", "left", "right", "restart", "reset"]
    );

    let view = tester.call("maze", "view", json!({})).await;
    assert!(
        text_of(&view).contains("Level 1/10: Kitten Steps"),
        "{view}"
    );
    assert!(text_of(&view).contains("#C..#.#"), "{view}");
    let bump = tester.call("maze", "up", json!({})).await;
    assert!(text_of(&bump).contains("bumped"), "{bump}");
    assert!(bump.get("isError").is_none(), "{bump}");
    let step = tester.call("maze", "right", json!({})).await;
    assert!(text_of(&step).contains("#.C.#.#"), "{step}");
    // The rest of level 1's shortest path (right, right, down, down, right, right).
    for tool in ["right", "down", "down", "right"] {
        tester.call("maze", tool, json!({})).await;
    }
    let goal = tester.call("maze", "right", json!({})).await;
    assert!(text_of(&goal).contains("now on level 2"), "{goal}");
    // Upstream's `restart`: back to level 1 with fresh counters.
    let again = tester.call("maze", "restart", json!({})).await;
    assert!(
        text_of(&again).contains("Level 1/10") && text_of(&again).contains("total moves: 0"),
        "{again}"
    );

    // Errors come back as JSON-RPC errors with the requester's id.
    let unknown = tester
        .mcp("maze", "tools/call", json!({"name": "fly"}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let unknown = tester.mcp("maze", "resources/list", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    // `initialize` from a participant is answered from the bridge's own handshake.
    let init = tester.mcp("maze", "initialize", json!({})).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "mew-cat-maze");

    bridge.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_bridge_stays_inside_its_root() {
    let space = unique("br-fs");
    let gw = GatewayProc::start(&space_yaml(&space));
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello from the root").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let root_str = root.path().to_str().unwrap().to_string();

    let mut tester = Tester::join(&gw, &space).await;
    // Relative root resolved against --mcp-cwd, as templates use it (`mcp,filesystem,./`).
    let mut bridge = start_bridge(
        &gw,
        &space,
        "files",
        &["--mcp-args", "mcp,filesystem,./", "--mcp-cwd", &root_str],
    );
    assert!(
        bridge
            .wait_line("joined", Duration::from_secs(15))
            .is_some_and(|l| l.contains("mew-filesystem ready")),
        "no join line"
    );
    tester.wait_presence("files").await;

    let read = tester
        .call("files", "read_file", json!({"path": "hello.txt"}))
        .await;
    assert_eq!(text_of(&read), "hello from the root", "{read}");
    let write = tester
        .call(
            "files",
            "write_file",
            json!({"path": "notes.md", "content": "# notes\n"}),
        )
        .await;
    assert!(write.get("isError").is_none(), "{write}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("notes.md")).unwrap(),
        "# notes\n"
    );
    let list = tester
        .call("files", "list_directory", json!({"path": "."}))
        .await;
    assert!(text_of(&list).contains("[FILE] notes.md"), "{list}");

    let secret = outside.path().join("secret.txt");
    for (tool, args) in [
        ("read_file", json!({"path": "../secret.txt"})),
        ("read_file", json!({"path": secret.to_str().unwrap()})),
        ("read_file", json!({"path": "escape/secret.txt"})),
        (
            "write_file",
            json!({"path": "escape/planted.txt", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": "../planted.txt", "content": "x"}),
        ),
        ("list_directory", json!({"path": "escape"})),
    ] {
        let r = tester.call("files", tool, args.clone()).await;
        assert_eq!(r["isError"], true, "{tool} {args}: {r}");
        assert!(text_of(&r).contains("Access denied"), "{r}");
        assert!(!text_of(&r).contains("top secret"), "{r}");
    }
    assert!(!outside.path().join("planted.txt").exists());
    assert!(!root.path().parent().unwrap().join("planted.txt").exists());

    bridge.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

/// Run `mew bridge start` to completion (it must end by itself) against a port nobody serves.
fn bridge_output(args: &[&str], limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(mew_exe())
        .args(["bridge", "start", "-g", "ws://127.0.0.1:9", "-s", "s"])
        .args(["-p", "b", "-t", "t"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("`mew bridge start {args:?}` still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn bridge_start_failures_exit_1_with_one_line() {
    let mew = mew_exe();
    let (out, _) = bridge_output(
        &[
            "-m",
            mew,
            "--mcp-args",
            "mcp,cat-maze",
            "--capabilities",
            "{not json",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("--capabilities"));

    let (out, _) = bridge_output(&["-m", "/nonexistent/mcp-server"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert!(
        err.contains("cannot start the MCP server `/nonexistent/mcp-server`")
            && err.contains("check that"),
        "{err}"
    );

    // A server that never answers `initialize`.
    let (out, took) = bridge_output(
        &["-m", "sleep", "--mcp-args", "30", "--init-timeout", "300"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let err = one_line_error(&out);
    assert!(
        err.contains("did not answer `initialize` within 300 ms"),
        "{err}"
    );

    let (out, _) = bridge_output(
        &[
            "-m",
            mew,
            "--mcp-args",
            "mcp,cat-maze",
            "--mcp-env",
            "NOVALUE",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("NOVALUE"));
}

/// A shell MCP server that completes the handshake, says goodbye on stderr with a variable
/// from --mcp-env, then exits with code 3.
fn write_dying_server(dir: &Path) -> String {
    let script = dir.join("dying-server.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nread -r _init\n\
         echo '{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"dying\"}}}'\n\
         read -r _initialized\necho \"about to die ($MEW_TEST_MARK)\" >&2\nsleep 2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_exits_1_when_its_server_exits() {
    let space = unique("br-die");
    let gw = GatewayProc::start(&space_yaml(&space));
    let dir = tempfile::tempdir().unwrap();
    let script = write_dying_server(dir.path());
    let mut child = Command::new(mew_exe())
        .args(["bridge", "start", "-g", &gw.url(), "-s", &space])
        .args(["-p", "maze", "-t", "maze-token", "-m", &script])
        .args(["--mcp-env", "MEW_TEST_MARK=from-mcp-env,OTHER=x"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "bridge outlived its server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("MCP server dying ready (tools unknown)"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The server's stderr passes through, then the bridge says why it ends.
    assert!(stderr.contains("about to die (from-mcp-env)"), "{stderr}");
    assert!(stderr.contains("exited with code 3"), "{stderr}");
}
