//! One task per WebSocket connection reads and routes; a second one writes its outbound queue,
//! batching whatever is queued into one flush.
use super::limits::{self, Meter};
use super::route::{self, ConnCtx};
use super::state::Gateway;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};

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
            if sink.feed(msg).await.is_err() {
                return;
            }
            while !closing {
                let Some(m) = rx.try_recv() else { break };
                closing = matches!(m, Message::Close(_));
                if sink.feed(m).await.is_err() {
                    return;
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
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                    meter.processed();
                    if limits::too_many_values(message_text(&msg)) {
                        route::reply(&cx, crate::protocol::bare_error(
                            &format!("Message has more than {} JSON values", limits::MAX_JSON_VALUES),
                            "MESSAGE_TOO_LARGE",
                        ));
                        continue;
                    }
                    route::ws_message(&gw, &mut cx, msg);
                    if cx.joined.is_some() {
                        meter.joined();
                    }
                }
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => meter.processed(),
                Some(Err(e)) => {
                    too_big = too_long(e).map(|size| format!(
                        "Message too large: {} bytes or more, the limit is {} bytes",
                        size,
                        crate::protocol::MAX_MESSAGE
                    ));
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
            },
            _ = meter.trip.notified() => {
                too_big = Some(format!(
                    "Message too large before joining: a connection may send at most {} bytes until it has joined",
                    limits::UNJOINED_INBOUND
                ));
                break;
            }
            _ = conn.kill.notified() => {
                let who = cx.joined.as_ref().map(|j| j.id.clone()).unwrap_or_else(|| "an unjoined client".into());
                gw.console.warn(&format!("Dropping {who}: {}", conn.drop_reason()));
                break;
            }
        }
    }
    if let Some(reason) = &too_big {
        // The client is told in both forms: a system/error it can read while still sending,
        // then close code 1009 with the reason.
        route::reply(
            &cx,
            crate::protocol::bare_error(reason, "MESSAGE_TOO_LARGE"),
        );
        let mut close = reason.clone();
        close.truncate(120); // a close reason is at most 123 bytes
        conn.push(Message::Close(Some(CloseFrame {
            code: CLOSE_TOO_BIG,
            reason: Utf8Bytes::from(close),
        })));
    }
    route::disconnect(&gw, &mut cx);
    if conn.is_dropping() {
        writer.abort();
    } else if too_big.is_some() {
        let _ = tokio::time::timeout(LINGER, &mut writer).await;
        tokio::time::sleep(LINGER).await;
    }
    drop(stream);
}

fn message_text(msg: &Message) -> &str {
    match msg {
        Message::Text(t) => t.as_str(),
        Message::Binary(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// The size a message was refused at, when the WebSocket layer refused it for its size.
fn too_long(e: axum::Error) -> Option<usize> {
    match e.into_inner().downcast_ref::<WsError>()? {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => Some(*size),
        _ => None,
    }
}
