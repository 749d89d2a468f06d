//! The interactive session's state and text, without I/O: what to print for each envelope,
//! what each typed line means, and the pending proposals.
use mew_protocol::envelope;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub(crate) const HELP: &str = "\
Type a line to send it as chat, or a JSON object to send it as an envelope
(protocol, id, ts and from are filled in), e.g.
  {\"kind\":\"mcp/request\",\"to\":[\"calculator\"],\"payload\":{\"method\":\"tools/list\"}}
Commands:
  /help              this text
  /participants      who is in the space, with their capabilities
  /proposals         pending proposals
  /call P TOOL ARGS  call MCP tool TOOL of participant P with JSON arguments (default {}),
                     e.g. /call calculator add {\"a\":2,\"b\":3}; the result shows when it comes
  /approve N         fulfil proposal N: send its mcp/request on the proposer's behalf
  /reject N          reject proposal N (mcp/reject to the proposer)
  /verbose           show every envelope in full (again: off); without it, chat and tool
                     results show whole and other envelopes are abbreviated to one line
  /exit              leave (also Ctrl-D, Ctrl-C)";

/// A proposal waiting for someone to approve or reject it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Proposal {
    pub(crate) number: u32,
    pub(crate) envelope_id: String,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) payload: Value,
}

/// What to do after a typed line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send this envelope, then print the lines.
    Send(Value, Vec<String>),
    Print(Vec<String>),
    Exit,
    Nothing,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) me: String,
    pub(crate) verbose: bool,
    proposals: BTreeMap<u32, Proposal>,
    next_proposal: u32,
    /// Other participants and their capability kinds, from the welcome and presence.
    participants: BTreeMap<String, String>,
    my_capabilities: String,
    next_rpc_id: u64,
    /// Kind → recipients for typed envelopes without `to` (space.yaml's `default_to`).
    default_to: BTreeMap<String, Vec<String>>,
}

impl Session {
    pub(crate) fn new(me: &str) -> Session {
        Session {
            me: me.to_string(),
            verbose: false,
            proposals: BTreeMap::new(),
            next_proposal: 1,
            participants: BTreeMap::new(),
            my_capabilities: "none".into(),
            next_rpc_id: 1,
            default_to: BTreeMap::new(),
        }
    }

    pub(crate) fn with_default_to(mut self, default_to: BTreeMap<String, Vec<String>>) -> Session {
        self.default_to = default_to;
        self
    }

    /// Typed chat and JSON envelopes that name no recipient go to `default_to` of their kind.
    fn address(&self, mut env: Value) -> Value {
        let kind = envelope::kind(&env).unwrap_or("");
        if let (Some(to), Some(obj)) = (self.default_to.get(kind), env.as_object_mut()) {
            if !to.is_empty() && !obj.contains_key("to") {
                obj.insert("to".into(), json!(to));
            }
        }
        env
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// Lines to print for a message from the gateway (`time` is `HH:MM:SS`).
    pub(crate) fn on_envelope(&mut self, env: &Value, time: &str) -> Vec<String> {
        let kind = envelope::kind(env).unwrap_or("");
        let from = envelope::from(env).unwrap_or("?").to_string();
        // The gateway does not echo our own envelopes over WebSocket; if it ever does, they were
        // already shown when sent.
        if from == self.me {
            return Vec::new();
        }
        let mut extra = String::new();
        match kind {
            "system/welcome" => self.welcome(env),
            "system/presence" => self.presence(env),
            "mcp/proposal" => {
                if let Some(id) = envelope::id(env) {
                    let number = self.next_proposal;
                    self.next_proposal += 1;
                    self.proposals.insert(
                        number,
                        Proposal {
                            number,
                            envelope_id: id.to_string(),
                            from: from.clone(),
                            to: envelope::to(env).iter().map(|s| s.to_string()).collect(),
                            payload: env.get("payload").cloned().unwrap_or(Value::Null),
                        },
                    );
                    extra =
                        format!("  [proposal #{number}: /approve {number} or /reject {number}]");
                }
            }
            // Someone else dealt with a proposal (fulfilled, rejected or withdrawn): forget it.
            "mcp/request" | "mcp/reject" | "mcp/withdraw" => {
                let corr = envelope::correlation(env);
                self.proposals
                    .retain(|_, p| !corr.iter().any(|c| *c == p.envelope_id));
            }
            _ => {}
        }
        let mut lines = framed(&format!("[{time}] ← {from} {kind}"), &preview(env), &extra);
        if self.verbose {
            lines.push(format!("    {env}"));
        }
        lines
    }

    fn welcome(&mut self, env: &Value) {
        let payload = env.get("payload");
        if let Some(you) = payload.and_then(|p| p.get("you")) {
            self.my_capabilities = super::resolve::capability_kinds(you.get("capabilities"));
        }
        if let Some(list) = payload
            .and_then(|p| p.get("participants"))
            .and_then(Value::as_array)
        {
            self.participants.clear();
            for p in list {
                if let Some(id) = p.get("id").and_then(Value::as_str) {
                    self.participants.insert(
                        id.to_string(),
                        super::resolve::capability_kinds(p.get("capabilities")),
                    );
                }
            }
        }
    }

    fn presence(&mut self, env: &Value) {
        let payload = env.get("payload");
        let event = payload.and_then(|p| p.get("event")).and_then(Value::as_str);
        let participant = payload.and_then(|p| p.get("participant"));
        let Some(id) = participant
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str)
        else {
            return;
        };
        match event {
            Some("leave") => {
                self.participants.remove(id);
            }
            Some(_) => {
                let caps = participant.and_then(|p| p.get("capabilities"));
                self.participants
                    .insert(id.to_string(), super::resolve::capability_kinds(caps));
            }
            None => {}
        }
    }

    /// What a typed line means.
    pub(crate) fn on_input(&mut self, line: &str, time: &str) -> Action {
        let line = line.trim_end_matches(['\r', '\n']);
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Action::Nothing;
        }
        if let Some(cmd) = trimmed.strip_prefix('/') {
            return self.command(cmd, time);
        }
        if trimmed.starts_with('{') {
            return match serde_json::from_str::<Value>(trimmed) {
                Ok(Value::Object(obj)) => self.send(self.address(complete(obj, &self.me)), time),
                Ok(_) | Err(_) => Action::Print(vec![
                    "Invalid JSON envelope (send plain text for chat)".into(),
                ]),
            };
        }
        self.send(self.address(envelope::chat(&self.me, line)), time)
    }

    fn send(&self, env: Value, time: &str) -> Action {
        let kind = envelope::kind(&env).unwrap_or("").to_string();
        let to = envelope::to(&env).join(",");
        let to = if to.is_empty() {
            String::new()
        } else {
            format!(" to {to}")
        };
        let mut lines = framed(&format!("[{time}] → {kind}{to}"), &preview(&env), "");
        if self.verbose {
            lines.push(format!("    {env}"));
        }
        Action::Send(env, lines)
    }

    fn command(&mut self, cmd: &str, time: &str) -> Action {
        let mut words = cmd.split_whitespace();
        let name = words.next().unwrap_or("");
        if name == "call" {
            let rest = cmd.trim_start().strip_prefix("call").unwrap_or("");
            return match self.tool_call(rest) {
                Ok(env) => self.send(env, time),
                Err(msg) => Action::Print(vec![msg]),
            };
        }
        let arg = words.next();
        match name {
            "help" | "h" | "?" => Action::Print(HELP.lines().map(String::from).collect()),
            "exit" | "quit" | "q" => Action::Exit,
            "verbose" | "v" => {
                self.verbose = !self.verbose;
                Action::Print(vec![format!(
                    "verbose {}",
                    if self.verbose { "on" } else { "off" }
                )])
            }
            "participants" | "p" => {
                let mut lines = vec![format!(
                    "  {} (you; capabilities: {})",
                    self.me, self.my_capabilities
                )];
                for (id, caps) in &self.participants {
                    lines.push(format!("  {id} (capabilities: {caps})"));
                }
                Action::Print(lines)
            }
            "proposals" => {
                if self.proposals.is_empty() {
                    return Action::Print(vec!["No pending proposals".into()]);
                }
                Action::Print(
                    self.proposals
                        .values()
                        .map(|p| {
                            format!(
                                "  #{} from {} to {}: {}",
                                p.number,
                                p.from,
                                p.to.join(","),
                                payload_preview("mcp/proposal", &p.payload)
                            )
                        })
                        .collect(),
                )
            }
            "approve" | "reject" => {
                let Some(number) = arg.and_then(|a| a.trim_start_matches('#').parse::<u32>().ok())
                else {
                    return Action::Print(vec![format!("Usage: /{name} N (see /proposals)")]);
                };
                let Some(p) = self.proposals.remove(&number) else {
                    return Action::Print(vec![format!("No pending proposal #{number}")]);
                };
                let env = if name == "approve" {
                    self.fulfil(&p)
                } else {
                    envelope::build(
                        &self.me,
                        "mcp/reject",
                        std::slice::from_ref(&p.from),
                        std::slice::from_ref(&p.envelope_id),
                        json!({ "reason": format!("rejected by {}", self.me) }),
                    )
                };
                self.send(env, time)
            }
            other => Action::Print(vec![format!("Unknown command /{other} (try /help)")]),
        }
    }

    /// `/call P TOOL [JSON]`: an mcp/request tools/call to P (the answer is an mcp/response).
    fn tool_call(&mut self, rest: &str) -> Result<Value, String> {
        const USAGE: &str = "Usage: /call PARTICIPANT TOOL [JSON arguments], e.g. /call calculator add {\"a\":2,\"b\":3}";
        let rest = rest.trim();
        let (participant, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let rest = rest.trim_start();
        let (tool, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if participant.is_empty() || tool.is_empty() {
            return Err(USAGE.into());
        }
        let args = args.trim();
        let arguments = if args.is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(args) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(format!("The arguments must be a JSON object. {USAGE}")),
            }
        };
        let id = self.next_rpc_id;
        self.next_rpc_id += 1;
        Ok(envelope::build(
            &self.me,
            "mcp/request",
            &[participant.to_string()],
            &[],
            json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": "tools/call",
                "params": { "name": tool, "arguments": arguments },
            }),
        ))
    }

    /// The proposed request, sent by us to the proposal's target and correlated to it.
    fn fulfil(&mut self, p: &Proposal) -> Value {
        let has_id = p.payload.get("id").is_some();
        let env = envelope::fulfilment(
            &self.me,
            &p.envelope_id,
            &p.to,
            &p.payload,
            json!(self.next_rpc_id),
        );
        if !has_id {
            self.next_rpc_id += 1;
        }
        env
    }
}

/// Fill in what the user left out of a typed envelope: protocol, id, ts, from.
fn complete(mut obj: Map<String, Value>, me: &str) -> Value {
    obj.entry("protocol")
        .or_insert(json!(mew_protocol::PROTOCOL));
    if !obj.contains_key("id") {
        obj.insert("id".into(), json!(envelope::new_id(me)));
    }
    obj.entry("ts").or_insert(json!(mew_protocol::iso_now()));
    obj.insert("from".into(), json!(me));
    Value::Object(obj)
}

const PREVIEW_MAX: usize = 120;

/// Said after an abbreviated envelope.
const ABBREVIATED: &str = " [abbreviated: /verbose shows envelopes whole]";

/// What an envelope carries: people's text (chat, tool results) whole with its newlines, any
/// other payload as one line abbreviated to about PREVIEW_MAX characters.
pub(crate) fn preview(env: &Value) -> String {
    let kind = envelope::kind(env).unwrap_or("");
    let payload = env.get("payload").cloned().unwrap_or(Value::Null);
    let text = payload_preview(kind, &payload);
    if is_text(kind, &payload) {
        text
    } else {
        abbreviate(&text)
    }
}

/// Chat, and a tool result made of text items: meant for people, shown whole.
fn is_text(kind: &str, payload: &Value) -> bool {
    match kind {
        "chat" => true,
        "mcp/response" => {
            payload.get("error").is_none()
                && payload
                    .pointer("/result/content")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|i| i.get("text").is_some()))
        }
        _ => false,
    }
}

/// The header followed by the text: on the same line when the text is one line, else the text's
/// lines below it, indented, so that multi-line text (a maze board) keeps its shape.
fn framed(header: &str, text: &str, extra: &str) -> Vec<String> {
    let text = text.trim_end_matches(['\n', '\r']);
    if !text.contains('\n') {
        let sep = if text.is_empty() { "" } else { " " };
        return vec![format!("{header}{sep}{text}{extra}")];
    }
    let mut lines = vec![format!("{header}{extra}")];
    lines.extend(text.lines().map(|l| format!("  {l}")));
    lines
}

fn payload_preview(kind: &str, payload: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    match kind {
        "chat" => s(payload.get("text")),
        "mcp/request" | "mcp/proposal" => {
            let method = s(payload.get("method"));
            let params = payload.get("params");
            match (method.as_str(), params) {
                ("tools/call", Some(p)) => format!(
                    "tools/call {} {}",
                    s(p.get("name")),
                    p.get("arguments").map(Value::to_string).unwrap_or_default()
                ),
                (_, Some(p)) => format!("{method} {p}"),
                (_, None) => method,
            }
        }
        "mcp/response" => {
            if let Some(err) = payload.get("error") {
                return format!("error: {}", s(err.get("message")));
            }
            let result = payload.get("result");
            let texts: Vec<String> = result
                .and_then(|r| r.get("content"))
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(|i| i.get("text"))
                        .map(|t| s(Some(t)))
                        .collect()
                })
                .unwrap_or_default();
            if texts.is_empty() {
                result.map(Value::to_string).unwrap_or_default()
            } else {
                texts.join("\n")
            }
        }
        "system/welcome" => {
            let ids: Vec<String> = payload
                .get("participants")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|p| s(p.get("id"))).collect())
                .unwrap_or_default();
            format!(
                "joined; others here: {}",
                if ids.is_empty() {
                    "none".into()
                } else {
                    ids.join(", ")
                }
            )
        }
        "system/presence" => format!(
            "{} {}",
            s(payload.get("event")),
            s(payload.get("participant").and_then(|p| p.get("id")))
        ),
        "system/error" => {
            let attempted = s(payload.get("attempted_kind"));
            let e = s(payload.get("error"));
            if attempted.is_empty() {
                e
            } else {
                format!("{e} ({attempted})")
            }
        }
        "mcp/reject" => s(payload.get("reason")),
        _ => match payload {
            Value::Null => String::new(),
            other => other.to_string(),
        },
    }
}

fn abbreviate(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= PREVIEW_MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(PREVIEW_MAX - 1).collect();
        format!("{cut}…{ABBREVIATED}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal() -> Value {
        json!({"protocol":"mew/v0.4","id":"p-1","from":"assistant","to":["calculator"],
               "kind":"mcp/proposal","payload":{"method":"tools/call",
               "params":{"name":"add","arguments":{"a":2,"b":3}}}})
    }

    #[test]
    fn chat_and_json_input() {
        let mut s = Session::new("human");
        let Action::Send(env, lines) = s.on_input("hello there", "10:00:00") else {
            panic!("chat is sent")
        };
        assert_eq!(env["kind"], "chat");
        assert_eq!(env["payload"]["text"], "hello there");
        assert_eq!(lines, ["[10:00:00] → chat hello there"]);
        let Action::Send(env, _) = s.on_input(r#"{"kind":"x/y","to":["a"],"payload":{}}"#, "t")
        else {
            panic!("envelope is sent")
        };
        assert_eq!(env["from"], "human");
        assert_eq!(env["protocol"], "mew/v0.4");
        assert!(env["id"].is_string() && env["ts"].is_string());
        assert!(matches!(s.on_input("{not json", "t"), Action::Print(_)));
        assert_eq!(s.on_input("/exit", "t"), Action::Exit);
        assert_eq!(s.on_input("  ", "t"), Action::Nothing);
    }

    /// Upstream templates set `default_to: {chat: [coder]}` so that typed lines reach the agent;
    /// an envelope naming its own recipients keeps them.
    #[test]
    fn typed_chat_goes_to_default_to() {
        let to = BTreeMap::from([
            (
                "chat".to_string(),
                vec!["coder".to_string(), "bot".to_string()],
            ),
            ("x/y".to_string(), vec!["z".to_string()]),
        ]);
        let mut s = Session::new("human").with_default_to(to);
        let Action::Send(env, lines) = s.on_input("hi", "t") else {
            panic!("chat is sent")
        };
        assert_eq!(env["to"], json!(["coder", "bot"]));
        assert_eq!(lines, ["[t] → chat to coder,bot hi"]);
        let Action::Send(env, _) = s.on_input(r#"{"kind":"x/y","payload":{}}"#, "t") else {
            panic!("envelope is sent")
        };
        assert_eq!(env["to"], json!(["z"]));
        let Action::Send(env, _) =
            s.on_input(r#"{"kind":"chat","to":["a"],"payload":{"text":"x"}}"#, "t")
        else {
            panic!("envelope is sent")
        };
        assert_eq!(env["to"], json!(["a"]));
        let Action::Send(env, _) = s.on_input(r#"{"kind":"other","payload":{}}"#, "t") else {
            panic!("envelope is sent")
        };
        assert!(env.get("to").is_none());
    }

    #[test]
    fn approve_sends_the_proposed_request_correlated() {
        let mut s = Session::new("human");
        let lines = s.on_envelope(&proposal(), "10:00:01");
        assert_eq!(
            lines[0],
            "[10:00:01] ← assistant mcp/proposal tools/call add {\"a\":2,\"b\":3}  [proposal #1: /approve 1 or /reject 1]"
        );
        let Action::Send(env, _) = s.on_input("/approve 1", "t") else {
            panic!("approval is sent")
        };
        assert_eq!(env["kind"], "mcp/request");
        assert_eq!(env["to"], json!(["calculator"]));
        assert_eq!(env["correlation_id"], json!(["p-1"]));
        assert_eq!(env["payload"]["method"], "tools/call");
        assert_eq!(env["payload"]["jsonrpc"], "2.0");
        assert_eq!(env["payload"]["id"], 1);
        assert_eq!(s.pending().count(), 0);
        assert_eq!(
            s.on_input("/approve 1", "t"),
            Action::Print(vec!["No pending proposal #1".into()])
        );
    }

    #[test]
    fn reject_and_withdraw() {
        let mut s = Session::new("human");
        s.on_envelope(&proposal(), "t");
        let mut second = proposal();
        second["id"] = json!("p-2");
        s.on_envelope(&second, "t");
        let Action::Send(env, _) = s.on_input("/reject 2", "t") else {
            panic!("rejection is sent")
        };
        assert_eq!(env["kind"], "mcp/reject");
        assert_eq!(env["to"], json!(["assistant"]));
        assert_eq!(env["correlation_id"], json!(["p-2"]));
        let withdraw =
            json!({"from":"assistant","kind":"mcp/withdraw","correlation_id":["p-1"],"payload":{}});
        s.on_envelope(&withdraw, "t");
        assert_eq!(s.pending().count(), 0);
    }

    #[test]
    fn participants_from_welcome_and_presence() {
        let mut s = Session::new("human");
        let welcome = json!({"from":"system:gateway","kind":"system/welcome","payload":{
            "you":{"id":"human","capabilities":[{"kind":"*"}]},
            "participants":[{"id":"echo","capabilities":[{"kind":"chat"}]}]}});
        let lines = s.on_envelope(&welcome, "t");
        assert_eq!(
            lines[0],
            "[t] ← system:gateway system/welcome joined; others here: echo"
        );
        s.on_envelope(
            &json!({"from":"system:gateway","kind":"system/presence",
            "payload":{"event":"join","participant":{"id":"calc","capabilities":[]}}}),
            "t",
        );
        s.on_envelope(
            &json!({"from":"system:gateway","kind":"system/presence",
            "payload":{"event":"leave","participant":{"id":"echo"}}}),
            "t",
        );
        assert_eq!(
            s.on_input("/participants", "t"),
            Action::Print(vec![
                "  human (you; capabilities: *)".into(),
                "  calc (capabilities: none)".into()
            ])
        );
    }

    #[test]
    fn previews() {
        let resp = json!({"kind":"mcp/response","payload":{"jsonrpc":"2.0","id":1,
            "result":{"content":[{"type":"text","text":"5"}]}}});
        assert_eq!(preview(&resp), "5");
        let long = json!({"kind":"x/data","payload":{"text":"x".repeat(500)}});
        let short = preview(&long);
        assert!(short.ends_with(ABBREVIATED), "{short}");
        assert_eq!(
            short.chars().count(),
            PREVIEW_MAX + ABBREVIATED.chars().count()
        );
        let err = json!({"kind":"system/error","payload":{"error":"capability_violation","attempted_kind":"mcp/request"}});
        assert_eq!(preview(&err), "capability_violation (mcp/request)");
    }

    /// The line client cut chat at 120 characters and folded a tool result's newlines, so the
    /// cat-maze board printed as one line.
    #[test]
    fn line_mode_shows_whole_chat_and_keeps_tool_result_newlines() {
        let mut s = Session::new("human");
        let long = "word ".repeat(60);
        let chat = json!({"from":"echo","kind":"chat","payload":{"text": long.trim_end()}});
        assert_eq!(
            s.on_envelope(&chat, "t"),
            [format!("[t] ← echo chat {}", long.trim_end())]
        );
        let board = "#####\n#C  #\n#  E#\n#####";
        let resp = json!({"from":"cat-maze","kind":"mcp/response","payload":{"jsonrpc":"2.0",
            "id":1,"result":{"content":[{"type":"text","text":board}]}}});
        assert_eq!(
            s.on_envelope(&resp, "t"),
            [
                "[t] ← cat-maze mcp/response",
                "  #####",
                "  #C  #",
                "  #  E#",
                "  #####"
            ]
        );
        // Sent chat shows whole too.
        let Action::Send(_, lines) = s.on_input(long.trim_end(), "t") else {
            panic!("chat is sent")
        };
        assert_eq!(lines, [format!("[t] → chat {}", long.trim_end())]);
    }

    #[test]
    fn call_sends_a_tools_call_request() {
        let mut s = Session::new("human");
        let Action::Send(env, lines) = s.on_input(r#"/call calculator add {"a": 2, "b": 3}"#, "t")
        else {
            panic!("the call is sent")
        };
        assert_eq!(env["kind"], "mcp/request");
        assert_eq!(env["to"], json!(["calculator"]));
        assert_eq!(
            env["payload"],
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                   "params":{"name":"add","arguments":{"a":2,"b":3}}})
        );
        assert_eq!(
            lines,
            [r#"[t] → mcp/request to calculator tools/call add {"a":2,"b":3}"#]
        );
        let Action::Send(env, _) = s.on_input("/call cat-maze view", "t") else {
            panic!("a call without arguments is sent")
        };
        assert_eq!(
            env["payload"]["params"],
            json!({"name":"view","arguments":{}})
        );
        assert_eq!(env["payload"]["id"], 2);
        for bad in [
            "/call",
            "/call cat-maze",
            "/call cat-maze view [1]",
            "/call c v {x",
        ] {
            let Action::Print(msg) = s.on_input(bad, "t") else {
                panic!("{bad} is refused")
            };
            assert!(msg[0].contains("Usage: /call"), "{bad}: {msg:?}");
        }
        assert!(HELP.contains("/call P TOOL ARGS"));
    }
}
