//! Built-in agents through the real gateway: echo, calculator (MCP over MEW), rejoin after a
//! gateway restart, prompt exit 0 on SIGTERM.
#[path = "common/gateway_proc.rs"]
mod gateway_proc;
#[path = "common/participant.rs"]
mod participant;

use std::process::{Command, Stdio};
use std::time::Duration;

use gateway_proc::process::{stop_timed, LineChild};
use gateway_proc::{mew_exe, unique, GatewayProc};
use mew_client::Participant;
use mew_protocol::envelope;
use participant::{
    is_join_of, next_matching, space_yaml_with_tester, text_of, wait_present, welcome_lists,
};
use serde_json::{json, Value};

/// Start `mew agent <kind>` with the env fallbacks (MEW_*), as containers run it.
fn start_agent(kind: &str, gw: &GatewayProc, space: &str, id: &str, token: &str) -> LineChild {
    LineChild::spawn(
        Command::new(mew_exe())
            .args(["agent", kind])
            .env("MEW_GATEWAY", gw.url())
            .env("MEW_SPACE", space)
            .env("MEW_PARTICIPANT_ID", id)
            .env("MEW_TOKEN", token)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit()),
        "agent",
    )
}

fn space_yaml(space: &str) -> String {
    space_yaml_with_tester(
        space,
        r#"  calc:
    tokens: ["calc-token"]
    capabilities:
      - kind: "mcp/*"
      - kind: chat
  echo:
    tokens: ["echo-token"]
    capabilities:
      - kind: chat
  fulfiller-agent:
    tokens: ["fulfiller-token"]
    capabilities:
      - kind: mcp/request
"#,
    )
}

/// How long the tester waits for an envelope.
const LIMIT: Duration = Duration::from_secs(10);

/// A test participant built on the same library the agents use.
struct Tester {
    p: Participant,
}

impl Tester {
    async fn join(gw: &GatewayProc, space: &str) -> Tester {
        let p = participant::join_tester(&gw.url(), space, LIMIT).await;
        Tester { p }
    }

    /// Wait until `id` is in the space: its join presence, or (when the tester itself rejoined
    /// later) its listing in the tester's welcome.
    async fn wait_presence(&mut self, id: &str) {
        let got = next_matching(&mut self.p, LIMIT, |v| {
            is_join_of(v, id) || welcome_lists(v, id)
        })
        .await;
        assert!(got.is_some(), "{id} never joined");
    }

    /// Send an envelope and wait for a reply correlated to it.
    async fn ask(&mut self, env: Value) -> Value {
        let id = env["id"].as_str().unwrap_or_default().to_string();
        self.p.sender().send(&env);
        next_matching(&mut self.p, LIMIT, |v| {
            v["correlation_id"] == json!([id]) && v["from"] != "tester"
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {id}"))
    }

    async fn mcp(&mut self, to: &str, method: &str, params: Value) -> Value {
        let env = envelope::build(
            "tester",
            "mcp/request",
            &[to.to_string()],
            &[],
            json!({"jsonrpc": "2.0", "id": 41, "method": method, "params": params}),
        );
        let reply = self.ask(env).await;
        assert_eq!(reply["kind"], "mcp/response", "{reply}");
        assert_eq!(reply["to"], json!(["tester"]), "{reply}");
        assert_eq!(reply["payload"]["jsonrpc"], "2.0");
        assert_eq!(reply["payload"]["id"], 41);
        reply["payload"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_agent_answers_and_rejoins_after_restart() {
    let space = unique("ag-echo");
    let mut gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = start_agent("echo", &gw, &space, "echo", "echo-token");
    assert!(
        agent.wait_line("joined", Duration::from_secs(10)).is_some(),
        "no join log line"
    );
    tester.wait_presence("echo").await;

    let chat = envelope::chat("tester", "hello echo");
    let chat_id = chat["id"].as_str().unwrap_or_default().to_string();
    let reply = tester.ask(chat).await;
    assert_eq!(reply["kind"], "chat");
    assert_eq!(reply["from"], "echo");
    assert_eq!(reply["to"], json!(["tester"]));
    assert_eq!(reply["correlation_id"], json!([chat_id]));
    assert_eq!(reply["payload"]["text"], "Echo: hello echo");

    // The gateway restarts: the agent rejoins on its own and answers again.
    gw.restart();
    assert!(
        agent.wait_line("joined", Duration::from_secs(10)).is_some(),
        "agent did not rejoin"
    );
    tester.wait_presence("echo").await;
    let reply = tester.ask(envelope::chat("tester", "again")).await;
    assert_eq!(reply["payload"]["text"], "Echo: again");

    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calculator_serves_mcp_tools() {
    let space = unique("ag-calc");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = start_agent("calculator", &gw, &space, "calc", "calc-token");
    assert!(
        agent.wait_line("joined", Duration::from_secs(10)).is_some(),
        "no join log line"
    );
    tester.wait_presence("calc").await;

    let list = tester.mcp("calc", "tools/list", json!({})).await;
    let tools = list["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["add", "multiply", "evaluate"]);
    assert!(tools.iter().all(|t| t["inputSchema"]["type"] == "object"));

    let add = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "add", "arguments": {"a": 2, "b": 40}}),
        )
        .await;
    assert_eq!(text_of(&add["result"]), "42");

    let mul = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "multiply", "arguments": {"a": 1.5, "b": 3}}),
        )
        .await;
    assert_eq!(text_of(&mul["result"]), "4.5");

    let eval = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "evaluate", "arguments": {"expression": "-(2 + 3) * 4 / 8"}}),
        )
        .await;
    assert_eq!(text_of(&eval["result"]), "-2.5");

    let div0 = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "evaluate", "arguments": {"expression": "1 / (3 - 3)"}}),
        )
        .await;
    assert_eq!(div0["result"]["isError"], true);
    assert!(text_of(&div0["result"]).contains("division by zero"));

    let bad_args = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "add", "arguments": {"a": "two"}}),
        )
        .await;
    assert_eq!(bad_args["result"]["isError"], true);

    let unknown_tool = tester
        .mcp(
            "calc",
            "tools/call",
            json!({"name": "sqrt", "arguments": {}}),
        )
        .await;
    assert_eq!(unknown_tool["error"]["code"], -32602);

    let unknown_method = tester.mcp("calc", "prompts/list", json!({})).await;
    assert_eq!(unknown_method["error"]["code"], -32601);

    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

/// Regression (CI: an echo container never joined): a connection that is accepted but never
/// answered, as when a SYN or the handshake is lost while the engine rewrites its firewall, used
/// to hang the agent for good. It now gives up after a bound, says why, and joins on a retry.
#[test]
fn an_agent_whose_gateway_never_answers_retries_and_joins() {
    let space = unique("ag-hang");
    let mut gw = GatewayProc::start(&space_yaml(&space));
    gw.stop();
    // A black hole on the gateway's port: accepts, holds the socket, never answers.
    let hole = std::net::TcpListener::bind(("127.0.0.1", gw.port)).expect("bind black hole");
    let agent = start_agent("echo", &gw, &space, "echo", "echo-token");
    let (held, _) = hole.accept().expect("the agent connects");
    drop(hole);
    // The held socket stays open while the real gateway comes back on the same port.
    gw.restart();
    assert!(
        agent
            .wait_line("no answer within", Duration::from_secs(10))
            .is_some(),
        "the agent did not give up on the silent connection"
    );
    assert!(
        agent.wait_line("joined", Duration::from_secs(10)).is_some(),
        "the agent did not join after giving up"
    );
    drop(held);
}

#[test]
fn agents_exit_zero_on_sigterm_even_without_a_gateway() {
    // Nothing listens on this port: the agents are in their reconnect loop when told to stop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    for kind in ["echo", "calculator"] {
        let mut child = Command::new(mew_exe())
            .args([
                "agent",
                kind,
                "--gateway",
                &format!("ws://127.0.0.1:{port}"),
            ])
            .args(["--space", "nowhere", "--id", "lonely"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(400));
        let (code, took) = stop_timed(&mut child);
        assert_eq!(code, Some(0), "{kind}");
        assert!(took < Duration::from_secs(1), "{kind} took {took:?}");
    }
}

/// The way a container runs an agent: under `mew supervise`, which tees the join line to the
/// participant's log file and passes `docker stop`'s SIGTERM on.
#[test]
fn supervised_agent_logs_its_join_and_stops_cleanly() {
    let space = unique("ag-sup");
    let gw = GatewayProc::start(&space_yaml(&space));
    let log = gw.path("logs/calc.log");
    let mut child = Command::new(mew_exe())
        .arg("supervise")
        .arg("--log")
        .arg(&log)
        .args([
            "--",
            mew_exe(),
            "agent",
            "calculator",
            "--gateway",
            &gw.url(),
        ])
        .args(["--space", &space, "--id", "calc", "--token", "calc-token"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn supervise");
    let joined = gateway_proc::wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|s| s.contains("calculator agent calc joined space"))
    });
    let (code, took) = stop_timed(&mut child);
    assert!(joined.is_some(), "no join line in {}", log.display());
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// `mew agent start --type fulfiller` (upstream's form; id `fulfiller-agent`) carries out a
/// proposal: the calculator gets the proposed call from the fulfiller, correlated to the
/// proposal, and its answer is correlated to the fulfiller's request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulfiller_started_the_upstream_way_carries_out_proposals() {
    let space = unique("ag-ful");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut calc = start_agent("calculator", &gw, &space, "calc", "calc-token");
    let mut fulfiller = LineChild::spawn(
        Command::new(mew_exe())
            .args(["agent", "start", "--type", "fulfiller", "-g", &gw.url()])
            .args(["-s", &space, "--token", "fulfiller-token"])
            .env_remove("MEW_PARTICIPANT_ID")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit()),
        "fulfiller",
    );
    wait_present(&mut tester.p, &["calc", "fulfiller-agent"], LIMIT).await;

    let proposal = envelope::build(
        "tester",
        "mcp/proposal",
        &["calc".to_string()],
        &[],
        json!({"method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}),
    );
    let proposal_id = proposal["id"].as_str().unwrap_or_default().to_string();
    tester.p.sender().send(&proposal);
    let request = next_matching(&mut tester.p, LIMIT, |v| {
        v["kind"] == "mcp/request" && v["correlation_id"] == json!([proposal_id])
    })
    .await
    .expect("the fulfiller sent no request for the proposal");
    assert_eq!(request["from"], "fulfiller-agent", "{request}");
    assert_eq!(request["to"], json!(["calc"]), "{request}");
    assert_eq!(request["payload"]["params"]["name"], "add", "{request}");
    let request_id = request["id"].as_str().unwrap_or_default().to_string();
    let response = next_matching(&mut tester.p, LIMIT, |v| {
        v["kind"] == "mcp/response" && v["correlation_id"] == json!([request_id])
    })
    .await
    .expect("the calculator did not answer the fulfilled request");
    assert_eq!(response["from"], "calc", "{response}");
    assert_eq!(response["to"], json!(["fulfiller-agent"]), "{response}");
    assert_eq!(text_of(&response["payload"]["result"]), "5", "{response}");

    fulfiller.assert_clean_stop(Duration::from_secs(1));
    calc.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}
