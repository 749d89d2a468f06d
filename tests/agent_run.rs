//! `mew agent run` through the real gateway and a real `mew agent calculator`. Only the model
//! service is simulated: a small OpenAI-compatible HTTP server that answers from a script and
//! records every request it gets.
#[path = "common/gateway_proc.rs"]
mod gateway_proc;
#[path = "common/participant.rs"]
mod participant;

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use gateway_proc::process::{stop_timed, LineChild};
use gateway_proc::{mew_exe, unique, GatewayProc};
use mew_client::Participant;
use mew_protocol::envelope;
use participant::{is_join_of, next_matching, space_yaml_with_tester};
use serde_json::{json, Value};

const KEY: &str = "sk-test-0123456789";

// ---------------------------------------------------------------- fake model service

/// (Authorization header, request body) of one request.
type Recorded = (Option<String>, Value);

#[derive(Clone, Default)]
struct FakeModel {
    script: Arc<Mutex<VecDeque<(u16, Value)>>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeModel {
    async fn start() -> (FakeModel, String) {
        let model = FakeModel::default();
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(model.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (model, format!("http://127.0.0.1:{port}/v1"))
    }

    fn push(&self, status: u16, body: Value) {
        self.script.lock().unwrap().push_back((status, body));
    }

    fn say(&self, text: &str) {
        self.push(
            200,
            json!({"id": "cmpl-1", "object": "chat.completion", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}),
        );
    }

    fn call(&self, call_id: &str, name: &str, args: Value) {
        self.push(
            200,
            json!({"id": "cmpl-2", "object": "chat.completion", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": null, "tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}}]},
                "finish_reason": "tool_calls"}]}),
        );
    }

    fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

async fn completions(
    State(model): State<FakeModel>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    model.seen.lock().unwrap().push((auth, parsed));
    let next = model.script.lock().unwrap().pop_front();
    // Status 0: a model that takes its time (for timeouts and cancellation).
    if next.as_ref().is_some_and(|(status, _)| *status == 0) {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (status, reply) =
        next.unwrap_or((500, json!({"error": {"message": "test script exhausted"}})));
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.to_string(),
    )
}

/// The `tool` message answering `call_id` in a recorded request.
fn tool_result(body: &Value, call_id: &str) -> Option<String> {
    body["messages"].as_array()?.iter().find_map(|m| {
        (m["role"] == "tool" && m["tool_call_id"] == call_id)
            .then(|| m["content"].as_str().unwrap_or_default().to_string())
    })
}

// ---------------------------------------------------------------- processes and participants

/// Spawn an agent process; its stdout lines are echoed as `[agent] …`.
fn spawn_agent(cmd: &mut Command) -> LineChild {
    LineChild::spawn_echoing(
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit()),
        "agent",
        "agent",
    )
}

/// `mew agent run` with the env a container gets. Without `model_url`, OPENAI_API_KEY is what
/// `mew space up` passes when the host has none: the literal `${OPENAI_API_KEY}`.
fn agent_run(gw: &GatewayProc, space: &str, model_url: Option<&str>, config: &str) -> LineChild {
    let mut cmd = Command::new(mew_exe());
    cmd.args(["agent", "run"])
        .env("MEW_GATEWAY", gw.url())
        .env("MEW_SPACE", space)
        .env("MEW_PARTICIPANT_ID", "mew")
        .env("MEW_TOKEN", "mew-token")
        .env("MEW_AGENT_CONFIG", config)
        .env("OPENAI_MODEL", "fake-model")
        .env_remove("OPENAI_BASE_URL");
    match model_url {
        Some(url) => cmd.env("OPENAI_API_KEY", KEY).env("OPENAI_BASE_URL", url),
        None => cmd.env("OPENAI_API_KEY", "${OPENAI_API_KEY}"),
    };
    spawn_agent(&mut cmd)
}

fn calculator(gw: &GatewayProc, space: &str) -> LineChild {
    spawn_agent(
        Command::new(mew_exe())
            .args(["agent", "calculator", "--gateway", &gw.url()])
            .args(["--space", space, "--id", "calc", "--token", "calc-token"]),
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
  # Like the coder-agent template: some tools directly, everything else by proposal.
  mew:
    tokens: ["mew-token"]
    capabilities:
      - kind: chat
      - kind: chat/acknowledge
      - kind: "participant/*"
      - kind: "reasoning/*"
      - kind: mcp/proposal
      - kind: mcp/response
      - kind: mcp/request
        payload:
          method: tools/list
      - kind: mcp/request
        payload:
          method: tools/call
          params:
            name: add
"#,
    )
}

/// How long the tester waits for an envelope.
const LIMIT: Duration = Duration::from_secs(15);

struct Tester {
    p: Participant,
    /// Everything received after the welcome, for assertions on what went through the gateway.
    seen: Vec<Value>,
}

impl Tester {
    async fn join(gw: &GatewayProc, space: &str) -> Tester {
        let p = participant::join_tester(&gw.url(), space, LIMIT).await;
        Tester {
            p,
            seen: Vec::new(),
        }
    }

    /// The next envelope for which `pred` holds; all received on the way are kept in `seen`.
    async fn next(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let seen = &mut self.seen;
        next_matching(&mut self.p, LIMIT, |v| {
            seen.push(v.clone());
            pred(v)
        })
        .await
    }

    /// The presence event of `id`.
    async fn presence_of(&mut self, id: &str) -> Option<Value> {
        self.next(|v| v["kind"] == "system/presence" && v["payload"]["participant"]["id"] == id)
            .await
    }

    /// Send a chat to the agent; returns its id.
    fn chat(&mut self, text: &str) -> String {
        let env = envelope::build(
            "tester",
            "chat",
            &["mew".into()],
            &[],
            json!({"text": text}),
        );
        self.p.sender().send(&env);
        env["id"].as_str().unwrap_or_default().to_string()
    }

    async fn reply_to(&mut self, chat_id: &str) -> Value {
        let id = chat_id.to_string();
        self.next(|v| {
            v["kind"] == "chat" && v["from"] == "mew" && v["correlation_id"] == json!([id])
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {chat_id}"))
    }

    async fn ask(&mut self, text: &str) -> Value {
        let id = self.chat(text);
        let reply = self.reply_to(&id).await;
        assert_eq!(reply["to"], json!(["tester"]), "{reply}");
        reply
    }
}

fn text(env: &Value) -> String {
    env["payload"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_chats_calls_allowed_tools_and_survives_model_errors() {
    let (model, url) = FakeModel::start().await;
    let space = unique("run-chat");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let _calc = calculator(&gw, &space);
    tester.presence_of("calc").await.expect("calc joined");
    // The calculator is already there: the agent finds its tools through the welcome.
    let config = r#"{"systemPrompt": "You are the test agent.", "maxIterations": 4, "ignored": 1}"#;
    let mut agent = agent_run(&gw, &space, Some(&url), config);
    assert!(
        agent
            .wait_line(
                "tools of calc: add, multiply, evaluate",
                Duration::from_secs(15)
            )
            .is_some(),
        "the agent did not discover the calculator's tools"
    );

    // 1. Plain text answer, correlated to the question.
    model.say("Hello from the model");
    let chat_id = tester.chat("hello");
    let reply = tester.reply_to(&chat_id).await;
    assert_eq!(text(&reply), "Hello from the model");
    assert_eq!(reply["to"], json!(["tester"]));
    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let (auth, body) = &requests[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "You are the test agent.");
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "hello"})
    );
    let names: Vec<&str> = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|f| f["function"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["calc__add", "calc__multiply", "calc__evaluate"]);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["a", "b"])
    );
    // Reasoning is announced (the capabilities allow it), correlated to the chat.
    let start = tester
        .seen
        .iter()
        .find(|v| v["kind"] == "reasoning/start" && v["correlation_id"] == json!([chat_id]))
        .cloned()
        .expect("reasoning/start");
    assert!(tester.seen.iter().any(
        |v| v["kind"] == "reasoning/conclusion" && v["correlation_id"] == json!([start["id"]])
    ));

    // 2. A tool call the agent may make itself: mcp/request to calc, result back to the model.
    model.call("call_add", "calc__add", json!({"a": 2, "b": 40}));
    model.say("2 + 40 = 42");
    let reply = tester.ask("what is 2 + 40?").await;
    assert_eq!(text(&reply), "2 + 40 = 42");
    let request = tester
        .seen
        .iter()
        .find(|v| {
            v["kind"] == "mcp/request"
                && v["from"] == "mew"
                && v["payload"]["method"] == "tools/call"
        })
        .cloned()
        .expect("the agent's mcp/request went through the gateway");
    assert_eq!(request["to"], json!(["calc"]));
    assert_eq!(
        request["payload"]["params"],
        json!({"name": "add", "arguments": {"a": 2, "b": 40}})
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let follow_up = &requests[2].1;
    assert_eq!(tool_result(follow_up, "call_add").as_deref(), Some("42"));
    // The earlier exchange is remembered as history.
    assert_eq!(follow_up["messages"][1]["content"], "hello");
    assert_eq!(follow_up["messages"][2]["content"], "Hello from the model");

    // 3. The model API fails: one sentence back, and the agent keeps going.
    model.push(500, json!({"error": {"message": "upstream exploded"}}));
    let reply = tester.ask("are you there?").await;
    let sentence = text(&reply);
    assert!(sentence.contains("HTTP 500"), "{sentence}");
    assert!(sentence.contains("upstream exploded"), "{sentence}");
    assert!(
        !sentence.contains('\n') && sentence.ends_with('.'),
        "{sentence}"
    );
    assert!(!sentence.contains(KEY));
    model.say("still here");
    assert_eq!(text(&tester.ask("and now?").await), "still here");

    // 4. A model that never stops calling tools is cut off at maxIterations.
    for i in 0..4 {
        model.call(&format!("c{i}"), "calc__add", json!({"a": i, "b": 1}));
    }
    let reply = tester.ask("loop forever").await;
    assert!(text(&reply).contains("maxIterations"), "{reply}");

    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_beyond_the_capabilities_are_proposed_then_fulfilled_or_rejected() {
    let (model, url) = FakeModel::start().await;
    let space = unique("run-prop");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = agent_run(&gw, &space, Some(&url), r#"{"proposalTimeoutMs": 10000}"#);
    tester.presence_of("mew").await.expect("agent joined");
    // The calculator comes later: the agent finds its tools through the presence.
    let _calc = calculator(&gw, &space);
    assert!(
        agent
            .wait_line("tools of calc", Duration::from_secs(15))
            .is_some(),
        "the agent did not discover the calculator's tools"
    );

    // Approved: the tester sends the proposed request itself, correlated to the proposal.
    model.call("call_mul", "calc__multiply", json!({"a": 6, "b": 7}));
    model.say("6 x 7 = 42");
    let chat_id = tester.chat("what is 6 x 7?");
    let proposal = tester
        .next(|v| v["kind"] == "mcp/proposal" && v["from"] == "mew")
        .await
        .expect("a proposal");
    assert_eq!(proposal["to"], json!(["calc"]));
    assert_eq!(proposal["payload"]["method"], "tools/call");
    assert_eq!(
        proposal["payload"]["params"],
        json!({"name": "multiply", "arguments": {"a": 6, "b": 7}})
    );
    assert!(
        !tester.seen.iter().any(|v| v["kind"] == "mcp/request"
            && v["from"] == "mew"
            && v["payload"]["params"]["name"] == "multiply"),
        "the agent must not call a tool it lacks the capability for"
    );
    let fulfil = envelope::build(
        "tester",
        "mcp/request",
        &["calc".into()],
        &[proposal["id"].as_str().unwrap_or_default().to_string()],
        proposal["payload"].clone(),
    );
    tester.p.sender().send(&fulfil);
    let reply = tester.reply_to(&chat_id).await;
    assert_eq!(text(&reply), "6 x 7 = 42");
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        tool_result(&requests[1].1, "call_mul").as_deref(),
        Some("42")
    );

    // Rejected: the model is told who rejected it.
    model.call("call_mul2", "calc__multiply", json!({"a": 1, "b": 2}));
    model.say("understood");
    let chat_id = tester.chat("multiply 1 by 2");
    let proposal = tester
        .next(|v| v["kind"] == "mcp/proposal" && v["from"] == "mew")
        .await
        .expect("a second proposal");
    let reject = envelope::build(
        "tester",
        "mcp/reject",
        &["mew".into()],
        &[proposal["id"].as_str().unwrap_or_default().to_string()],
        json!({"reason": "rejected by tester"}),
    );
    tester.p.sender().send(&reject);
    assert_eq!(text(&tester.reply_to(&chat_id).await), "understood");
    let requests = model.requests();
    assert_eq!(requests.len(), 4);
    let result = tool_result(&requests[3].1, "call_mul2").unwrap_or_default();
    assert!(result.contains("rejected by tester"), "{result}");

    // Any participant can be an MCP server: one that announces changed tools is asked again,
    // and its tools are offered to the model from then on.
    let changed = envelope::build(
        "tester",
        "mcp/notification",
        &[],
        &[],
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
    );
    tester.p.sender().send(&changed);
    let list = tester
        .next(|v| {
            v["kind"] == "mcp/request"
                && v["from"] == "mew"
                && v["to"] == json!(["tester"])
                && v["payload"]["method"] == "tools/list"
        })
        .await
        .expect("the agent asks the tester for its tools");
    let tools = json!({"jsonrpc": "2.0", "id": list["payload"]["id"], "result": {"tools": [
        {"name": "write.file", "description": "Write a file",
         "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}}]}});
    let answer = envelope::build(
        "tester",
        "mcp/response",
        &["mew".into()],
        &[list["id"].as_str().unwrap_or_default().to_string()],
        tools,
    );
    tester.p.sender().send(&answer);
    assert!(agent
        .wait_line("tools of tester: write.file", Duration::from_secs(10))
        .is_some());
    model.say("noted");
    assert_eq!(text(&tester.ask("what can you do?").await), "noted");
    let requests = model.requests();
    let names: Vec<String> = requests[4].1["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|f| f["function"]["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.contains(&"tester__write_file".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"calc__multiply".to_string()), "{names:?}");

    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_api_key_chats_get_an_explanation() {
    let space = unique("run-nokey");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = agent_run(&gw, &space, None, "");
    assert!(agent
        .wait_line("OPENAI_API_KEY is not set", Duration::from_secs(10))
        .is_some());
    assert!(agent.wait_line("joined", Duration::from_secs(10)).is_some());
    tester.presence_of("mew").await;
    let reply = tester.ask("hello?").await;
    let sentence = text(&reply);
    assert!(sentence.contains("OPENAI_API_KEY"), "{sentence}");
    assert!(!sentence.contains('\n'));
    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[test]
fn a_bad_agent_config_exits_2_with_one_line() {
    let cases = [
        ("MEW_AGENT_CONFIG", r#"{"maxIterations": "#),
        ("MEW_AGENT_CONFIG", r#"{"maxIterations": "lots"}"#),
        ("MEW_AGENT_CONFIG", "[]"),
        (
            "MEW_AGENT_CONFIG",
            r#"{"prompts": {"reason": "think step by step"}}"#,
        ),
        ("MEW_AGENT_CONFIG", r#"{"autoRespond": "no"}"#),
        ("OPENAI_BASE_URL", "api.example.com/v1"),
    ];
    for (var, bad) in cases {
        let out = Command::new(mew_exe())
            .args(["agent", "run", "--gateway", "ws://127.0.0.1:9"])
            .args(["--space", "s", "--id", "mew"])
            .env_remove("MEW_AGENT_CONFIG")
            .env_remove("OPENAI_BASE_URL")
            .env(var, bad)
            .env("OPENAI_API_KEY", KEY)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(!stderr.contains(KEY) && !String::from_utf8_lossy(&out.stdout).contains(KEY));
    }
}

#[test]
fn exits_zero_on_sigterm_while_reconnecting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut child = Command::new(mew_exe())
        .args([
            "agent",
            "run",
            "--gateway",
            &format!("ws://127.0.0.1:{port}"),
        ])
        .args(["--space", "nowhere", "--id", "mew"])
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(400));
    let (code, took) = stop_timed(&mut child);
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// HTTPS through the TLS stack the static build uses (rustls + Graviola + webpki roots), with a
/// made-up key: any HTTP status in the one-sentence answer proves the handshake and certificate
/// check worked (the real OpenAI API answers 401). Needs network access, so it is not part of the
/// default run: `cargo test --test agent_run -- --ignored`; `MEW_TEST_HTTPS_BASE_URL` picks
/// another HTTPS server when api.openai.com is out of reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs network access to an HTTPS server"]
async fn https_reaches_a_real_api_server() {
    let base = std::env::var("MEW_TEST_HTTPS_BASE_URL")
        .unwrap_or_else(|_| "https://api.openai.com/v1".into());
    let space = unique("run-https");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = agent_run(&gw, &space, Some(&base), "");
    tester.presence_of("mew").await.expect("agent joined");
    let sentence = text(&tester.ask("hello").await);
    assert!(sentence.contains("(HTTP "), "{sentence}");
    assert!(!sentence.contains(KEY), "{sentence}");
    let (code, _) = agent.stop();
    assert_eq!(code, Some(0));
    tester.p.close().await;
}

/// Send `kind` with `payload` from the tester to the agent; returns its id.
fn control(tester: &mut Tester, kind: &str, payload: Value) -> String {
    let env = envelope::build("tester", kind, &["mew".into()], &[], payload);
    tester.p.sender().send(&env);
    env["id"].as_str().unwrap_or_default().to_string()
}

/// The agent's `participant/status` correlated to `id`.
async fn status_for(tester: &mut Tester, id: &str) -> Value {
    let id = id.to_string();
    tester
        .next(|v| {
            v["kind"] == "participant/status"
                && v["from"] == "mew"
                && v["correlation_id"] == json!([id])
        })
        .await
        .unwrap_or_else(|| panic!("no participant/status for {id}"))["payload"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledges_thinks_aloud_and_answers_status_forget_clear_compact() {
    let (model, url) = FakeModel::start().await;
    let space = unique("run-ctl");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = agent_run(
        &gw,
        &space,
        Some(&url),
        r#"{"conversationHistoryLength": 4, "contextTokenLimit": 5000}"#,
    );
    tester.presence_of("mew").await.expect("agent joined");
    let _calc = calculator(&gw, &space);
    assert!(agent
        .wait_line("tools of calc", Duration::from_secs(15))
        .is_some());

    model.call("c1", "calc__add", json!({"a": 1, "b": 2}));
    model.say("three");
    let chat_id = tester.chat("1 + 2?");
    let _ = tester.reply_to(&chat_id).await;
    let kinds: Vec<String> = tester
        .seen
        .iter()
        .filter(|v| v["from"] == "mew")
        .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
        .filter(|k| k.starts_with("reasoning/") || k.starts_with("chat"))
        .collect();
    assert_eq!(
        kinds,
        [
            "chat/acknowledge",
            "reasoning/start",
            "reasoning/thought",
            "reasoning/thought",
            "reasoning/conclusion",
            "chat"
        ],
        "{:?}",
        tester.seen
    );
    let ack = tester
        .seen
        .iter()
        .find(|v| v["kind"] == "chat/acknowledge")
        .unwrap();
    assert_eq!(ack["correlation_id"], json!([chat_id]));
    let thought = tester
        .seen
        .iter()
        .find(|v| v["kind"] == "reasoning/thought")
        .unwrap();
    assert_eq!(thought["payload"]["action"], "tool");
    assert_eq!(thought["payload"]["actionInput"]["tool"], "calc/add");

    // Status: the two messages of the exchange are in context.
    let id = control(&mut tester, "participant/request-status", json!({}));
    let status = status_for(&mut tester, &id).await;
    assert_eq!(status["status"], "active");
    assert_eq!(status["messages_in_context"], 2, "{status}");
    assert_eq!(status["max_tokens"], 5000);
    assert!(status["tokens"].as_u64().unwrap_or(0) > 0, "{status}");

    // conversationHistoryLength caps the history at 4 messages.
    for i in 0..2 {
        model.say(&format!("answer {i}"));
        tester.ask(&format!("question {i}")).await;
    }
    let id = control(&mut tester, "participant/request-status", json!({}));
    assert_eq!(status_for(&mut tester, &id).await["messages_in_context"], 4);
    // forget the newest one, compact to nothing, clear.
    let id = control(
        &mut tester,
        "participant/forget",
        json!({"direction": "newest", "entries": 1}),
    );
    assert_eq!(status_for(&mut tester, &id).await["status"], "compacting");
    assert_eq!(status_for(&mut tester, &id).await["messages_in_context"], 3);
    let id = control(
        &mut tester,
        "participant/compact",
        json!({"target_tokens": 3}),
    );
    let done = tester
        .next(|v| v["kind"] == "participant/compact-done" && v["correlation_id"] == json!([id]))
        .await
        .expect("compact-done");
    assert!(
        done["payload"]["freed_messages"].as_u64().unwrap_or(0) >= 2,
        "{done}"
    );
    let id = control(&mut tester, "participant/clear", json!({}));
    let status = status_for(&mut tester, &id).await;
    assert_eq!(
        (
            status["status"].clone(),
            status["messages_in_context"].clone()
        ),
        (json!("cleared"), json!(0))
    );
    model.say("fresh");
    tester.ask("after clear").await;
    let last = model.requests().last().unwrap().1.clone();
    assert_eq!(last["messages"].as_array().map(Vec::len), Some(2), "{last}");

    agent.assert_clean_stop(Duration::from_secs(1));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_answers_until_resume_or_timeout_and_shutdown_exits_0() {
    let space = unique("run-pause");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let mut agent = agent_run(
        &gw,
        &space,
        None,
        r#"{"mockLLM": true, "reasoningEnabled": false}"#,
    );
    assert!(agent
        .wait_line("mockLLM is on", Duration::from_secs(10))
        .is_some());
    tester.presence_of("mew").await.expect("agent joined");
    // mockLLM: a deterministic reply without a model server; reasoningEnabled: false.
    let reply = tester.ask("ping").await;
    assert_eq!(text(&reply), "mockLLM reply to: ping");
    assert!(!tester.seen.iter().any(|v| v["from"] == "mew"
        && v["kind"]
            .as_str()
            .unwrap_or_default()
            .starts_with("reasoning/")));

    let id = control(&mut tester, "participant/pause", json!({"reason": "test"}));
    assert_eq!(status_for(&mut tester, &id).await["status"], "paused");
    let chat_id = tester.chat("while paused");
    let id = control(&mut tester, "participant/request-status", json!({}));
    assert_eq!(status_for(&mut tester, &id).await["status"], "paused");
    // Nothing but status while paused.
    let early = next_matching(&mut tester.p, Duration::from_millis(800), |v| {
        v["from"] == "mew" && v["kind"] != "participant/status"
    })
    .await;
    assert!(early.is_none(), "sent while paused: {early:?}");
    let id = control(&mut tester, "participant/resume", json!({}));
    assert_eq!(status_for(&mut tester, &id).await["status"], "active");
    assert_eq!(
        text(&tester.reply_to(&chat_id).await),
        "mockLLM reply to: while paused"
    );

    // A pause with a timeout ends by itself.
    control(
        &mut tester,
        "participant/pause",
        json!({"timeout_seconds": 1}),
    );
    let t0 = std::time::Instant::now();
    let chat_id = tester.chat("later");
    tester.reply_to(&chat_id).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );

    let id = control(&mut tester, "participant/shutdown", json!({}));
    assert_eq!(
        status_for(&mut tester, &id).await["status"],
        "shutting_down"
    );
    assert_eq!(agent.wait_exit(Duration::from_secs(3)), Some(0));
    tester.p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_cancel_restart_and_auto_respond_off() {
    let (model, url) = FakeModel::start().await;
    let space = unique("run-cancel");
    let gw = GatewayProc::start(&space_yaml(&space));
    let mut tester = Tester::join(&gw, &space).await;
    let agent = agent_run(&gw, &space, Some(&url), r#"{"requestTimeout": 500}"#);
    tester.presence_of("mew").await.expect("agent joined");
    // requestTimeout: the model request is given up after 0.5 s.
    model.push(0, json!({}));
    let t0 = std::time::Instant::now();
    let sentence = text(&tester.ask("slow?").await);
    assert!(sentence.contains("did not answer within 1 s"), "{sentence}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    drop(agent);

    // reasoning/cancel of the running work stops it at once.
    let mut agent = agent_run(&gw, &space, Some(&url), r#"{"requestTimeout": 10000}"#);
    tester
        .next(|v| is_join_of(v, "mew"))
        .await
        .expect("agent rejoined");
    model.push(0, json!({}));
    let chat_id = tester.chat("think long");
    let start = tester
        .next(|v| v["kind"] == "reasoning/start" && v["from"] == "mew")
        .await
        .expect("reasoning/start");
    let mut cancel = envelope::build(
        "tester",
        "reasoning/cancel",
        &["mew".into()],
        &[],
        json!({"reason": "enough"}),
    );
    cancel["context"] = start["id"].clone();
    tester.p.sender().send(&cancel);
    let t0 = std::time::Instant::now();
    let reply = tester.reply_to(&chat_id).await;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        text(&reply).contains("cancelled by tester (enough)"),
        "{reply}"
    );
    let conclusion = tester
        .seen
        .iter()
        .find(|v| v["kind"] == "reasoning/conclusion" && v["context"] == start["id"])
        .cloned()
        .expect("conclusion");
    assert_eq!(conclusion["payload"]["cancelled"], true);
    // restart: history gone.
    let id = control(&mut tester, "participant/restart", json!({}));
    let status = status_for(&mut tester, &id).await;
    assert_eq!(status["status"], "restarted");
    assert_eq!(status["messages_in_context"], 0);
    agent.assert_clean_stop(Duration::from_secs(1));

    // autoRespond: false: the chat is remembered, not answered, and no model is asked.
    let before = model.requests().len();
    let agent = agent_run(&gw, &space, Some(&url), r#"{"autoRespond": false}"#);
    tester
        .next(|v| is_join_of(v, "mew"))
        .await
        .expect("agent rejoined");
    let chat_id = tester.chat("just so you know");
    assert!(agent
        .wait_line("autoRespond is off", Duration::from_secs(5))
        .is_some());
    let id = control(&mut tester, "participant/request-status", json!({}));
    assert_eq!(status_for(&mut tester, &id).await["messages_in_context"], 1);
    assert!(!tester.seen.iter().any(|v| v["from"] == "mew"
        && v["kind"] == "chat"
        && v["correlation_id"] == json!([chat_id])));
    assert_eq!(model.requests().len(), before);
    drop(agent);
    tester.p.close().await;
}
