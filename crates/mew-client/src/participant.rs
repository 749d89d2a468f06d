//! One MEW participant's WebSocket connection: connect, join, relay, and reconnect with
//! exponential backoff whenever the gateway goes away (or is not up yet), rejoining each time.
//! Shared by `mew client connect`, the built-in agents and the benchmark.
use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use mew_protocol::envelope;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// Bound on one connect + WebSocket handshake. A SYN dropped while the engine rewrites its
/// firewall rules would otherwise hang for the kernel's two-minute connect timeout instead of
/// being retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ParticipantOptions {
    /// Gateway URL: `ws://host:port[/path]` (`http://` is accepted and treated as `ws://`).
    pub gateway: String,
    pub space: String,
    pub participant_id: String,
    pub token: Option<String>,
}

#[derive(Debug, Error)]
pub enum UrlError {
    #[error("invalid gateway URL `{0}`: expected ws://HOST:PORT")]
    Invalid(String),
    #[error("gateway URL `{0}`: TLS (wss://) is not supported; use ws://")]
    Tls(String),
}

/// Normalise a gateway URL: `ws://` stays, `http://` becomes `ws://`, no scheme gets `ws://`.
pub fn normalize_url(raw: &str) -> Result<String, UrlError> {
    let raw = raw.trim();
    let url = if let Some(rest) = raw.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if raw.starts_with("wss://") || raw.starts_with("https://") {
        return Err(UrlError::Tls(raw.to_string()));
    } else if raw.starts_with("ws://") {
        raw.to_string()
    } else if raw.contains("://") {
        return Err(UrlError::Invalid(raw.to_string()));
    } else {
        format!("ws://{raw}")
    };
    let host = url
        .trim_start_matches("ws://")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    if host.is_empty() {
        return Err(UrlError::Invalid(raw.to_string()));
    }
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    url.as_str()
        .into_client_request()
        .map_err(|_| UrlError::Invalid(raw.to_string()))?;
    Ok(url)
}

/// What the connection reports to its owner.
#[derive(Debug, Clone)]
pub enum Event {
    /// Connected and the join was sent (first time and after every reconnect).
    Joined,
    /// A JSON message from the gateway (envelope, welcome, presence, error).
    Envelope(Value),
    /// A text message that is not JSON (stream data frames `#id#data`).
    Text(String),
    /// The connection dropped or could not be made; a reconnect follows.
    Disconnected(String),
}

/// What a long-running participant (agent, bridge) should say about its connection, so its log
/// shows it is alive without a line per retry: each join, each loss of a joined connection, and
/// the first reason a join is still waiting for (a gateway name that does not resolve, nothing
/// answering), which is what someone reading the log of a participant that never joined needs.
#[derive(Debug, Default)]
pub struct LinkLog {
    connected: bool,
    told_waiting: bool,
}

/// A line for `LinkLog`'s owner to print, in its own words.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkNote<'a> {
    /// A joined connection was lost: reconnecting.
    Lost(&'a str),
    /// Not joined yet, for this reason: retrying (said once).
    Waiting(&'a str),
}

impl LinkLog {
    pub fn joined(&mut self) {
        self.connected = true;
    }

    pub fn disconnected<'a>(&mut self, reason: &'a str) -> Option<LinkNote<'a>> {
        let note = if self.connected {
            Some(LinkNote::Lost(reason))
        } else if !self.told_waiting {
            self.told_waiting = true;
            Some(LinkNote::Waiting(reason))
        } else {
            None
        };
        self.connected = false;
        note
    }

    /// `disconnected`, as the line `who` (e.g. "echo agent a1") prints, if any.
    pub fn disconnected_line(&mut self, who: &str, reason: &str) -> Option<String> {
        self.disconnected(reason).map(|note| match note {
            LinkNote::Lost(r) => format!("{who} disconnected ({r}); reconnecting"),
            LinkNote::Waiting(r) => format!("{who}: {r}; retrying"),
        })
    }
}

/// Queue outgoing messages. Messages queued while disconnected are sent after the next join.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::UnboundedSender<String>,
}

impl Sender {
    /// Queue an envelope; false once the connection task has ended.
    pub fn send(&self, env: &Value) -> bool {
        self.tx.send(env.to_string()).is_ok()
    }

    /// Queue raw text (a pre-serialised envelope or a stream frame).
    pub fn send_text(&self, text: String) -> bool {
        self.tx.send(text).is_ok()
    }
}

/// A running participant connection.
pub struct Participant {
    pub id: String,
    sender: Sender,
    events: mpsc::UnboundedReceiver<Event>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Participant {
    /// Start connecting in the background; never fails (a bad URL or a down gateway shows up as
    /// `Event::Disconnected` and a retry). Validate URLs with `normalize_url` first.
    pub fn spawn(opts: ParticipantOptions) -> Participant {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (sd_tx, sd_rx) = watch::channel(false);
        let id = opts.participant_id.clone();
        let task = tokio::spawn(run(opts, out_rx, ev_tx, sd_rx));
        Participant {
            id,
            sender: Sender { tx: out_tx },
            events: ev_rx,
            shutdown: sd_tx,
            task,
        }
    }

    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Next event; `None` once the connection task has ended.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Close the socket politely and stop reconnecting; bounded so that shutdown stays prompt.
    pub async fn close(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_millis(500), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

async fn run(
    opts: ParticipantOptions,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    events: mpsc::UnboundedSender<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    let url = normalize_url(&opts.gateway).unwrap_or_else(|_| opts.gateway.clone());
    let join = envelope::join(&opts.participant_id, &opts.space, opts.token.as_deref()).to_string();
    let mut backoff = BACKOFF_START;
    // Messages taken from the queue but not written because the socket failed: sent first after
    // the next join, so nothing the owner queued is silently dropped.
    let mut unsent: VecDeque<String> = VecDeque::new();
    let mut outgoing_open = true;

    loop {
        if *shutdown.borrow() {
            return;
        }
        let connected = tokio::select! {
            r = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio_tungstenite::connect_async_with_config(
                    url.as_str(),
                    Some(crate::client_ws_config()),
                    true,
                ),
            ) => r,
            _ = shutdown.changed() => return,
        };
        let failure = match connected {
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        let ws = match failure {
            Ok(ws) => ws,
            Err(e) => {
                let _ = events.send(Event::Disconnected(format!("cannot connect to {url}: {e}")));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
                continue;
            }
        };
        let (mut sink, mut stream) = ws.split();
        let connected_at = std::time::Instant::now();
        let joined = sink.send(Message::text(join.clone())).await;
        if joined.is_ok() {
            let _ = events.send(Event::Joined);
        }

        let mut failed = joined.err().map(|e| format!("join failed: {e}"));
        while failed.is_none() {
            let Some(text) = unsent.pop_front() else {
                break;
            };
            if let Err(e) = sink.send(Message::text(text.clone())).await {
                unsent.push_front(text);
                failed = Some(format!("send failed: {e}"));
                break;
            }
        }

        // Why the gateway is about to close us (a refused or replaced join), if it said so.
        let mut said: Option<String> = None;
        let reason = match failed {
            Some(reason) => reason,
            None => loop {
                tokio::select! {
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Text(t))) => {
                            said = deliver(&events, t.as_str()).or(said);
                        }
                        Some(Ok(Message::Binary(b))) => {
                            said = deliver(&events, &String::from_utf8_lossy(&b)).or(said);
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            break said.take().unwrap_or_else(|| "connection closed".to_string())
                        }
                        Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                        Some(Err(e)) => {
                            break said.take().unwrap_or_else(|| format!("connection lost: {e}"))
                        }
                    },
                    out = outgoing.recv(), if outgoing_open => match out {
                        Some(text) => {
                            if let Err(e) = sink.send(Message::text(text.clone())).await {
                                unsent.push_back(text);
                                break format!("send failed: {e}");
                            }
                        }
                        // Every sender is gone: keep receiving.
                        None => outgoing_open = false,
                    },
                    _ = shutdown.changed() => {
                        let _ = tokio::time::timeout(Duration::from_millis(200), sink.close()).await;
                        return;
                    }
                }
            },
        };
        let _ = events.send(Event::Disconnected(reason));
        // A connection that lived a while starts the backoff over; one that drops at once (a
        // gateway shutting down) must not make us spin.
        if connected_at.elapsed() > Duration::from_secs(2) {
            backoff = BACKOFF_START;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_CAP);
    }
}

/// Hand a message to the owner; returns the gateway's reason when it is closing this
/// connection.
fn deliver(events: &mpsc::UnboundedSender<Event>, text: &str) -> Option<String> {
    let event = match serde_json::from_str::<Value>(text) {
        Ok(v) => Event::Envelope(v),
        Err(_) => Event::Text(text.to_string()),
    };
    let reason = match &event {
        Event::Envelope(v) => closing_reason(v),
        _ => None,
    };
    let _ = events.send(event);
    reason
}

/// The gateway's `system/error` before it closes a socket: a refused join (wrong or missing
/// token) or a newer connection under the same id. Its message beats "connection closed".
fn closing_reason(v: &Value) -> Option<String> {
    let p = &v["payload"];
    let closing = matches!(p["error"].as_str(), Some("join_refused" | "replaced"));
    if v["kind"] != "system/error" || !closing {
        return None;
    }
    Some(p["message"].as_str().unwrap_or("join refused").to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_log_says_each_loss_and_the_first_wait_only() {
        let mut log = LinkLog::default();
        assert_eq!(log.disconnected("a"), Some(LinkNote::Waiting("a")));
        assert_eq!(log.disconnected("b"), None);
        log.joined();
        assert_eq!(log.disconnected("c"), Some(LinkNote::Lost("c")));
        assert_eq!(log.disconnected("d"), None);
        log.joined();
        assert_eq!(log.disconnected("e"), Some(LinkNote::Lost("e")));
    }

    #[test]
    fn disconnected_lines_name_the_participant() {
        let mut log = LinkLog::default();
        assert_eq!(
            log.disconnected_line("bridge b1", "refused").as_deref(),
            Some("bridge b1: refused; retrying")
        );
        assert_eq!(log.disconnected_line("bridge b1", "refused"), None);
        log.joined();
        assert_eq!(
            log.disconnected_line("bridge b1", "closed").as_deref(),
            Some("bridge b1 disconnected (closed); reconnecting")
        );
    }

    use super::*;

    #[test]
    fn a_refused_or_replaced_join_is_the_disconnect_reason() {
        let refused = serde_json::json!({"kind":"system/error","payload":{"error":"join_refused","message":"join as x refused: no token"}});
        assert_eq!(
            closing_reason(&refused).as_deref(),
            Some("join as x refused: no token")
        );
        let replaced =
            serde_json::json!({"kind":"system/error","payload":{"error":"replaced","message":"m"}});
        assert_eq!(closing_reason(&replaced).as_deref(), Some("m"));
        let other =
            serde_json::json!({"kind":"system/error","payload":{"error":"capability_violation"}});
        assert_eq!(closing_reason(&other), None);
        let chat = serde_json::json!({"kind":"chat","payload":{"error":"join_refused"}});
        assert_eq!(closing_reason(&chat), None);
    }

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalize_url("ws://localhost:8080").ok().as_deref(),
            Some("ws://localhost:8080")
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:9/x").ok().as_deref(),
            Some("ws://127.0.0.1:9/x")
        );
        assert_eq!(
            normalize_url("gateway:8080").ok().as_deref(),
            Some("ws://gateway:8080")
        );
        assert!(matches!(normalize_url("wss://h:1"), Err(UrlError::Tls(_))));
        assert!(matches!(
            normalize_url("ftp://h:1"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(normalize_url("ws://"), Err(UrlError::Invalid(_))));
    }

    /// A tiny WebSocket server on loopback: records what it receives and can push messages.
    async fn one_shot_server() -> (
        u16,
        mpsc::UnboundedReceiver<String>,
        mpsc::UnboundedSender<String>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    m = stream.next() => match m {
                        Some(Ok(Message::Text(t))) => { let _ = seen_tx.send(t.to_string()); }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    p = push_rx.recv() => match p {
                        Some(p) => { let _ = sink.send(Message::text(p)).await; }
                        None => return,
                    },
                }
            }
        });
        (port, seen_rx, push_tx)
    }

    #[tokio::test]
    async fn joins_sends_and_receives() {
        let (port, mut seen, push) = one_shot_server().await;
        let mut p = Participant::spawn(ParticipantOptions {
            gateway: format!("ws://127.0.0.1:{port}"),
            space: "s1".into(),
            participant_id: "me".into(),
            token: Some("tok".into()),
        });
        // Queued before the connection exists: must still go out, after the join.
        p.sender().send(&envelope::chat("me", "hello"));
        let wait = Duration::from_secs(5);
        let first = tokio::time::timeout(wait, seen.recv()).await.ok().flatten();
        assert_eq!(
            first.as_deref(),
            Some(r#"{"type":"join","participantId":"me","space":"s1","token":"tok"}"#)
        );
        let second = tokio::time::timeout(wait, seen.recv()).await.ok().flatten();
        assert!(second.unwrap_or_default().contains(r#""text":"hello""#));
        push.send(r#"{"kind":"chat","from":"x"}"#.into()).ok();
        push.send("#s-1#data".into()).ok();
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(wait, p.next_event()).await {
                Ok(Some(e)) => got.push(e),
                _ => break,
            }
        }
        assert!(matches!(got[0], Event::Joined));
        assert!(matches!(&got[1], Event::Envelope(v) if v["from"] == "x"));
        assert!(matches!(&got[2], Event::Text(t) if t == "#s-1#data"));
        p.close().await;
    }
}
