//! Built-in agents (`mew agent echo`, `mew agent calculator`, `mew agent fulfiller`). Each agent is a pure function from
//! a received envelope to the envelopes it answers with; `run` connects it to a gateway.
//! `mew agent run` (the model-driven agent) keeps state and waits on answers: see `run/`.
pub(crate) mod calculator;
pub(crate) mod echo;
pub(crate) mod expr;
pub(crate) mod fulfiller;
pub(crate) mod run;

use serde_json::Value;

use mew_client::participant::{normalize_url, UrlError};
use mew_client::{Event, LinkLog, LinkNote, Participant, ParticipantOptions};

/// Which built-in agent to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentKind {
    Echo,
    Calculator,
    Fulfiller,
}

impl AgentKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AgentKind::Echo => "echo",
            AgentKind::Calculator => "calculator",
            AgentKind::Fulfiller => "fulfiller",
        }
    }

    /// The replies to one received envelope (empty when it is not for this agent).
    pub(crate) fn respond(self, me: &str, env: &Value) -> Vec<Value> {
        let reply = match self {
            AgentKind::Echo => echo::respond(me, env),
            AgentKind::Calculator => calculator::respond(me, env),
            AgentKind::Fulfiller => fulfiller::respond(me, env),
        };
        reply.into_iter().collect()
    }
}

/// Run an agent until `shutdown` resolves. It rejoins by itself after a gateway restart.
pub(crate) async fn run(
    kind: AgentKind,
    opts: ParticipantOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), UrlError> {
    normalize_url(&opts.gateway)?;
    let me = opts.participant_id.clone();
    let (gateway, space) = (opts.gateway.clone(), opts.space.clone());
    let mut participant = Participant::spawn(opts);
    let sender = participant.sender();
    let mut link = LinkLog::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = participant.next_event() => match event {
                None => break,
                // One line per (re)join, so the participant's log shows it is alive.
                Some(Event::Joined) => {
                    link.joined();
                    println!("{} agent {me} joined space {space} at {gateway}", kind.name());
                }
                Some(Event::Disconnected(reason)) => match link.disconnected(&reason) {
                    Some(LinkNote::Lost(reason)) => {
                        println!("{} agent {me} disconnected ({reason}); reconnecting", kind.name());
                    }
                    Some(LinkNote::Waiting(reason)) => {
                        println!("{} agent {me}: {reason}; retrying", kind.name());
                    }
                    None => {}
                },
                Some(Event::Envelope(env)) => {
                    for reply in kind.respond(&me, &env) {
                        sender.send(&reply);
                    }
                }
                Some(Event::Text(_)) => {}
            },
        }
    }
    participant.close().await;
    Ok(())
}
