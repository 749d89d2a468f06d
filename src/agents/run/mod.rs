//! `mew agent run`: a model-driven agent. It answers chats by asking an OpenAI-compatible Chat
//! Completions API, offering the MCP tools it discovered on the other participants as functions.
//! A tool call its capabilities allow goes out as `mcp/request`; any other becomes an
//! `mcp/proposal` that a human (or another participant) fulfils or rejects.
pub(crate) mod config;
pub(crate) mod openai;
pub(crate) mod tools;

use std::collections::{HashSet, VecDeque};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use config::{AgentConfig, ModelSettings};
use mew_client::participant::{normalize_url, UrlError};
use mew_client::{End, Handler, LinkLog, Participant, ParticipantOptions, Sender};
use mew_protocol::envelope;
use openai::ChatClient;
use tools::{Catalog, Registry};

/// The answer to every chat when there is no key to ask a model with.
pub(crate) const NO_MODEL_ANSWER: &str =
    "No model is configured for this agent (OPENAI_API_KEY is not \
set), so I cannot answer; set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server) and \
restart me.";

pub(crate) struct RunOptions {
    pub(crate) participant: ParticipantOptions,
    pub(crate) config: AgentConfig,
    pub(crate) model: ModelSettings,
}

/// What the connection loop, the chat worker and the discovery tasks share.
struct Shared {
    me: String,
    sender: Sender,
    config: AgentConfig,
    /// Our capabilities from the latest welcome: they decide request versus proposal.
    capabilities: Mutex<Vec<Value>>,
    registry: Mutex<Registry>,
    /// Every envelope received, for tasks waiting on a correlated answer. A waiter subscribes
    /// before it sends, so it cannot miss a quick reply.
    bus: broadcast::Sender<Value>,
    next_rpc_id: AtomicU64,
}

impl Shared {
    fn may_send(&self, kind: &str, payload: &Value) -> bool {
        let caps = self.capabilities.lock().unwrap_or_else(|e| e.into_inner());
        caps.iter()
            .any(|c| mew_protocol::matches(Some(kind), Some(payload), c))
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        let id = self.next_rpc_id.fetch_add(1, Ordering::Relaxed);
        json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
    }

    /// Send an envelope; returns its id.
    fn send(&self, kind: &str, to: &[String], correlation: &[String], payload: Value) -> String {
        let env = envelope::build(&self.me, kind, to, correlation, payload);
        let id = envelope::id(&env).unwrap_or_default().to_string();
        self.sender.send(&env);
        id
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Next envelope on `rx` (before `deadline`) for which `pick` returns something.
async fn wait_for<T>(
    rx: &mut broadcast::Receiver<Value>,
    deadline: Instant,
    mut pick: impl FnMut(&Value) -> Option<T>,
) -> Option<T> {
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(env)) => {
                if let Some(found) = pick(&env) {
                    return Some(found);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return None,
        }
    }
}

fn correlates(env: &Value, id: &str) -> bool {
    envelope::correlation(env).contains(&id)
}

/// Run the agent until `shutdown` resolves; it rejoins by itself after a gateway restart.
pub(crate) async fn run(
    opts: RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), UrlError> {
    normalize_url(&opts.participant.gateway)?;
    let me = opts.participant.participant_id.clone();
    let (gateway, space) = (
        opts.participant.gateway.clone(),
        opts.participant.space.clone(),
    );
    let client = match &opts.model.api_key {
        None => {
            println!(
                "run agent {me}: no model is configured (OPENAI_API_KEY is not set); every chat gets \
                 an explanation instead of an answer"
            );
            None
        }
        Some(key) => match ChatClient::new(
            &opts.model,
            key.clone(),
            opts.config.request_timeout(),
            opts.config.temperature,
        ) {
            Ok(c) => {
                println!(
                    "run agent {me}: model {} at {}",
                    opts.model.model, opts.model.base_url
                );
                Some(c)
            }
            Err(e) => {
                println!("run agent {me}: {e}; every chat gets this explanation");
                None
            }
        },
    };

    let participant = Participant::spawn(opts.participant);
    let (bus, _) = broadcast::channel(1024);
    let shared = Arc::new(Shared {
        me: me.clone(),
        sender: participant.sender(),
        config: opts.config,
        capabilities: Mutex::new(Vec::new()),
        registry: Mutex::new(Registry::default()),
        bus,
        next_rpc_id: AtomicU64::new(1),
    });
    let (chat_tx, chat_rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(chat_worker(shared.clone(), chat_rx, client));

    let mut agent = RunAgent {
        shared,
        chats: chat_tx,
        link: LinkLog::default(),
        me,
        gateway,
        space,
    };
    mew_client::run(participant, &mut agent, shutdown).await;
    // A model request or a proposal may be in flight: stopping must not wait for it.
    worker.abort();
    Ok(())
}

/// The agent on its connection: envelopes go to the bus (answers awaited) and `on_envelope`.
struct RunAgent {
    shared: Arc<Shared>,
    chats: mpsc::UnboundedSender<Value>,
    link: LinkLog,
    me: String,
    gateway: String,
    space: String,
}

impl Handler for RunAgent {
    type Input = ();
    type Output = ();

    fn on_connected(&mut self) -> ControlFlow<()> {
        self.link.joined();
        println!(
            "run agent {} joined space {} at {}",
            self.me, self.space, self.gateway
        );
        ControlFlow::Continue(())
    }

    fn on_disconnected(&mut self, reason: String) -> ControlFlow<()> {
        let who = format!("run agent {}", self.me);
        if let Some(line) = self.link.disconnected_line(&who, &reason) {
            println!("{line}");
        }
        ControlFlow::Continue(())
    }

    fn on_envelope(&mut self, env: Value) -> ControlFlow<()> {
        // No subscriber is normal (nothing is waiting).
        let _ = self.shared.bus.send(env.clone());
        on_envelope(&self.shared, &env, &self.chats);
        ControlFlow::Continue(())
    }

    fn on_end(&mut self, _end: End) {}
}

fn on_envelope(shared: &Arc<Shared>, env: &Value, chats: &mpsc::UnboundedSender<Value>) {
    let me = shared.me.as_str();
    let from = envelope::from(env).unwrap_or("");
    // The gateway relays our own envelopes back to us.
    if from == me {
        return;
    }
    match envelope::kind(env).unwrap_or("") {
        "system/welcome" => {
            let payload = env.get("payload").cloned().unwrap_or(Value::Null);
            if let Some(caps) = payload
                .pointer("/you/capabilities")
                .and_then(Value::as_array)
            {
                *shared
                    .capabilities
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = caps.clone();
            }
            // A grant update only changes capabilities; a (re)join means tools may have changed.
            let update = envelope::id(env).is_some_and(|id| id.starts_with("welcome-update-"));
            if update {
                return;
            }
            let others: Vec<String> = payload
                .get("participants")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| p.get("id").and_then(Value::as_str))
                        .filter(|id| *id != me)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            *shared.registry() = Registry::default();
            for other in others {
                tokio::spawn(discover(shared.clone(), other));
            }
        }
        "system/presence" => {
            let payload = env.get("payload");
            let event = payload.and_then(|p| p.get("event")).and_then(Value::as_str);
            let Some(id) = payload
                .and_then(|p| p.pointer("/participant/id"))
                .and_then(Value::as_str)
            else {
                return;
            };
            match event {
                Some("join") if id != me => {
                    tokio::spawn(discover(shared.clone(), id.to_string()));
                }
                Some("leave") => shared.registry().remove(id),
                _ => {}
            }
        }
        // An MCP server says its tools changed: ask again.
        "mcp/notification"
            if env.pointer("/payload/method").and_then(Value::as_str)
                == Some("notifications/tools/list_changed") =>
        {
            tokio::spawn(discover(shared.clone(), from.to_string()));
        }
        "chat" => {
            // A chat carrying a correlation_id answers an earlier message (another agent's
            // reply to us): answering it again would let two agents talk forever.
            if from.is_empty()
                || from.starts_with("system")
                || !envelope::is_for_me(env, me)
                || !envelope::correlation(env).is_empty()
            {
                return;
            }
            let _ = chats.send(env.clone());
        }
        _ => {}
    }
}

/// Ask `owner` for its tools. Most participants are not MCP servers and never answer.
async fn discover(shared: Arc<Shared>, owner: String) {
    let payload = shared.rpc("tools/list", json!({}));
    if !shared.may_send("mcp/request", &payload) {
        return;
    }
    let mut rx = shared.bus.subscribe();
    let id = shared.send("mcp/request", std::slice::from_ref(&owner), &[], payload);
    let deadline = Instant::now() + shared.config.discovery_timeout();
    let answer = wait_for(&mut rx, deadline, |env| {
        (envelope::kind(env) == Some("mcp/response")
            && envelope::from(env) == Some(owner.as_str())
            && correlates(env, &id))
        .then(|| env.get("payload").cloned().unwrap_or(Value::Null))
    })
    .await;
    if let Some(payload) = answer {
        let tools = tools::parse_list(&payload);
        let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        // Known first, then said: whoever reads the line may rely on the tools being offered.
        shared.registry().set(&owner, tools);
        if !names.is_empty() {
            println!(
                "run agent {}: tools of {owner}: {}",
                shared.me,
                names.join(", ")
            );
        }
    }
}

/// Chats are answered one at a time, so the conversation history stays in order.
async fn chat_worker(
    shared: Arc<Shared>,
    mut chats: mpsc::UnboundedReceiver<Value>,
    client: Option<ChatClient>,
) {
    let mut history: VecDeque<Value> = VecDeque::new();
    while let Some(chat) = chats.recv().await {
        let asker = envelope::from(&chat).unwrap_or_default().to_string();
        let chat_id = envelope::id(&chat).unwrap_or_default().to_string();
        let text = chat
            .pointer("/payload/text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let answer = match &client {
            None => NO_MODEL_ANSWER.to_string(),
            Some(client) => {
                let (answer, calls) =
                    converse(&shared, client, &mut history, &text, &chat_id).await;
                println!(
                    "run agent {}: answered {asker} after {calls} model call(s)",
                    shared.me
                );
                answer
            }
        };
        let correlation: Vec<String> = Some(chat_id)
            .filter(|c| !c.is_empty())
            .into_iter()
            .collect();
        shared.send("chat", &[asker], &correlation, json!({ "text": answer }));
    }
}

/// The model loop for one question: returns the answer and how many model calls it took.
async fn converse(
    shared: &Shared,
    client: &ChatClient,
    history: &mut VecDeque<Value>,
    question: &str,
    chat_id: &str,
) -> (String, u32) {
    let config = &shared.config;
    let start = json!({ "message": format!("Thinking about: {}", preview(question, 200)) });
    let reasoning = config.reasoning && shared.may_send("reasoning/start", &start);
    let reasoning_id = reasoning.then(|| {
        let corr: Vec<String> = vec![chat_id.to_string()];
        shared.send("reasoning/start", &[], &corr, start)
    });

    let mut messages = vec![json!({ "role": "system", "content": config.system_prompt })];
    messages.extend(history.iter().cloned());
    let user = json!({ "role": "user", "content": question });
    messages.push(user.clone());

    let mut calls = 0;
    let mut answer = None;
    while calls < config.max_iterations {
        calls += 1;
        let catalog = shared.registry().catalog();
        let reply = match client.complete(&messages, &catalog.functions).await {
            Ok(r) => r,
            Err(sentence) => {
                println!("run agent {}: {sentence}", shared.me);
                answer = Some(sentence);
                break;
            }
        };
        if reply.tool_calls.is_empty() {
            let text = reply
                .text
                .unwrap_or_else(|| "(The model returned an empty answer.)".into());
            push_history(history, user.clone(), config.history_length);
            push_history(
                history,
                json!({ "role": "assistant", "content": text }),
                config.history_length,
            );
            answer = Some(text);
            break;
        }
        let mut assistant = reply.message.clone();
        assistant["role"] = json!("assistant");
        messages.push(assistant);
        for call in &reply.tool_calls {
            let result = call_tool(shared, &catalog, call).await;
            messages.push(json!({ "role": "tool", "tool_call_id": call.id, "content": result }));
        }
    }
    let answer = answer.unwrap_or_else(|| {
        format!(
            "I stopped after {} model calls (maxIterations) without reaching an answer.",
            config.max_iterations
        )
    });
    if let Some(start_id) = reasoning_id {
        let done = json!({ "message": preview(&answer, 200) });
        if shared.may_send("reasoning/conclusion", &done) {
            shared.send("reasoning/conclusion", &[], &[start_id], done);
        }
    }
    (answer, calls)
}

fn push_history(history: &mut VecDeque<Value>, message: Value, limit: usize) {
    history.push_back(message);
    while history.len() > limit {
        history.pop_front();
    }
}

fn preview(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Run one tool call of the model; the text is what the model is told.
async fn call_tool(shared: &Shared, catalog: &Catalog, call: &openai::ToolCall) -> String {
    let Some((owner, tool)) = catalog.targets.get(&call.name) else {
        return format!("Error: there is no tool named {}", call.name);
    };
    let arguments = match openai::arguments_object(&call.arguments) {
        Ok(a) => a,
        Err(e) => return format!("Error: {e}"),
    };
    let payload = shared.rpc(
        "tools/call",
        json!({ "name": tool, "arguments": arguments }),
    );
    if shared.may_send("mcp/request", &payload) {
        println!("run agent {}: calling {tool} of {owner}", shared.me);
        request(shared, owner, payload).await
    } else if shared.may_send("mcp/proposal", &payload) {
        println!(
            "run agent {}: proposing {tool} of {owner}; waiting for approval",
            shared.me
        );
        propose(shared, owner, payload).await
    } else {
        format!("Error: this agent may neither call nor propose {tool} of {owner}")
    }
}

/// A direct `mcp/request`, answered by the owner's correlated `mcp/response`.
async fn request(shared: &Shared, owner: &str, payload: Value) -> String {
    let mut rx = shared.bus.subscribe();
    let id = shared.send("mcp/request", &[owner.to_string()], &[], payload);
    let limit = shared.config.tool_timeout();
    let deadline = Instant::now() + limit;
    let answer = wait_for(&mut rx, deadline, |env| {
        (envelope::kind(env) == Some("mcp/response") && correlates(env, &id))
            .then(|| env.get("payload").cloned().unwrap_or(Value::Null))
    })
    .await;
    match answer {
        Some(p) => tools::result_text(&p),
        None => format!("Error: {owner} did not answer within {}", seconds(limit)),
    }
}

/// How a proposal ended.
enum Outcome {
    Done(String),
    Fulfilled(String),
}

/// An `mcp/proposal` to the owner. Someone approves it by sending the request themselves,
/// correlated to the proposal; the owner's response to that request (relayed to everyone) is the
/// result. An `mcp/reject` correlated to the proposal ends it.
async fn propose(shared: &Shared, owner: &str, payload: Value) -> String {
    let mut rx = shared.bus.subscribe();
    let proposal = shared.send("mcp/proposal", &[owner.to_string()], &[], payload);
    let limit = shared.config.proposal_timeout();
    let deadline = Instant::now() + limit;
    let mut fulfilments: HashSet<String> = HashSet::new();
    // Responses seen before the request they answer (relay order across senders is not
    // guaranteed to be the order we would like).
    let mut early: Vec<Value> = Vec::new();
    loop {
        let step = wait_for(&mut rx, deadline, |env| {
            match envelope::kind(env).unwrap_or("") {
                "mcp/request" if correlates(env, &proposal) => {
                    envelope::id(env).map(|id| Outcome::Fulfilled(id.to_string()))
                }
                "mcp/response" => {
                    let corr = envelope::correlation(env);
                    if corr.iter().any(|c| fulfilments.contains(*c)) {
                        let p = env.get("payload").cloned().unwrap_or(Value::Null);
                        Some(Outcome::Done(tools::result_text(&p)))
                    } else {
                        if !corr.is_empty() && early.len() < 256 {
                            early.push(env.clone());
                        }
                        None
                    }
                }
                "mcp/reject" if correlates(env, &proposal) => {
                    let who = envelope::from(env).unwrap_or("someone");
                    let reason = env
                        .pointer("/payload/reason")
                        .and_then(Value::as_str)
                        .filter(|r| !r.is_empty() && *r != format!("rejected by {who}"));
                    Some(Outcome::Done(match reason {
                        Some(r) => format!("Error: the proposal was rejected by {who} ({r})"),
                        None => format!("Error: the proposal was rejected by {who}"),
                    }))
                }
                _ => None,
            }
        })
        .await;
        match step {
            Some(Outcome::Done(text)) => return text,
            Some(Outcome::Fulfilled(request_id)) => {
                println!("run agent {}: proposal {proposal} approved", shared.me);
                if let Some(env) = early.iter().find(|e| correlates(e, &request_id)) {
                    let p = env.get("payload").cloned().unwrap_or(Value::Null);
                    return tools::result_text(&p);
                }
                fulfilments.insert(request_id);
            }
            None => break,
        }
    }
    // Nobody decided in time: take the proposal back where we may, so it leaves pending lists.
    let withdraw = json!({ "reason": "timeout" });
    if shared.may_send("mcp/withdraw", &withdraw) {
        shared.send("mcp/withdraw", &[owner.to_string()], &[proposal], withdraw);
    }
    if fulfilments.is_empty() {
        format!(
            "Error: nobody approved the proposal within {}",
            seconds(limit)
        )
    } else {
        format!(
            "Error: the proposal was approved but {owner} did not answer within {}",
            seconds(limit)
        )
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64().ceil() as u64)
}
