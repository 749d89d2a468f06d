//! One task per WebSocket connection reads and routes; a second one writes its outbound queue,
//! batching whatever is queued into one flush.
//!
//! Routing speaks axum's `Message` (shared, reference-counted text); this module moves it to and
//! from tungstenite, sending big messages as fragments (see `FRAGMENT`).
use super::effect::apply;
use super::limits::{self, Meter};
use super::route::{self, ConnCtx, Inbound};
use super::state::{text, Gateway};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{self as ts, WebSocketConfig};

/// Initial read buffer of a WebSocket connection (grows for bigger messages).
pub const WS_READ_BUFFER: usize = 8 * 1024;
/// Largest WebSocket message accepted (the spec needs ≥ 10 MiB; see `limits` for the budget).
pub const WS_MAX_MESSAGE: usize = mew_protocol::MAX_MESSAGE;

/// An upgraded gateway connection.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// Outbound messages longer than this go out as fragments of this size. tungstenite copies each
/// frame into a per-connection buffer that keeps its capacity: a whole 16 MiB frame would cost
/// every reader of a big broadcast 16 MiB, for as long as it stays connected.
pub const FRAGMENT: usize = 64 << 10;

/// The gateway side's WebSocket settings.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        // The 128 KiB default read buffer costs that much RSS per idle connection.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(FRAGMENT)
        .max_message_size(Some(WS_MAX_MESSAGE))
        .max_frame_size(Some(WS_MAX_MESSAGE))
}

/// A queued message as the frames that go on the wire.
fn frames(msg: Message) -> Frames {
    let (data, kind) = match msg {
        Message::Text(t) => (Bytes::from(t), Data::Text),
        Message::Binary(b) => (b, Data::Binary),
        other => {
            let single = match other {
                Message::Ping(p) => ts::Message::Ping(p),
                Message::Pong(p) => ts::Message::Pong(p),
                Message::Close(c) => ts::Message::Close(c.map(|c| ts::CloseFrame {
                    code: c.code.into(),
                    reason: c.reason.as_str().into(),
                })),
                Message::Text(_) | Message::Binary(_) => unreachable!("matched above"),
            };
            return Frames::One(Some(single));
        }
    };
    Frames::Data {
        data,
        kind,
        first: true,
    }
}

enum Frames {
    One(Option<ts::Message>),
    Data {
        data: Bytes,
        kind: Data,
        first: bool,
    },
}

impl Iterator for Frames {
    type Item = ts::Message;
    fn next(&mut self) -> Option<ts::Message> {
        match self {
            Frames::One(m) => m.take(),
            Frames::Data { data, kind, first } => {
                if data.is_empty() && !*first {
                    return None;
                }
                let chunk = data.split_to(data.len().min(FRAGMENT));
                let op = if *first { *kind } else { Data::Continue };
                *first = false;
                Some(ts::Message::Frame(Frame::message(
                    chunk,
                    OpCode::Data(op),
                    data.is_empty(),
                )))
            }
        }
    }
}

/// An inbound message in routing's terms (None for control frames).
fn inbound(msg: ts::Message) -> Option<Message> {
    match msg {
        ts::Message::Text(t) => Utf8Bytes::try_from(Bytes::from(t)).ok().map(Message::Text),
        ts::Message::Binary(b) => Some(Message::Binary(b)),
        _ => None,
    }
}

/// WebSocket close code for a message too big to process (RFC 6455 §7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// How long a socket closed for an oversized message stays open so its client can read why
/// (closing at once with unread input would reset the connection and lose the close frame).
const LINGER: Duration = Duration::from_millis(500);

pub async fn serve_socket(
    gw: Arc<Gateway>,
    socket: WebSocket,
    meter: Arc<Meter>,
    fallback_space: Option<String>,
    fallback_token: Option<String>,
) {
    let (conn, mut rx) = gw.new_conn();
    let (mut sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut closing = matches!(msg, Message::Close(_));
            for f in frames(msg) {
                if sink.feed(f).await.is_err() {
                    return;
                }
            }
            while !closing {
                let Some(m) = rx.try_recv() else { break };
                closing = matches!(m, Message::Close(_));
                for f in frames(m) {
                    if sink.feed(f).await.is_err() {
                        return;
                    }
                }
            }
            if sink.flush().await.is_err() || closing {
                return;
            }
        }
    });
    let mut cx = ConnCtx {
        conn: conn.clone(),
        joined: None,
        fallback_space,
        fallback_token,
    };
    // Set when the socket is closed for sending too much: the error to send first.
    let mut too_big: Option<String> = None;
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(Ok(m @ (ts::Message::Text(_) | ts::Message::Binary(_)))) => {
                    // The big-message slot (if any) is held until routing is done with the
                    // message: parsing it costs more than its bytes.
                    let _processed = Processed(&meter);
                    let Some(msg) = inbound(m) else { continue };
                    if limits::too_costly_to_parse(message_text(&msg)) {
                        conn.push(text(mew_protocol::bare_error(
                            "Message too large: it has too many JSON values to parse",
                            "MESSAGE_TOO_LARGE",
                        )));
                        continue;
                    }
                    if let Some(msg) = route::parse_ws(msg) {
                        route_and_apply(&gw, Inbound::Ws { cx: &mut cx, msg });
                    }
                    if cx.joined.is_some() {
                        meter.joined();
                    }
                }
                Some(Err(e)) => {
                    too_big = too_long(&e).map(|size| format!(
                        "Message too large: {} bytes or more, the limit is {} bytes",
                        size,
                        mew_protocol::MAX_MESSAGE
                    ));
                    break;
                }
                Some(Ok(ts::Message::Close(_))) | None => break,
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(_)) => meter.processed(),
            },
            _ = meter.trip.notified() => {
                too_big = Some(format!(
                    "Message too large before joining: a connection may send at most {} bytes until it has joined",
                    limits::UNJOINED_INBOUND
                ));
                break;
            }
            _ = conn.kill.notified() => {
                // Otherwise `close_with` queued an error and a close frame: the writer sends
                // them and ends.
                if conn.is_dropping() {
                    let who = cx.joined.as_ref().map(|j| j.id.clone()).unwrap_or_else(|| "an unjoined client".into());
                    gw.console.warn(&format!("Dropping {who}: {}", conn.drop_reason()));
                }
                break;
            }
        }
    }
    if let Some(reason) = &too_big {
        // The client is told in both forms: a system/error it can read while still sending,
        // then close code 1009 with the reason.
        conn.push(text(mew_protocol::bare_error(reason, "MESSAGE_TOO_LARGE")));
        let mut close = reason.clone();
        close.truncate(120); // a close reason is at most 123 bytes
        conn.push(Message::Close(Some(CloseFrame {
            code: CLOSE_TOO_BIG,
            reason: Utf8Bytes::from(close),
        })));
    }
    route_and_apply(&gw, Inbound::Disconnect { cx: &mut cx });
    if conn.is_dropping() {
        writer.abort();
    } else if too_big.is_some() {
        let _ = tokio::time::timeout(LINGER, &mut writer).await;
        tokio::time::sleep(LINGER).await;
    }
    drop(stream);
}

/// Route under the state lock and carry the effects out.
fn route_and_apply(gw: &Gateway, inbound: Inbound<'_>) {
    let mut st = gw.lock();
    // After the state lock: a reload swaps the configuration under it.
    let cfg = gw.config();
    let ctx = gw.ctx(cfg.as_deref());
    let effects = route::route(&ctx, &mut st, inbound);
    apply(gw, st, effects);
}

/// Marks the current message processed when dropped.
struct Processed<'a>(&'a Meter);

impl Drop for Processed<'_> {
    fn drop(&mut self) {
        self.0.processed();
    }
}

fn message_text(msg: &Message) -> &str {
    match msg {
        Message::Text(t) => t.as_str(),
        Message::Binary(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// The size a message was refused at, when the WebSocket layer refused it for its size.
fn too_long(e: &WsError) -> Option<usize> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => Some(*size),
        _ => None,
    }
}
