//! The one event loop of a participant: connection events, one more input of the caller's
//! (stdin lines, an MCP server's output, a timer) and shutdown, until one of them says stop.
use std::future::Future;
use std::ops::ControlFlow;

use serde_json::Value;

use crate::participant::{Event, Participant};

/// Why the loop ended without a handler asking it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Shutdown,
    /// The connection task ended.
    Closed,
}

/// What a participant does with what happens to it. Every callback may stop the loop with
/// `ControlFlow::Break(output)`; the defaults ignore the event.
pub trait Handler {
    /// An item of the caller's own input (`next_input`).
    type Input;
    /// What `run` returns.
    type Output;

    /// Joined: the first time and after every reconnect.
    fn on_connected(&mut self) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// The connection dropped or could not be made; a reconnect follows.
    fn on_disconnected(&mut self, _reason: String) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// A JSON message from the gateway.
    fn on_envelope(&mut self, env: Value) -> ControlFlow<Self::Output>;

    /// A text message that is not JSON (stream frames).
    fn on_text(&mut self, _text: String) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// The next item of another input to wait on beside the connection; never, by default.
    /// Return a future that stays pending while the input should not be read.
    fn next_input(&mut self) -> impl Future<Output = Self::Input> {
        std::future::pending()
    }

    fn on_input(&mut self, _input: Self::Input) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// The loop ended by shutdown or a closed connection.
    fn on_end(&mut self, end: End) -> Self::Output;
}

/// Run `handler` on `participant`'s events until it stops the loop, `shutdown` resolves or the
/// connection ends; then close the connection.
pub async fn run<H: Handler>(
    mut participant: Participant,
    handler: &mut H,
    shutdown: impl Future<Output = ()>,
) -> H::Output {
    tokio::pin!(shutdown);
    let output = loop {
        let flow = tokio::select! {
            _ = &mut shutdown => break handler.on_end(End::Shutdown),
            event = participant.next_event() => match event {
                None => break handler.on_end(End::Closed),
                Some(Event::Joined) => handler.on_connected(),
                Some(Event::Disconnected(reason)) => handler.on_disconnected(reason),
                Some(Event::Envelope(env)) => handler.on_envelope(env),
                Some(Event::Text(text)) => handler.on_text(text),
            },
            input = handler.next_input() => handler.on_input(input),
        };
        if let ControlFlow::Break(output) = flow {
            break output;
        }
    };
    participant.close().await;
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParticipantOptions;
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::Message;

    /// Records what it saw; stops at the envelope whose kind is "stop", or at input "quit".
    struct Recorder {
        seen: Vec<String>,
        lines: Option<mpsc::UnboundedReceiver<String>>,
    }

    impl Handler for Recorder {
        type Input = Option<String>;
        type Output = Vec<String>;
        fn on_connected(&mut self) -> ControlFlow<Vec<String>> {
            self.seen.push("connected".into());
            ControlFlow::Continue(())
        }
        fn on_envelope(&mut self, env: Value) -> ControlFlow<Vec<String>> {
            let kind = env["kind"].as_str().unwrap_or_default().to_string();
            self.seen.push(format!("env {kind}"));
            if kind == "stop" {
                ControlFlow::Break(std::mem::take(&mut self.seen))
            } else {
                ControlFlow::Continue(())
            }
        }
        async fn next_input(&mut self) -> Option<String> {
            match &mut self.lines {
                Some(lines) => lines.recv().await,
                None => std::future::pending().await,
            }
        }
        fn on_input(&mut self, line: Option<String>) -> ControlFlow<Vec<String>> {
            match line.as_deref() {
                Some("quit") => ControlFlow::Break(std::mem::take(&mut self.seen)),
                Some(l) => {
                    self.seen.push(format!("line {l}"));
                    ControlFlow::Continue(())
                }
                // Closed input: stop reading it.
                None => {
                    self.lines = None;
                    ControlFlow::Continue(())
                }
            }
        }
        fn on_end(&mut self, end: End) -> Vec<String> {
            self.seen.push(format!("end {end:?}"));
            std::mem::take(&mut self.seen)
        }
    }

    /// A gateway stand-in: accepts one connection, reads the join, sends `sends`.
    async fn gateway(sends: Vec<&'static str>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
            let _join = ws.next().await;
            for s in sends {
                ws.send(Message::text(s)).await.expect("send");
            }
            // Hold the connection open until the client goes.
            while let Some(Ok(_)) = ws.next().await {}
        });
        url
    }

    fn participant(url: String) -> Participant {
        Participant::spawn(ParticipantOptions {
            gateway: url,
            space: "s".into(),
            participant_id: "me".into(),
            token: None,
        })
    }

    #[tokio::test]
    async fn a_handler_stops_the_loop_from_an_envelope() {
        let url = gateway(vec![r#"{"kind":"chat"}"#, r#"{"kind":"stop"}"#]).await;
        let (_tx, lines) = mpsc::unbounded_channel();
        let mut h = Recorder {
            seen: Vec::new(),
            lines: Some(lines),
        };
        let seen = run(participant(url), &mut h, std::future::pending()).await;
        assert_eq!(seen, ["connected", "env chat", "env stop"]);
    }

    #[tokio::test]
    async fn input_and_shutdown_reach_the_handler() {
        let url = gateway(vec![]).await;
        let (tx, lines) = mpsc::unbounded_channel();
        tx.send("a".to_string()).expect("send");
        drop(tx);
        let mut h = Recorder {
            seen: Vec::new(),
            lines: Some(lines),
        };
        let shutdown = tokio::time::sleep(std::time::Duration::from_millis(300));
        let seen = run(participant(url), &mut h, shutdown).await;
        assert_eq!(seen.first().map(String::as_str), Some("line a"));
        assert_eq!(seen.last().map(String::as_str), Some("end Shutdown"));
        let (tx, lines) = mpsc::unbounded_channel();
        tx.send("quit".to_string()).expect("send");
        let mut h = Recorder {
            seen: Vec::new(),
            lines: Some(lines),
        };
        let url = gateway(vec![]).await;
        let seen = run(participant(url), &mut h, std::future::pending()).await;
        assert!(!seen.iter().any(|s| s.starts_with("end")), "{seen:?}");
    }
}
