//! `mew space connect`: an interactive terminal client. Messages show as
//! `[HH:MM:SS] ← participant kind preview`; a typed line is sent as chat, a JSON object as an
//! envelope; `/approve N` and `/reject N` handle `mcp/proposal`s (see `session::HELP`).
pub(crate) mod resolve;
pub(crate) mod session;

use mew_client::participant::normalize_url;
use mew_client::{End, Handler, Participant, ParticipantOptions};
use session::{Action, Session};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Sleep;

pub(crate) use resolve::{resolve_participant, ResolveError};

/// How long to wait for the first connection before giving up.
const FIRST_CONNECT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub(crate) enum ConnectError {
    #[error("Failed to connect: {0}")]
    Url(#[from] mew_client::participant::UrlError),
    #[error("Failed to connect to {url}: {reason}. Is the space running? (mew space status)")]
    Unreachable { url: String, reason: String },
}

#[derive(Debug, Clone)]
pub(crate) struct SessionOptions {
    pub(crate) gateway: String,
    pub(crate) space: String,
    pub(crate) participant: String,
    pub(crate) token: Option<String>,
    /// space.yaml's `default_to`: recipients of typed envelopes of each kind that name none.
    pub(crate) default_to: std::collections::BTreeMap<String, Vec<String>>,
}

fn now() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Run the session until `/exit`, end of input or `shutdown`. `lines` are the user's lines.
pub(crate) async fn run(
    opts: SessionOptions,
    lines: UnboundedReceiver<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ConnectError> {
    let url = normalize_url(&opts.gateway)?;
    let participant = Participant::spawn(ParticipantOptions {
        gateway: url.clone(),
        space: opts.space.clone(),
        participant_id: opts.participant.clone(),
        token: opts.token.clone(),
    });
    let mut terminal = Terminal {
        session: Session::new(&opts.participant).with_default_to(opts.default_to.clone()),
        sender: participant.sender(),
        lines,
        first: Box::pin(tokio::time::sleep(FIRST_CONNECT)),
        ever_connected: false,
        welcomed: false,
        connected: false,
        last_error: String::from("no answer"),
        url,
        opts,
    };
    mew_client::run(participant, &mut terminal, shutdown).await
}

enum Input {
    Line(Option<String>),
    /// No join within `FIRST_CONNECT`.
    FirstConnectTimedOut,
}

/// The terminal session on its connection.
struct Terminal {
    session: Session,
    sender: mew_client::Sender,
    lines: UnboundedReceiver<String>,
    first: Pin<Box<Sleep>>,
    ever_connected: bool,
    /// Typed lines wait until the welcome, so that what we send follows what the space says.
    welcomed: bool,
    connected: bool,
    last_error: String,
    url: String,
    opts: SessionOptions,
}

type Flow = ControlFlow<Result<(), ConnectError>>;

impl Handler for Terminal {
    type Input = Input;
    type Output = Result<(), ConnectError>;

    fn on_connected(&mut self) -> Flow {
        if !self.ever_connected {
            println!(
                "Connected to {} as {} (space {}). Type /help for commands.",
                self.url, self.opts.participant, self.opts.space
            );
        } else if !self.connected {
            println!("Reconnected.");
        }
        self.ever_connected = true;
        self.connected = true;
        ControlFlow::Continue(())
    }

    fn on_disconnected(&mut self, reason: String) -> Flow {
        if self.connected {
            println!("Connection lost ({reason}); reconnecting…");
        }
        self.connected = false;
        self.last_error = reason;
        ControlFlow::Continue(())
    }

    fn on_envelope(&mut self, env: serde_json::Value) -> Flow {
        self.welcomed |= mew_protocol::envelope::kind(&env) == Some("system/welcome");
        for line in self.session.on_envelope(&env, &now()) {
            println!("{line}");
        }
        ControlFlow::Continue(())
    }

    fn on_text(&mut self, text: String) -> Flow {
        if self.session.verbose {
            println!("[{}] ← {text}", now());
        }
        ControlFlow::Continue(())
    }

    async fn next_input(&mut self) -> Input {
        let Terminal {
            first,
            lines,
            ever_connected,
            welcomed,
            ..
        } = self;
        tokio::select! {
            _ = first, if !*ever_connected => Input::FirstConnectTimedOut,
            // Typed lines wait (queued) until the first welcome, so that piped input is not
            // lost and an unreachable gateway is reported even when input ends at once.
            line = lines.recv(), if *welcomed => Input::Line(line),
            // Neither yet (or any more): the connection's events are all there is to wait on.
            else => std::future::pending().await,
        }
    }

    fn on_input(&mut self, input: Input) -> Flow {
        let line = match input {
            Input::FirstConnectTimedOut => {
                return ControlFlow::Break(Err(ConnectError::Unreachable {
                    url: self.url.clone(),
                    reason: self.last_error.clone(),
                }))
            }
            Input::Line(None) => return ControlFlow::Break(Ok(())),
            Input::Line(Some(line)) => line,
        };
        match self.session.on_input(&line, &now()) {
            Action::Send(env, out) => {
                self.sender.send(&env);
                for l in out {
                    println!("{l}");
                }
            }
            Action::Print(out) => {
                for l in out {
                    println!("{l}");
                }
            }
            Action::Exit => return ControlFlow::Break(Ok(())),
            Action::Nothing => {}
        }
        ControlFlow::Continue(())
    }

    fn on_end(&mut self, end: End) -> Result<(), ConnectError> {
        if end == End::Closed {
            println!("Connection closed");
        }
        Ok(())
    }
}
