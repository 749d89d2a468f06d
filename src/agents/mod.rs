//! Built-in agents (`mew agent echo`, `mew agent calculator`, `mew agent fulfiller`). Each agent is a pure function from
//! a received envelope to the envelopes it answers with; `run` connects it to a gateway.
//! `mew agent run` (the model-driven agent) keeps state and waits on answers: see `run/`.
pub(crate) mod calculator;
pub(crate) mod echo;
pub(crate) mod expr;
pub(crate) mod fulfiller;
pub(crate) mod run;

use std::ops::ControlFlow;

use serde_json::Value;

use mew_client::participant::{normalize_url, UrlError};
use mew_client::{End, Handler, LinkLog, Participant, ParticipantOptions, Sender};

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
    let participant = Participant::spawn(opts);
    let mut agent = Agent {
        kind,
        sender: participant.sender(),
        link: LinkLog::default(),
        me,
        gateway,
        space,
    };
    mew_client::run(participant, &mut agent, shutdown).await;
    Ok(())
}

/// A built-in agent on its connection: it answers envelopes and logs its link.
struct Agent {
    kind: AgentKind,
    sender: Sender,
    link: LinkLog,
    me: String,
    gateway: String,
    space: String,
}

impl Handler for Agent {
    type Input = ();
    type Output = ();

    fn on_connected(&mut self) -> ControlFlow<()> {
        // One line per (re)join, so the participant's log shows it is alive.
        self.link.joined();
        let (name, me) = (self.kind.name(), &self.me);
        println!(
            "{name} agent {me} joined space {} at {}",
            self.space, self.gateway
        );
        ControlFlow::Continue(())
    }

    fn on_disconnected(&mut self, reason: String) -> ControlFlow<()> {
        let who = format!("{} agent {}", self.kind.name(), self.me);
        if let Some(line) = self.link.disconnected_line(&who, &reason) {
            println!("{line}");
        }
        ControlFlow::Continue(())
    }

    fn on_envelope(&mut self, env: Value) -> ControlFlow<()> {
        for reply in self.kind.respond(&self.me, &env) {
            self.sender.send(&reply);
        }
        ControlFlow::Continue(())
    }

    fn on_end(&mut self, _end: End) {}
}
