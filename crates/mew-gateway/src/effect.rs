//! What routing asks the transports to do (`Effect`), and the one place that does it (`apply`).
//!
//! `route` decides; this module only queues frames, closes sockets, appends log records and
//! files, and hands back the HTTP answer. Effects are applied in the order routing produced
//! them with the state lock still held, so deliveries keep the order of the state changes that
//! caused them (socket pushes and log records only queue; an invite's token file is written
//! there too); appends to virtual participants' files wait until the lock is released.
use super::logs::envelope_record;
use super::state::{counted, text, Conn, Endpoint, Gateway, State, VirtualSink};
use axum::extract::ws::{Message, Utf8Bytes};
use serde_json::{Map, Value};
use std::sync::{Arc, MutexGuard};

/// One thing routing wants done.
pub enum Effect {
    /// Queue an envelope to participant `to` (a socket's queue, or a virtual participant's
    /// file); its `delivered` record is appended when it went out. `msg` is shared by all the
    /// recipients of one message.
    Deliver {
        to: Arc<str>,
        ep: Endpoint,
        msg: Arc<Delivery>,
    },
    /// Queue a stream data frame as it came in (text or binary) to a socket; never logged.
    Frame {
        to: Arc<str>,
        conn: Arc<Conn>,
        msg: Message,
    },
    /// Queue a message to a connection that has no registration for it (errors to the
    /// sender's own socket, e.g. before it joined).
    Reply { conn: Arc<Conn>, text: String },
    /// Send `last`, then close the connection with `code` and `reason`.
    Close {
        conn: Arc<Conn>,
        last: String,
        code: u16,
        reason: &'static str,
    },
    /// The answer to the HTTP request being routed: status and JSON body.
    Answer { status: u16, body: String },
    /// A record for the JSONL logs.
    Log(Record),
    /// Save an invited participant's token to its token file.
    SaveToken { id: String, token: String },
    /// A console line.
    Console(Level, String),
}

/// A message serialised once, with the id used in log records.
#[derive(Clone)]
pub struct Outgoing {
    pub text: Utf8Bytes,
    pub id_json: String,
}

impl Outgoing {
    pub fn new(v: &Value) -> Outgoing {
        Outgoing {
            text: counted(v.to_string()),
            id_json: v.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
    pub fn from_map(m: &Map<String, Value>) -> Outgoing {
        Outgoing {
            text: counted(serde_json::to_string(m).unwrap_or_default()),
            id_json: m.get("id").map(Value::to_string).unwrap_or_default(),
        }
    }
    /// The id as a log record's `id` (none when the message has none, or a null one).
    pub fn log_id(&self) -> Option<&str> {
        (!self.id_json.is_empty() && self.id_json != "null").then_some(self.id_json.as_str())
    }
}

/// An envelope serialised once, and how its deliveries are logged (`None`: they are not).
pub struct Delivery {
    pub msg: Outgoing,
    pub log: Option<DeliveryLog>,
}

pub struct DeliveryLog {
    pub space: String,
    /// Raw JSON for the record's `metadata`.
    pub meta: String,
    /// Logged under this name instead of the recipient's id ([U] grant updates over WS).
    pub as_name: Option<String>,
}

pub enum Record {
    /// A complete envelope-history record.
    Envelope(String),
    /// The `received` record of an inbound envelope, built when there is room for it (boxed:
    /// it would make every effect this big).
    Received(Box<Received>),
    /// A complete capability-decision record.
    Decision(String),
}

pub struct Received {
    pub msg: Outgoing,
    pub from: String,
    pub space: String,
    pub transport: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Do `effects` in order (see the module comment) and release `st`; returns the HTTP answer
/// if routing gave one.
pub fn apply(
    gw: &Gateway,
    st: MutexGuard<'_, State>,
    effects: Vec<Effect>,
) -> Option<(u16, String)> {
    let mut appends: Vec<(Arc<VirtualSink>, Utf8Bytes)> = Vec::new();
    let mut answer = None;
    for effect in effects {
        match effect {
            Effect::Deliver { to, ep, msg } => {
                let sent = match &ep {
                    Endpoint::Socket(conn) => conn.push(Message::Text(msg.msg.text.clone())),
                    Endpoint::Virtual(sink) => {
                        appends.push((sink.clone(), msg.msg.text.clone()));
                        true
                    }
                };
                if let (true, Some(log)) = (sent, &msg.log) {
                    log_delivered(gw, &msg.msg, log.as_name.as_deref().unwrap_or(&to), log);
                }
            }
            Effect::Frame { conn, msg, .. } => {
                conn.push(msg);
            }
            Effect::Reply { conn, text: t } => {
                conn.push(text(t));
            }
            Effect::Close {
                conn,
                last,
                code,
                reason,
            } => conn.close_with(text(last), code, reason),
            Effect::Answer { status, body } => answer = Some((status, body)),
            Effect::Log(Record::Envelope(r)) => gw.logs.envelope(r),
            Effect::Log(Record::Decision(r)) => gw.logs.decision(r),
            Effect::Log(Record::Received(r)) => {
                let Received {
                    msg,
                    from,
                    space,
                    transport,
                } = *r;
                let id = msg.log_id();
                gw.logs.envelope_sized(msg.text.len() + 256, || {
                    envelope_record(
                        "received", id, &msg.text, &from, &space, "inbound", transport, "",
                    )
                });
            }
            Effect::SaveToken { id, token } => {
                let dir = mew_space::tokens::tokens_dir(&gw.mew_dir);
                if let Err(e) = mew_space::tokens::write_token(&dir, &id, &token) {
                    gw.console.warn(&format!("Cannot save invite token: {e}"));
                }
            }
            Effect::Console(level, line) => match level {
                Level::Debug => gw.console.debug(&line),
                Level::Info => gw.console.info(&line),
                Level::Warn => gw.console.warn(&line),
                Level::Error => gw.console.error(&line),
            },
        }
    }
    drop(st);
    for (sink, line) in appends {
        if let Err(e) = sink.append(&line) {
            gw.console.warn(&format!(
                "Cannot write output log {}: {e}",
                sink.path.display()
            ));
        }
    }
    answer
}

fn log_delivered(gw: &Gateway, msg: &Outgoing, pid: &str, log: &DeliveryLog) {
    if gw.logs.switches.envelope_history {
        gw.logs.envelope_sized(msg.text.len() + 256, || {
            envelope_record(
                "delivered",
                msg.log_id(),
                &msg.text,
                pid,
                &log.space,
                "outbound",
                "websocket",
                &log.meta,
            )
        });
    }
}
