//! `mew space connect`: an interactive terminal client. Messages show as
//! `[HH:MM:SS] ← participant kind preview`; a typed line is sent as chat, a JSON object as an
//! envelope; `/approve N` and `/reject N` handle `mcp/proposal`s (see `session::HELP`).
pub(crate) mod resolve;
pub(crate) mod session;

use mew_client::participant::normalize_url;
use mew_client::{Event, Participant, ParticipantOptions};
use session::{Action, Session};
use std::time::Duration;
use thiserror::Error;

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
}

fn now() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Run the session until `/exit`, end of input or `shutdown`. `lines` are the user's lines.
pub(crate) async fn run(
    opts: SessionOptions,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ConnectError> {
    let url = normalize_url(&opts.gateway)?;
    let mut session = Session::new(&opts.participant);
    let mut participant = Participant::spawn(ParticipantOptions {
        gateway: url.clone(),
        space: opts.space.clone(),
        participant_id: opts.participant.clone(),
        token: opts.token.clone(),
    });
    let sender = participant.sender();
    let first = tokio::time::sleep(FIRST_CONNECT);
    tokio::pin!(first);
    tokio::pin!(shutdown);
    let mut ever_connected = false;
    // Typed lines wait until the welcome, so that what we send follows what the space says.
    let mut welcomed = false;
    let mut connected = false;
    let mut last_error = String::from("no answer");
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = &mut first, if !ever_connected => {
                break Err(ConnectError::Unreachable { url: url.clone(), reason: last_error.clone() });
            }
            event = participant.next_event() => match event {
                None => {
                    println!("Connection closed");
                    break Ok(());
                }
                Some(Event::Joined) => {
                    if !ever_connected {
                        println!(
                            "Connected to {url} as {} (space {}). Type /help for commands.",
                            opts.participant, opts.space
                        );
                    } else if !connected {
                        println!("Reconnected.");
                    }
                    ever_connected = true;
                    connected = true;
                }
                Some(Event::Disconnected(reason)) => {
                    if connected {
                        println!("Connection lost ({reason}); reconnecting…");
                    }
                    connected = false;
                    last_error = reason;
                }
                Some(Event::Envelope(env)) => {
                    welcomed |= mew_protocol::envelope::kind(&env) == Some("system/welcome");
                    for line in session.on_envelope(&env, &now()) {
                        println!("{line}");
                    }
                }
                Some(Event::Text(text)) => {
                    if session.verbose {
                        println!("[{}] ← {text}", now());
                    }
                }
            },
            // Typed lines wait (queued) until the first welcome, so that piped input is not
            // lost and an unreachable gateway is reported even when input ends at once.
            line = lines.recv(), if welcomed => match line {
                None => break Ok(()),
                Some(line) => match session.on_input(&line, &now()) {
                    Action::Send(env, out) => {
                        sender.send(&env);
                        for l in out {
                            println!("{l}");
                        }
                    }
                    Action::Print(out) => {
                        for l in out {
                            println!("{l}");
                        }
                    }
                    Action::Exit => break Ok(()),
                    Action::Nothing => {}
                },
            },
        }
    };
    participant.close().await;
    result
}
