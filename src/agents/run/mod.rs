//! `mew agent run`: a model-driven agent. It answers chats by asking an OpenAI-compatible Chat
//! Completions API, offering the MCP tools it discovered on the other participants as functions.
//! A tool call its capabilities allow goes out as `mcp/request`; any other becomes an
//! `mcp/proposal` that a human (or another participant) fulfils or rejects.
//!
//! It acknowledges each chat it takes up (`chat/acknowledge`), narrates its work as
//! `reasoning/start`, one `reasoning/thought` per step and `reasoning/conclusion`, stops on
//! `reasoning/cancel` (or `chat/cancel`) of that work, and obeys upstream's participant controls:
//! `participant/request-status` (answered with `participant/status`), `pause` (optionally with
//! `timeout_seconds`; while paused it sends nothing but status), `resume`, `forget`, `clear`,
//! `compact`, `restart` and `shutdown` (exit 0).
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod openai;
pub(crate) mod tools;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use config::{AgentConfig, ModelSettings};
use control::{Memory, Pause};
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

/// How long a `participant/shutdown` leaves the connection open for the last status to go out.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(300);

/// The reply of `mockLLM: true`: deterministic, from the question alone.
pub(crate) fn mock_answer(question: &str) -> String {
    format!("mockLLM reply to: {}", preview(question, 500))
}

pub(crate) struct RunOptions {
    pub(crate) participant: ParticipantOptions,
    pub(crate) config: AgentConfig,
    pub(crate) model: ModelSettings,
}

/// Where answers come from.
enum Backend {
    /// No model: every chat gets this sentence.
    Explain(String),
    /// `mockLLM`: a fixed reply, no model server.
    Mock,
    Model(ChatClient),
}

/// The chat being answered right now.
struct Current {
    chat_id: String,
    reasoning_id: Option<String>,
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
    memory: Mutex<Memory>,
    pause: watch::Sender<Pause>,
    current: Mutex<Option<Current>>,
    /// Set (with the reason) when the current work is cancelled; cleared for each new chat.
    cancel: watch::Sender<Option<String>>,
    /// Bumped by `participant/restart`: chats queued before it are dropped.
    queue_generation: AtomicU64,
    stopping: AtomicBool,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Whether the missing `participant/status` capability has been reported already.
    said_no_status: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn may_send(&self, kind: &str, payload: &Value) -> bool {
        let caps = lock(&self.capabilities);
        caps.iter()
            .any(|c| mew_protocol::matches(Some(kind), Some(payload), c))
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        let id = self.next_rpc_id.fetch_add(1, Ordering::Relaxed);
        json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
    }

    fn paused(&self) -> bool {
        !self.pause.borrow().active()
    }

    /// Send an envelope; returns its id. While paused only status messages go out.
    fn send_env(&self, env: Value) -> String {
        let id = envelope::id(&env).unwrap_or_default().to_string();
        let kind = envelope::kind(&env).unwrap_or_default();
        if self.paused() && !matches!(kind, "participant/status" | "participant/compact-done") {
            println!("run agent {}: paused, so {kind} is not sent", self.me);
            return id;
        }
        self.sender.send(&env);
        id
    }

    fn send(&self, kind: &str, to: &[String], correlation: &[String], payload: Value) -> String {
        self.send_env(envelope::build(&self.me, kind, to, correlation, payload))
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        lock(&self.memory)
    }

    /// Until not paused (resumed, or the pause's timeout passed).
    async fn wait_active(&self) {
        let mut rx = self.pause.subscribe();
        loop {
            let pause = rx.borrow_and_update().clone();
            if pause.active() {
                return;
            }
            match pause.until {
                Some(until) => {
                    tokio::select! {
                        _ = rx.changed() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                None => {
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Resolves with the reason once the current work is cancelled.
    async fn cancelled(&self) -> String {
        let mut rx = self.cancel.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// `participant/status` (`status` defaults to active or paused), if the capabilities allow.
    fn send_status(
        &self,
        status: Option<&str>,
        to: &[String],
        correlation: &[String],
        fields: Option<&[String]>,
    ) {
        let status = status.unwrap_or(if self.paused() { "paused" } else { "active" });
        let payload = control::status_payload(
            &self.memory(),
            self.config.context_token_limit,
            status,
            fields,
        );
        if self.may_send("participant/status", &payload) {
            self.send("participant/status", to, correlation, payload);
        } else if !self.said_no_status.swap(true, Ordering::Relaxed) {
            println!(
                "run agent {}: may not send participant/status (no capability), so status \
                 requests go unanswered",
                self.me
            );
        }
    }

    /// A reasoning event tied to `reasoning_id` (upstream's `context`, and our correlation).
    fn reasoning_event(&self, kind: &str, reasoning_id: Option<&str>, payload: Value) {
        let Some(rid) = reasoning_id else { return };
        if !self.may_send(kind, &payload) {
            return;
        }
        let mut env = envelope::build(&self.me, kind, &[], &[rid.to_string()], payload);
        env["context"] = json!(rid);
        self.send_env(env);
    }

    /// Remember one exchange, then shrink the history if it nears the context limit.
    fn remember(&self, generation: u64, messages: &[Value]) {
        let limit = self.config.context_token_limit;
        let compacted = {
            let mut memory = self.memory();
            if memory.generation != generation {
                return; // cleared or restarted meanwhile
            }
            for m in messages {
                memory.push(m.clone(), self.config.history_length);
            }
            (memory.tokens() * 100 > limit * 95).then(|| memory.compact_to(limit * 70 / 100))
        };
        if let Some(freed) = compacted {
            println!(
                "run agent {}: history near contextTokenLimit; dropped {} message(s)",
                self.me, freed.messages
            );
            self.send_status(Some("compacted"), &[], &[], None);
        }
    }

    /// Stop the current work if `env` (a `reasoning/cancel` or `chat/cancel`) names it.
    fn cancel_if_current(&self, env: &Value) {
        let corr = envelope::correlation(env);
        let context = env.get("context").and_then(Value::as_str);
        let named = |id: &str| corr.contains(&id) || context == Some(id);
        let hit = match &*lock(&self.current) {
            None => false,
            Some(cur) => {
                // Nothing named at all, but addressed to us: the current work is meant.
                let unnamed = corr.is_empty() && context.is_none();
                named(&cur.chat_id)
                    || cur.reasoning_id.as_deref().is_some_and(named)
                    || (unnamed && envelope::to(env).contains(&self.me.as_str()))
            }
        };
        if hit {
            let who = envelope::from(env).unwrap_or("someone");
            let reason = env
                .pointer("/payload/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(|r| format!("cancelled by {who} ({r})"))
                .unwrap_or_else(|| format!("cancelled by {who}"));
            println!("run agent {}: {reason}", self.me);
            self.cancel.send_replace(Some(reason));
        }
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

/// Run the agent until `shutdown` resolves or a `participant/shutdown` arrives; it rejoins by
/// itself after a gateway restart.
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
    let backend = if opts.config.mock_llm {
        println!("run agent {me}: mockLLM is on; every chat gets a fixed reply, no model is asked");
        Backend::Mock
    } else {
        match &opts.model.api_key {
            None => {
                println!(
                    "run agent {me}: no model is configured (OPENAI_API_KEY is not set); every \
                     chat gets an explanation instead of an answer"
                );
                Backend::Explain(NO_MODEL_ANSWER.to_string())
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
                    Backend::Model(c)
                }
                Err(e) => {
                    println!("run agent {me}: {e}; every chat gets this explanation");
                    Backend::Explain(format!("I cannot ask my model: {e}."))
                }
            },
        }
    };

    let participant = Participant::spawn(opts.participant);
    let (bus, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        me: me.clone(),
        sender: participant.sender(),
        config: opts.config,
        capabilities: Mutex::new(Vec::new()),
        registry: Mutex::new(Registry::default()),
        bus,
        next_rpc_id: AtomicU64::new(1),
        memory: Mutex::new(Memory::default()),
        pause: watch::Sender::new(Pause::default()),
        current: Mutex::new(None),
        cancel: watch::Sender::new(None),
        queue_generation: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
        stop: Mutex::new(Some(stop_tx)),
        said_no_status: AtomicBool::new(false),
    });
    let (chat_tx, chat_rx) = mpsc::unbounded_channel();
    let worker = tokio::spawn(chat_worker(shared.clone(), chat_rx, backend));

    let mut agent = RunAgent {
        shared,
        chats: chat_tx,
        link: LinkLog::default(),
        me,
        gateway,
        space,
    };
    // A `participant/shutdown` stops the loop a moment after its status is queued.
    let asked_to_stop = async move {
        if stop_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_FLUSH).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = asked_to_stop => {}
        }
    };
    mew_client::run(participant, &mut agent, stop).await;
    // A model request or a proposal may be in flight: stopping must not wait for it.
    worker.abort();
    Ok(())
}

/// The agent on its connection: envelopes go to the bus (answers awaited) and `on_envelope`.
struct RunAgent {
    shared: Arc<Shared>,
    chats: mpsc::UnboundedSender<(Value, u64)>,
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
        if !self.shared.stopping.load(Ordering::Relaxed) {
            on_envelope(&self.shared, &env, &self.chats);
        }
        ControlFlow::Continue(())
    }

    fn on_end(&mut self, _end: End) {}
}

fn on_envelope(shared: &Arc<Shared>, env: &Value, chats: &mpsc::UnboundedSender<(Value, u64)>) {
    let me = shared.me.as_str();
    let from = envelope::from(env).unwrap_or("");
    // The gateway relays our own envelopes back to us.
    if from == me {
        return;
    }
    let kind = envelope::kind(env).unwrap_or("");
    if kind.starts_with("participant/") || kind == "reasoning/cancel" || kind == "chat/cancel" {
        if envelope::is_for_me(env, me) {
            on_control(shared, env, kind);
        }
        return;
    }
    match kind {
        "system/welcome" => {
            let payload = env.get("payload").cloned().unwrap_or(Value::Null);
            if let Some(caps) = payload
                .pointer("/you/capabilities")
                .and_then(Value::as_array)
            {
                *lock(&shared.capabilities) = caps.clone();
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
            if !shared.config.auto_respond {
                // Kept as context for later, but not answered (upstream's autoRespond: false).
                let text = env
                    .pointer("/payload/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let generation = shared.memory().generation;
                shared.remember(generation, &[json!({ "role": "user", "content": text })]);
                println!("run agent {me}: autoRespond is off; remembered the chat from {from}");
                return;
            }
            let generation = shared.queue_generation.load(Ordering::Relaxed);
            let _ = chats.send((env.clone(), generation));
        }
        _ => {}
    }
}

/// `participant/*` controls, `reasoning/cancel` and `chat/cancel` addressed to us.
fn on_control(shared: &Arc<Shared>, env: &Value, kind: &str) {
    let from = envelope::from(env).unwrap_or("someone").to_string();
    let id: Vec<String> = envelope::id(env).map(String::from).into_iter().collect();
    let payload = env.get("payload").cloned().unwrap_or(Value::Null);
    let reason = payload
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    let with_reason = |status: &str| match reason {
        Some(r) => format!("{status}:{r}"),
        None => status.to_string(),
    };
    let me = &shared.me;
    match kind {
        "participant/request-status" => {
            let fields: Option<Vec<String>> =
                payload.get("fields").and_then(Value::as_array).map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                });
            shared.send_status(None, &[from], &id, fields.as_deref());
        }
        "participant/pause" => {
            let pause = Pause::from_payload(&payload);
            match pause.until {
                Some(until) => println!(
                    "run agent {me}: paused by {from} for {} s",
                    until
                        .saturating_duration_since(Instant::now())
                        .as_secs_f64()
                        .ceil()
                ),
                None => println!("run agent {me}: paused by {from}"),
            }
            shared.pause.send_replace(pause);
            shared.send_status(Some("paused"), &[], &id, None);
        }
        "participant/resume" => {
            println!("run agent {me}: resumed by {from}");
            shared.pause.send_replace(Pause::default());
            shared.send_status(Some("active"), &[], &id, None);
        }
        "participant/forget" => {
            let newest = payload.get("direction").and_then(Value::as_str) == Some("newest");
            let entries = payload
                .get("entries")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            shared.send_status(Some("compacting"), &[], &id, None);
            let freed = shared.memory().forget(newest, entries);
            println!(
                "run agent {me}: forgot the {} {} message(s) ({from})",
                if newest { "newest" } else { "oldest" },
                freed.messages
            );
            shared.send_status(Some("compacted"), &[], &id, None);
        }
        "participant/compact" => {
            let target = payload.get("target_tokens").and_then(Value::as_u64);
            let freed = {
                let mut memory = shared.memory();
                let target = target.unwrap_or(memory.tokens() / 2);
                memory.compact_to(target)
            };
            println!(
                "run agent {me}: compacted the history by {} message(s) ({from})",
                freed.messages
            );
            let done = json!({
                "freed_tokens": freed.tokens,
                "freed_messages": freed.messages,
                "status": "compacted",
                "skipped": freed.messages == 0,
            });
            if shared.may_send("participant/compact-done", &done) {
                shared.send("participant/compact-done", &[], &id, done);
            }
            shared.send_status(Some("compacted"), &[], &id, None);
        }
        "participant/clear" => {
            let freed = shared.memory().clear();
            println!(
                "run agent {me}: cleared {} message(s) of history ({from})",
                freed.messages
            );
            shared.send_status(Some(&with_reason("cleared")), &[], &id, None);
        }
        "participant/restart" => {
            // Everything back to the start: queued chats, the current work, history, pause.
            shared.queue_generation.fetch_add(1, Ordering::Relaxed);
            if lock(&shared.current).is_some() {
                shared
                    .cancel
                    .send_replace(Some(format!("restarted by {from}")));
            }
            shared.memory().clear();
            shared.pause.send_replace(Pause::default());
            println!("run agent {me}: restarted by {from}");
            shared.send_status(Some(&with_reason("restarted")), &[], &id, None);
        }
        "participant/shutdown" => {
            println!("run agent {me}: shutting down ({from} asked)");
            shared.send_status(Some(&with_reason("shutting_down")), &[], &id, None);
            shared.stopping.store(true, Ordering::Relaxed);
            shared
                .cancel
                .send_replace(Some(format!("shut down by {from}")));
            if let Some(stop) = lock(&shared.stop).take() {
                let _ = stop.send(());
            }
        }
        "reasoning/cancel" | "chat/cancel" => shared.cancel_if_current(env),
        _ => {}
    }
}

/// Ask `owner` for its tools. Most participants are not MCP servers and never answer.
async fn discover(shared: Arc<Shared>, owner: String) {
    shared.wait_active().await;
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
    mut chats: mpsc::UnboundedReceiver<(Value, u64)>,
    backend: Backend,
) {
    while let Some((chat, generation)) = chats.recv().await {
        // Paused: the chat waits in the queue.
        shared.wait_active().await;
        if generation != shared.queue_generation.load(Ordering::Relaxed) {
            continue; // queued before a restart
        }
        let asker = envelope::from(&chat).unwrap_or_default().to_string();
        let chat_id = envelope::id(&chat).unwrap_or_default().to_string();
        let text = chat
            .pointer("/payload/text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let correlation: Vec<String> = Some(chat_id.clone())
            .filter(|c| !c.is_empty())
            .into_iter()
            .collect();
        let ack = json!({ "status": "processing" });
        if !correlation.is_empty() && shared.may_send("chat/acknowledge", &ack) {
            shared.send(
                "chat/acknowledge",
                std::slice::from_ref(&asker),
                &correlation,
                ack,
            );
        }
        let answer = match &backend {
            Backend::Explain(sentence) => sentence.clone(),
            backend => {
                shared.cancel.send_replace(None);
                *lock(&shared.current) = Some(Current {
                    chat_id: chat_id.clone(),
                    reasoning_id: None,
                });
                let (answer, calls) = converse(&shared, backend, &text, &chat_id).await;
                *lock(&shared.current) = None;
                println!(
                    "run agent {}: answered {asker} after {calls} model call(s)",
                    shared.me
                );
                answer
            }
        };
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        shared.wait_active().await;
        shared.send("chat", &[asker], &correlation, json!({ "text": answer }));
    }
}

/// How the model loop for one question ended.
struct Thought {
    answer: String,
    calls: u32,
    /// A real answer (not an error sentence): worth remembering.
    remember: bool,
}

/// One question, from `reasoning/start` to `reasoning/conclusion`: returns the answer and how
/// many model calls it took. A cancellation ends it at once.
async fn converse(
    shared: &Shared,
    backend: &Backend,
    question: &str,
    chat_id: &str,
) -> (String, u32) {
    let start = json!({
        "message": format!("Thinking about: {}", preview(question, 200)),
        "input": question,
    });
    let reasoning = shared.config.reasoning && shared.may_send("reasoning/start", &start);
    let reasoning_id = reasoning.then(|| {
        let corr: Vec<String> = vec![chat_id.to_string()];
        shared.send("reasoning/start", &[], &corr, start)
    });
    if let Some(cur) = lock(&shared.current).as_mut() {
        cur.reasoning_id = reasoning_id.clone();
    }
    let generation = shared.memory().generation;
    let history = shared.memory().snapshot();
    let rid = reasoning_id.as_deref();
    let (answer, calls, cancelled) = tokio::select! {
        t = think(shared, backend, history, question, rid) => {
            if t.remember {
                shared.remember(generation, &[
                    json!({ "role": "user", "content": question }),
                    json!({ "role": "assistant", "content": t.answer }),
                ]);
            }
            (t.answer, t.calls, None)
        }
        reason = shared.cancelled() => {
            (format!("I stopped working on this: {reason}."), 0, Some(reason))
        }
    };
    let mut done = json!({ "message": preview(&answer, 200) });
    if let Some(reason) = cancelled {
        done["cancelled"] = json!(true);
        done["reason"] = json!(reason);
    }
    shared.reasoning_event("reasoning/conclusion", rid, done);
    (answer, calls)
}

/// The model loop: one `reasoning/thought` per step (each tool call, and the final answer).
async fn think(
    shared: &Shared,
    backend: &Backend,
    history: Vec<Value>,
    question: &str,
    rid: Option<&str>,
) -> Thought {
    let config = &shared.config;
    let mut messages = vec![json!({ "role": "system", "content": config.system_prompt })];
    messages.extend(history);
    messages.push(json!({ "role": "user", "content": question }));

    let mut calls = 0;
    while calls < config.max_iterations {
        shared.wait_active().await;
        calls += 1;
        let catalog = shared.registry().catalog();
        let reply = match backend {
            Backend::Model(client) => match client.complete(&messages, &catalog.functions).await {
                Ok(r) => r,
                Err(sentence) => {
                    println!("run agent {}: {sentence}", shared.me);
                    return Thought {
                        answer: sentence,
                        calls,
                        remember: false,
                    };
                }
            },
            Backend::Mock => openai::Reply {
                message: json!({}),
                text: Some(mock_answer(question)),
                tool_calls: Vec::new(),
            },
            Backend::Explain(sentence) => {
                return Thought {
                    answer: sentence.clone(),
                    calls: 0,
                    remember: false,
                }
            }
        };
        if reply.tool_calls.is_empty() {
            let text = reply
                .text
                .unwrap_or_else(|| "(The model returned an empty answer.)".into());
            shared.reasoning_event(
                "reasoning/thought",
                rid,
                json!({ "reasoning": preview(&text, 500), "action": "respond" }),
            );
            return Thought {
                answer: text,
                calls,
                remember: true,
            };
        }
        let mut assistant = reply.message.clone();
        assistant["role"] = json!("assistant");
        messages.push(assistant);
        for call in &reply.tool_calls {
            let target = catalog
                .targets
                .get(&call.name)
                .map(|(owner, tool)| format!("{owner}/{tool}"))
                .unwrap_or_else(|| call.name.clone());
            let reasoning = reply
                .text
                .clone()
                .unwrap_or_else(|| format!("Calling {target}"));
            let arguments = openai::arguments_object(&call.arguments).unwrap_or(Value::Null);
            shared.reasoning_event(
                "reasoning/thought",
                rid,
                json!({
                    "reasoning": preview(&reasoning, 500),
                    "action": "tool",
                    "actionInput": { "tool": target, "arguments": arguments },
                }),
            );
            shared.wait_active().await;
            let result = call_tool(shared, &catalog, call).await;
            messages.push(json!({ "role": "tool", "tool_call_id": call.id, "content": result }));
        }
    }
    Thought {
        answer: format!(
            "I stopped after {} model calls (maxIterations) without reaching an answer.",
            config.max_iterations
        ),
        calls,
        remember: false,
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
