//! One task per WebSocket connection reads and routes; a second one writes its outbound queue,
//! batching whatever is queued into one flush.
use super::route::{self, ConnCtx};
use super::state::Gateway;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;

pub async fn serve_socket(
    gw: Arc<Gateway>,
    socket: WebSocket,
    fallback_space: Option<String>,
    fallback_token: Option<String>,
) {
    let (conn, mut rx) = gw.new_conn();
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
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
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                    route::ws_message(&gw, &mut cx, msg);
                }
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = conn.kill.notified() => {
                // Otherwise `close_with` queued an error and a close frame: the writer sends
                // them and ends.
                if conn.is_dropping() {
                    let who = cx.joined.as_ref().map(|j| j.id.clone()).unwrap_or_else(|| "an unjoined client".into());
                    gw.console.warn(&format!(
                        "Dropping {who}: it is not reading its messages (outbound queue full)"
                    ));
                }
                break;
            }
        }
    }
    route::disconnect(&gw, &mut cx);
    if conn.is_dropping() {
        writer.abort();
    }
}
