//! `mew bridge start`: put a stdio MCP server into a MEW space. The bridge starts the server,
//! does the MCP handshake, joins the space as a participant, and then forwards each
//! `mcp/request` addressed to it to the server, answering with `mcp/response` (`route`).
//! The server's notifications become `mcp/notification` envelopes. When the server exits, the
//! bridge exits 1 and leaves restarts to whoever runs it.
pub(crate) mod child;
pub(crate) mod route;

use std::ops::ControlFlow;
use std::time::Duration;

use serde_json::{json, Value};
use thiserror::Error;

use child::McpChild;
pub(crate) use child::ServerCommand;
use mew_client::participant::{normalize_url, UrlError};
use mew_client::{End, Handler, LinkLog, Participant, ParticipantOptions};
use route::{Action, Router};

/// The MCP revision the bridge asks for; servers answer with the one they speak.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";
/// JSON-RPC ids the bridge uses itself before forwarding starts.
const INIT_ID: u64 = 0;
const LIST_ID: u64 = 1;

#[derive(Debug, Clone)]
pub(crate) struct BridgeOptions {
    pub(crate) participant: ParticipantOptions,
    pub(crate) server: ServerCommand,
    /// Bound on the handshake (and the first `tools/list`).
    pub(crate) init_timeout: Duration,
}

#[derive(Debug, Error)]
pub(crate) enum BridgeError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("--capabilities is not a JSON list of capabilities: {0}")]
    Capabilities(String),
    #[error("--mcp-env entry `{0}` is not KEY=VALUE")]
    Env(String),
    #[error("--mcp-cwd `{0}` is not a directory")]
    Cwd(String),
    #[error(
        "cannot start the MCP server `{command}` ({source}); check that mcp_server.command \
         (--mcp-command) names a program present in the bridge's image, or use a built-in \
         server (`mew mcp list`)"
    )]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error(
        "the MCP server `{command}` did not answer `initialize` within {ms} ms; check that it \
         speaks MCP on stdio, or raise bridge_config.init_timeout (--init-timeout)"
    )]
    InitTimeout { command: String, ms: u128 },
    #[error("the MCP server `{command}` refused `initialize`: {message}")]
    InitRefused { command: String, message: String },
    #[error(
        "the MCP server `{command}` {reason}; its own messages are in the bridge's error output"
    )]
    ServerExited { command: String, reason: String },
}

/// `--capabilities`: a JSON list of `{kind, …}` objects. The gateway takes capabilities from
/// space.yaml by token, never from the join, so the list is only checked here.
pub(crate) fn parse_capabilities(raw: &str) -> Result<Value, BridgeError> {
    let bad = |why: String| BridgeError::Capabilities(why);
    let v: Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
    let Some(items) = v.as_array() else {
        return Err(bad("expected a list".into()));
    };
    if let Some(item) = items
        .iter()
        .find(|c| !c.get("kind").is_some_and(Value::is_string))
    {
        return Err(bad(format!("{item} has no string `kind`")));
    }
    Ok(v)
}

/// `--mcp-args a,b`: split on commas (the runner joins `mcp_server.args` that way).
pub(crate) fn split_args(raw: &str) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(',').map(String::from).collect()
}

/// `--mcp-env K=V,K2=V2`.
pub(crate) fn parse_env(raw: &str) -> Result<Vec<(String, String)>, BridgeError> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(BridgeError::Env(pair.to_string())),
        })
        .collect()
}

/// What the handshake learnt.
struct Ready {
    init_result: Value,
    name: String,
    tools: Option<usize>,
}

/// Run the bridge until `shutdown` resolves (Ok) or the MCP server goes away (Err).
pub(crate) async fn run(
    opts: BridgeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BridgeError> {
    normalize_url(&opts.participant.gateway)?;
    let command = opts.server.command.clone();
    let mut server = McpChild::spawn(&opts.server)?;
    tokio::pin!(shutdown);

    let ready = tokio::select! {
        _ = &mut shutdown => {
            server.kill().await;
            return Ok(());
        }
        r = handshake(&mut server, &command, opts.init_timeout) => r,
    };
    let ready = match ready {
        Ok(r) => r,
        Err(e) => {
            server.kill().await;
            return Err(e);
        }
    };

    let me = opts.participant.participant_id.clone();
    let (gateway, space) = (
        opts.participant.gateway.clone(),
        opts.participant.space.clone(),
    );
    let tools = ready
        .tools
        .map_or_else(|| "tools unknown".to_string(), |n| format!("{n} tools"));
    let participant = Participant::spawn(opts.participant);
    let mut bridge = Bridge {
        sender: participant.sender(),
        router: Router::new(&me, ready.init_result, LIST_ID + 1),
        server,
        command,
        link: LinkLog::default(),
        joined_line: format!(
            "bridge {me} joined space {space} at {gateway}; MCP server {} ready ({tools})",
            ready.name
        ),
        me,
    };
    let outcome = mew_client::run(participant, &mut bridge, shutdown).await;
    bridge.server.kill().await;
    outcome
}

/// What the MCP server did.
enum FromServer {
    Message(Value),
    /// It closed its output; why, for the log.
    Exited(String),
}

/// The bridge on its connection: envelopes go through the router to the MCP server, and the
/// server's messages through it to the space.
struct Bridge {
    sender: mew_client::Sender,
    router: Router,
    server: McpChild,
    command: String,
    link: LinkLog,
    joined_line: String,
    me: String,
}

impl Handler for Bridge {
    type Input = FromServer;
    type Output = Result<(), BridgeError>;

    fn on_connected(&mut self) -> ControlFlow<Self::Output> {
        self.link.joined();
        println!("{}", self.joined_line);
        ControlFlow::Continue(())
    }

    fn on_disconnected(&mut self, reason: String) -> ControlFlow<Self::Output> {
        let who = format!("bridge {}", self.me);
        if let Some(line) = self.link.disconnected_line(&who, &reason) {
            println!("{line}");
        }
        ControlFlow::Continue(())
    }

    fn on_envelope(&mut self, env: Value) -> ControlFlow<Self::Output> {
        for action in self.router.on_space(&env) {
            apply(action, &self.server, &self.sender);
        }
        ControlFlow::Continue(())
    }

    async fn next_input(&mut self) -> FromServer {
        match self.server.recv().await {
            Some(msg) => FromServer::Message(msg),
            None => FromServer::Exited(self.server.exit_reason().await),
        }
    }

    fn on_input(&mut self, input: FromServer) -> ControlFlow<Self::Output> {
        match input {
            FromServer::Message(msg) => {
                for action in self.router.on_server(&msg) {
                    apply(action, &self.server, &self.sender);
                }
                ControlFlow::Continue(())
            }
            FromServer::Exited(reason) => ControlFlow::Break(Err(BridgeError::ServerExited {
                command: self.command.clone(),
                reason,
            })),
        }
    }

    fn on_end(&mut self, _end: End) -> Self::Output {
        Ok(())
    }
}

fn apply(action: Action, server: &McpChild, space: &mew_client::Sender) {
    match action {
        Action::ToServer(msg) => server.send(&msg),
        Action::ToSpace(env) => {
            space.send(&env);
        }
    }
}

/// `initialize`, `notifications/initialized`, then one `tools/list` for the join line, all
/// within `limit`.
async fn handshake(
    server: &mut McpChild,
    command: &str,
    limit: Duration,
) -> Result<Ready, BridgeError> {
    let deadline = tokio::time::Instant::now() + limit;
    server.send(&json!({
        "jsonrpc": "2.0",
        "id": INIT_ID,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "mew-bridge", "version": env!("CARGO_PKG_VERSION") },
        },
    }));
    let timeout = || BridgeError::InitTimeout {
        command: command.to_string(),
        ms: limit.as_millis(),
    };
    let init = match answer(server, INIT_ID, deadline).await {
        Answer::Got(msg) => msg,
        Answer::Late => return Err(timeout()),
        Answer::Gone => {
            return Err(BridgeError::ServerExited {
                command: command.to_string(),
                reason: format!("{} during initialize", server.exit_reason().await),
            })
        }
    };
    let Some(init_result) = init.get("result").cloned() else {
        let message = init
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no result")
            .to_string();
        return Err(BridgeError::InitRefused {
            command: command.to_string(),
            message,
        });
    };
    server.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    let name = init_result
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .unwrap_or(command)
        .to_string();
    let mut tools = None;
    if init_result.pointer("/capabilities/tools").is_some() {
        server.send(&json!({ "jsonrpc": "2.0", "id": LIST_ID, "method": "tools/list" }));
        match answer(server, LIST_ID, deadline).await {
            Answer::Got(msg) => {
                tools = msg
                    .pointer("/result/tools")
                    .and_then(Value::as_array)
                    .map(Vec::len);
            }
            // Only the join line would miss the count; the bridge works without it.
            Answer::Late => {}
            Answer::Gone => {
                return Err(BridgeError::ServerExited {
                    command: command.to_string(),
                    reason: server.exit_reason().await,
                })
            }
        }
    }
    Ok(Ready {
        init_result,
        name,
        tools,
    })
}

enum Answer {
    Got(Value),
    Late,
    Gone,
}

/// Wait for the response with `id`; anything else the server says meanwhile is dropped (no
/// one has joined yet to hear it).
async fn answer(server: &mut McpChild, id: u64, deadline: tokio::time::Instant) -> Answer {
    loop {
        match tokio::time::timeout_at(deadline, server.recv()).await {
            Err(_) => return Answer::Late,
            Ok(None) => return Answer::Gone,
            Ok(Some(msg)) if msg.get("method").is_none() && msg.get("id") == Some(&json!(id)) => {
                return Answer::Got(msg)
            }
            Ok(Some(msg)) => {
                if let (Some(method), Some(rid)) = (msg.get("method"), msg.get("id")) {
                    // A request (e.g. ping) during the handshake still deserves an answer.
                    tracing::debug!("MCP server asked {method} during the handshake");
                    server.send(&if method == "ping" {
                        json!({ "jsonrpc": "2.0", "id": rid, "result": {} })
                    } else {
                        json!({ "jsonrpc": "2.0", "id": rid, "error": {
                            "code": route::METHOD_NOT_FOUND,
                            "message": "the mew bridge is still initialising",
                        }})
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        assert_eq!(split_args("mcp,filesystem,./"), ["mcp", "filesystem", "./"]);
        assert!(split_args("").is_empty());
        assert_eq!(
            parse_env("A=1,B=x=y").unwrap(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".into(), "x=y".into())
            ]
        );
        assert!(parse_env("NOEQ").is_err());
        assert!(parse_env("=v").is_err());
        assert!(parse_capabilities(r#"[{"kind":"mcp/response"}]"#).is_ok());
        assert!(parse_capabilities("[]").is_ok());
        for bad in ["{", r#"{"kind":"chat"}"#, r#"[{"payload":{}}]"#, "[1]"] {
            assert!(parse_capabilities(bad).is_err(), "{bad}");
        }
    }
}
