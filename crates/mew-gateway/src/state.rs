//! Gateway state: spaces, their participant registries and streams, tokens and capabilities.
//! All of it sits behind one mutex held only for short sections: routing (`route`) and queuing
//! its effects (`effect::apply`).
use super::logs::{Console, LogSink, LogSwitches};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use indexmap::IndexMap;
use mew_space::config::lenient::{GatewayConfig, ParticipantConfig};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{mpsc, Notify};

/// Outbound messages a connection may have queued before it counts as not reading.
pub const OUTBOUND_QUEUE: usize = 16_384;
/// Outbound bytes a connection may have queued before it counts as not reading (a single
/// larger message is still accepted into an empty queue). All queues together are bounded by
/// `limits::TOTAL_OUTBOUND`.
pub const OUTBOUND_BYTES: usize = 24 << 20;

/// Bytes of outbound message text alive in the process (queued, or being written), each
/// message counted once however many queues share it.
static OUTBOUND_LIVE: AtomicUsize = AtomicUsize::new(0);

pub fn outbound_live() -> usize {
    OUTBOUND_LIVE.load(Ordering::Relaxed)
}

/// Message text that takes itself off `OUTBOUND_LIVE` when its last sharer lets go of it.
struct Counted(String);

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        OUTBOUND_LIVE.fetch_sub(self.0.len(), Ordering::Relaxed);
    }
}

/// Outbound text, counted against the gateway's total outbound budget while it is alive.
pub fn counted(s: String) -> Utf8Bytes {
    OUTBOUND_LIVE.fetch_add(s.len(), Ordering::Relaxed);
    let bytes = bytes::Bytes::from_owner(Counted(s));
    // Always valid: it was a String.
    Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from_static(""))
}

/// Every live connection, for finding the slowest one when the total budget is exceeded.
#[derive(Default)]
pub struct ConnList(Mutex<HashMap<u64, std::sync::Weak<Conn>>>);

impl ConnList {
    fn all(&self) -> Vec<Arc<Conn>> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.values().filter_map(std::sync::Weak::upgrade).collect()
    }
}

/// The shared gateway.
pub struct Gateway {
    pub state: Mutex<State>,
    pub logs: LogSink,
    pub console: Console,
    /// Replaced by a reload (SIGHUP), always while the state lock is held, so a routing step
    /// that reads it after taking the state lock sees the configuration its state matches.
    config: RwLock<Option<Arc<GatewayConfig>>>,
    /// Reloads applied, and the last one's error (a reload that fails keeps the old config).
    pub reloads: AtomicU64,
    pub reload_error: Mutex<Option<String>>,
    pub mew_dir: PathBuf,
    pub port: AtomicU16,
    pub started: Instant,
    next_conn: AtomicU64,
    conns: Arc<ConnList>,
}

impl Gateway {
    pub fn new(
        config: Option<GatewayConfig>,
        mew_dir: PathBuf,
        logs: LogSink,
        console: Console,
    ) -> Gateway {
        Gateway {
            state: Mutex::new(State::default()),
            logs,
            console,
            config: RwLock::new(config.map(Arc::new)),
            reloads: AtomicU64::new(0),
            reload_error: Mutex::new(None),
            mew_dir,
            port: AtomicU16::new(0),
            started: Instant::now(),
            next_conn: AtomicU64::new(1),
            conns: Arc::new(ConnList::default()),
        }
    }

    /// Lock the state; a poisoned lock (a panic elsewhere) still yields the data.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current configuration (None: space.yaml could not be read at start).
    pub fn config(&self) -> Option<Arc<GatewayConfig>> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Install a reloaded configuration; the caller holds the state lock (see `config`).
    pub fn set_config(&self, config: GatewayConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(config));
    }

    /// What routing reads besides the state, with `config` from [`Gateway::config`].
    pub fn ctx<'a>(&self, config: Option<&'a GatewayConfig>) -> Ctx<'a> {
        Ctx {
            config,
            switches: self.logs.switches,
            port: self.port.load(Ordering::Relaxed),
            debug: self.console.debug_enabled(),
        }
    }

    pub fn default_space(&self) -> String {
        // The space id is not reloadable (the runner recreates the gateway when it changes).
        self.ctx(self.config().as_deref()).default_space()
    }

    /// A new connection and the receiving end of its outbound queue.
    pub fn new_conn(&self) -> (Arc<Conn>, Outbound) {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let conn = Arc::new(Conn {
            serial: self.next_conn.fetch_add(1, Ordering::Relaxed),
            tx,
            queued: queued.clone(),
            kill: Notify::new(),
            dropping: AtomicU8::new(KEEP),
            closing: AtomicBool::new(false),
            list: self.conns.clone(),
        });
        self.conns
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.serial, Arc::downgrade(&conn));
        (conn, Outbound { rx, queued })
    }
}

/// What routing reads besides the state: the configuration and settings fixed at start-up.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub config: Option<&'a GatewayConfig>,
    /// Which log records to produce.
    pub switches: LogSwitches,
    /// The gateway's port (invites name it in their connection URL).
    pub port: u16,
    /// Whether per-message debug lines are wanted.
    pub debug: bool,
}

impl<'a> Ctx<'a> {
    /// The space joins and posts land in when they name none.
    pub fn default_space(&self) -> String {
        self.config
            .and_then(|c| c.space_id.clone())
            .unwrap_or_else(|| "default".to_string())
    }

    pub fn participant_config(&self, id: &str) -> Option<&'a ParticipantConfig> {
        self.config.and_then(|c| c.participants.get(id))
    }

    pub fn default_capabilities(&self) -> Option<&'a Vec<Value>> {
        self.config.and_then(|c| c.default_capabilities.as_ref())
    }

    /// A config participant's own list, else the space's defaults (before the baseline).
    pub fn config_capabilities(&self, pc: &ParticipantConfig) -> Vec<Value> {
        pc.capabilities
            .clone()
            .or_else(|| self.default_capabilities().cloned())
            .unwrap_or_default()
    }
}

/// The writer's end of a connection's outbound queue.
pub struct Outbound {
    rx: mpsc::Receiver<Message>,
    queued: Arc<AtomicUsize>,
}

impl Outbound {
    pub async fn recv(&mut self) -> Option<Message> {
        let m = self.rx.recv().await?;
        self.queued.fetch_sub(weight(&m), Ordering::Relaxed);
        Some(m)
    }

    pub fn try_recv(&mut self) -> Option<Message> {
        let m = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(weight(&m), Ordering::Relaxed);
        Some(m)
    }
}

fn weight(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// Why a connection is being dropped (`Conn::dropping`).
const KEEP: u8 = 0;
const QUEUE_FULL: u8 = 1;
const OVER_BUDGET: u8 = 2;

/// A WebSocket connection as routing sees it: a queue bounded in messages and in bytes.
pub struct Conn {
    pub serial: u64,
    tx: mpsc::Sender<Message>,
    queued: Arc<AtomicUsize>,
    pub kill: Notify,
    dropping: AtomicU8,
    /// Set by `close_with`: nothing more is queued after the close frame.
    closing: AtomicBool,
    list: Arc<ConnList>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut g = self.list.0.lock().unwrap_or_else(|e| e.into_inner());
        g.remove(&self.serial);
    }
}

impl Conn {
    /// Queue a message without waiting. A full queue means the client stopped reading: it is
    /// dropped (its task is told to close) rather than allowed to stall everyone else.
    pub fn push(&self, msg: Message) -> bool {
        if self.closing.load(Ordering::Relaxed) {
            return false;
        }
        self.enqueue(msg)
    }

    /// Send `last` (an error saying why), then a close frame, and end the connection's task:
    /// a refused or replaced socket must not stay open without a registration.
    pub fn close_with(&self, last: Message, code: u16, reason: &'static str) {
        if self.closing.swap(true, Ordering::Relaxed) {
            return;
        }
        self.enqueue(last);
        self.enqueue(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })));
        self.kill.notify_one();
    }

    fn enqueue(&self, msg: Message) -> bool {
        if self.is_dropping() {
            return false;
        }
        let w = weight(&msg);
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued + w > OUTBOUND_BYTES {
            self.drop_client(QUEUE_FULL);
            return false;
        }
        if outbound_live() > crate::limits::TOTAL_OUTBOUND {
            self.shed();
            if self.is_dropping() {
                return false;
            }
        }
        // Counted before sending so the writer's decrement can never run first.
        self.queued.fetch_add(w, Ordering::Relaxed);
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(w, Ordering::Relaxed);
                if let mpsc::error::TrySendError::Full(_) = e {
                    self.drop_client(QUEUE_FULL);
                }
                false
            }
        }
    }

    /// Over the total outbound budget: drop the connection with the most queued, unless the
    /// ones already being dropped will free enough.
    fn shed(&self) {
        let all = self.list.all();
        let releasing: usize = all
            .iter()
            .filter(|c| c.is_dropping())
            .map(|c| c.queued.load(Ordering::Relaxed))
            .sum();
        if outbound_live().saturating_sub(releasing) <= crate::limits::TOTAL_OUTBOUND {
            return;
        }
        let slowest = all
            .iter()
            .filter(|c| !c.is_dropping())
            .max_by_key(|c| c.queued.load(Ordering::Relaxed));
        if let Some(c) = slowest.filter(|c| c.queued.load(Ordering::Relaxed) > 0) {
            c.drop_client(OVER_BUDGET);
        }
    }

    fn drop_client(&self, why: u8) {
        if self
            .dropping
            .compare_exchange(KEEP, why, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.kill.notify_one();
        }
    }

    pub fn is_dropping(&self) -> bool {
        self.dropping.load(Ordering::Relaxed) != KEEP
    }

    /// For the console warning when the connection is dropped.
    pub fn drop_reason(&self) -> &'static str {
        match self.dropping.load(Ordering::Relaxed) {
            OVER_BUDGET => "it is not reading its messages and the gateway's outbound buffers are full (it had the most queued)",
            _ => "it is not reading its messages (outbound queue full)",
        }
    }
}

/// A virtual participant (§7.5): deliveries are appended to a file.
pub struct VirtualSink {
    pub path: PathBuf,
    file: Mutex<Option<File>>,
}

impl VirtualSink {
    pub fn new(path: PathBuf) -> VirtualSink {
        VirtualSink {
            path,
            file: Mutex::new(None),
        }
    }

    /// Append one line; failures are reported to the caller.
    pub fn append(&self, text: &str) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            *guard = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        match guard.as_mut() {
            Some(f) => f.write_all(line.as_bytes()),
            None => Ok(()),
        }
    }
}

#[derive(Clone)]
pub enum Endpoint {
    Socket(Arc<Conn>),
    Virtual(Arc<VirtualSink>),
}

impl Endpoint {
    pub fn is_virtual(&self) -> bool {
        matches!(self, Endpoint::Virtual(_))
    }
}

/// Who a connection has joined as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    pub space: String,
    pub id: String,
}

/// An open stream (§3.7).
pub struct Stream {
    pub owner: String,
    pub writers: Vec<String>,
    pub created: String,
    /// The original `stream/request` payload, in its key order.
    pub request: Map<String, Value>,
    /// Non-empty when the stream is targeted (t5d).
    pub target: Vec<String>,
}

#[derive(Default)]
pub struct Space {
    /// Participant id → endpoint, in first-registration order. The ids are shared: every
    /// delivery effect names its recipient.
    pub registry: IndexMap<Arc<str>, Endpoint>,
    pub streams: IndexMap<String, Stream>,
    pub counter: u64,
}

/// A static capability list with its serialisation cached (it goes into every decision record).
#[derive(Clone, Debug)]
pub struct Caps {
    pub list: Vec<Value>,
    pub json: String,
}

impl Caps {
    pub fn new(list: Vec<Value>) -> Caps {
        let json = Value::Array(list.clone()).to_string();
        Caps { list, json }
    }
}

#[derive(Default)]
pub struct State {
    pub spaces: HashMap<String, Space>,
    /// Logical name → token: token files/env for config participants, plus invites.
    pub token_map: IndexMap<String, String>,
    /// Participant id → token remembered for HTTP auth (config `tokens[0]` or last WS join).
    pub participant_tokens: HashMap<String, String>,
    pub static_caps: HashMap<String, Caps>,
    /// Participant id → grant id → granted capabilities, in insertion order.
    pub dynamic: HashMap<String, IndexMap<String, Vec<Value>>>,
    /// Capabilities of invited participants, kept for the process lifetime (spec: R).
    pub invited: HashMap<String, Caps>,
}

impl State {
    pub fn space_mut(&mut self, id: &str) -> &mut Space {
        self.spaces.entry(id.to_string()).or_default()
    }

    /// The logical name whose token-map token equals `token`.
    pub fn name_for_token(&self, token: &str) -> Option<&str> {
        self.token_map
            .iter()
            .find(|(_, t)| t.as_str() == token)
            .map(|(n, _)| n.as_str())
    }

    /// Static list, then dynamic grants in insertion order.
    pub fn effective(&self, id: &str) -> (Vec<&Value>, usize) {
        let mut list: Vec<&Value> = Vec::new();
        if let Some(c) = self.static_caps.get(id) {
            list.extend(c.list.iter());
        }
        let n_static = list.len();
        if let Some(grants) = self.dynamic.get(id) {
            for caps in grants.values() {
                list.extend(caps.iter());
            }
        }
        (list, n_static)
    }

    pub fn static_json(&self, id: &str) -> &str {
        self.static_caps
            .get(id)
            .map(|c| c.json.as_str())
            .unwrap_or("[]")
    }

    /// The participant's static capabilities as a JSON array (`[]` when it has none).
    pub fn static_value(&self, id: &str) -> Value {
        self.static_caps
            .get(id)
            .map(|c| Value::Array(c.list.clone()))
            .unwrap_or_else(|| Value::Array(Vec::new()))
    }

    pub fn effective_value(&self, id: &str) -> Value {
        Value::Array(self.effective(id).0.into_iter().cloned().collect())
    }
}

/// Text frame for a serialised message (shared among recipients without copying).
pub fn text(s: String) -> Message {
    Message::Text(counted(s))
}
