//! The bridge's translation between MEW envelopes and the MCP server's JSON-RPC, without I/O:
//! requests get a bridge-local numeric id (several requesters may use the same JSON-RPC id),
//! and the server's answer goes back to the requester with its own id restored.
use std::collections::HashMap;

use serde_json::{json, Value};

use mew_protocol::envelope;

/// Answer to server-initiated requests (sampling, roots, elicitation): the bridge has no
/// client to forward them to.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;

/// Who asked for a forwarded request.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    requester: String,
    envelope_id: Option<String>,
    rpc_id: Value,
}

/// What to do with something that arrived.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Write this JSON-RPC message to the server.
    ToServer(Value),
    /// Send this envelope to the space.
    ToSpace(Value),
}

#[derive(Debug)]
pub(crate) struct Router {
    me: String,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    /// The server's `initialize` result, replayed to participants that send `initialize`
    /// (the server was initialised once, by the bridge, and may refuse a second time).
    init_result: Value,
}

impl Router {
    /// `first_id`: the first local id free for forwarded requests (the bridge's own handshake
    /// used the ones below).
    pub(crate) fn new(me: &str, init_result: Value, first_id: u64) -> Router {
        Router {
            me: me.to_string(),
            next_id: first_id,
            pending: HashMap::new(),
            init_result,
        }
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// An envelope from the gateway. Only `mcp/request`s addressed to this bridge by `to` are
    /// acted on: the gateway relays everything to everyone, and a request without `to` could
    /// be meant for any of several MCP participants, which would all answer it.
    pub(crate) fn on_space(&mut self, env: &Value) -> Vec<Action> {
        if envelope::kind(env) != Some("mcp/request")
            || envelope::from(env) == Some(self.me.as_str())
            || !envelope::to(env).contains(&self.me.as_str())
        {
            return Vec::new();
        }
        let Some(payload) = env.get("payload").and_then(Value::as_object) else {
            return Vec::new();
        };
        let requester = envelope::from(env).unwrap_or_default().to_string();
        let envelope_id = envelope::id(env).map(String::from);
        let method = payload.get("method").and_then(Value::as_str).unwrap_or("");
        let Some(rpc_id) = payload.get("id").cloned() else {
            // A notification: pass it on, pointing a cancellation at our id for that request.
            let mut note = Value::Object(payload.clone());
            note["jsonrpc"] = json!("2.0");
            if method == "notifications/cancelled" {
                let theirs = note["params"]["requestId"].clone();
                match self.local_id(&requester, &theirs) {
                    Some(local) => {
                        // The server need not answer a cancelled request: forget it.
                        self.pending.remove(&local);
                        note["params"]["requestId"] = json!(local);
                    }
                    None => return Vec::new(),
                }
            }
            return vec![Action::ToServer(note)];
        };
        if method == "initialize" {
            let body = json!({ "jsonrpc": "2.0", "id": rpc_id, "result": self.init_result });
            return vec![Action::ToSpace(self.response(
                &requester,
                envelope_id,
                body,
            ))];
        }
        let local = self.next_id;
        self.next_id += 1;
        let mut request = Value::Object(payload.clone());
        request["jsonrpc"] = json!("2.0");
        request["id"] = json!(local);
        self.pending.insert(
            local,
            Pending {
                requester,
                envelope_id,
                rpc_id,
            },
        );
        vec![Action::ToServer(request)]
    }

    fn local_id(&self, requester: &str, rpc_id: &Value) -> Option<u64> {
        self.pending
            .iter()
            .find(|(_, p)| p.requester == requester && &p.rpc_id == rpc_id)
            .map(|(id, _)| *id)
    }

    /// A message from the server (after the handshake).
    pub(crate) fn on_server(&mut self, msg: &Value) -> Vec<Action> {
        let method = msg.get("method").and_then(Value::as_str);
        let id = msg.get("id");
        match (method, id) {
            // A response to a forwarded request.
            (None, Some(id)) => {
                let Some(p) = id.as_u64().and_then(|n| self.pending.remove(&n)) else {
                    tracing::debug!("MCP server answered an unknown request id {id}");
                    return Vec::new();
                };
                let mut body = msg.clone();
                body["id"] = p.rpc_id;
                vec![Action::ToSpace(self.response(
                    &p.requester,
                    p.envelope_id,
                    body,
                ))]
            }
            // The server asks us something. `ping` is cheap to answer; anything else would
            // need a client behind the bridge.
            (Some(method), Some(id)) => {
                let body = if method == "ping" {
                    json!({ "jsonrpc": "2.0", "id": id, "result": {} })
                } else {
                    json!({ "jsonrpc": "2.0", "id": id, "error": {
                        "code": METHOD_NOT_FOUND,
                        "message": format!("Method not supported by the mew bridge: {method}"),
                    }})
                };
                vec![Action::ToServer(body)]
            }
            // A notification (progress, list changed, log messages): tell the space.
            (Some(_), None) => vec![Action::ToSpace(envelope::build(
                &self.me,
                "mcp/notification",
                &[],
                &[],
                msg.clone(),
            ))],
            (None, None) => Vec::new(),
        }
    }

    fn response(&self, requester: &str, envelope_id: Option<String>, body: Value) -> Value {
        let correlation: Vec<String> = envelope_id.into_iter().collect();
        envelope::build(
            &self.me,
            "mcp/response",
            &[requester.to_string()],
            &correlation,
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(from: &str, to: Value, env_id: &str, rpc_id: Value, method: &str) -> Value {
        json!({"id": env_id, "from": from, "to": to, "kind": "mcp/request",
               "payload": {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": {}}})
    }

    fn router() -> Router {
        Router::new("maze", json!({"serverInfo": {"name": "m"}}), 10)
    }

    fn only(actions: Vec<Action>) -> Action {
        assert_eq!(actions.len(), 1, "{actions:?}");
        actions.into_iter().next().unwrap()
    }

    #[test]
    fn same_rpc_id_from_two_requesters_maps_back_correctly() {
        let mut r = router();
        let a = only(r.on_space(&request(
            "alice",
            json!(["maze"]),
            "e1",
            json!(1),
            "tools/list",
        )));
        let b = only(r.on_space(&request(
            "bob",
            json!(["maze"]),
            "e2",
            json!(1),
            "tools/list",
        )));
        let (Action::ToServer(a), Action::ToServer(b)) = (a, b) else {
            panic!("not forwarded");
        };
        assert_eq!((a["id"].clone(), b["id"].clone()), (json!(10), json!(11)));
        assert_eq!(a["method"], "tools/list");
        let back = only(r.on_server(&json!({"jsonrpc": "2.0", "id": 11, "result": {"tools": []}})));
        let Action::ToSpace(env) = back else { panic!() };
        assert_eq!(env["kind"], "mcp/response");
        assert_eq!(env["from"], "maze");
        assert_eq!(env["to"], json!(["bob"]));
        assert_eq!(env["correlation_id"], json!(["e2"]));
        assert_eq!(env["payload"]["id"], 1);
        assert_eq!(env["payload"]["result"], json!({"tools": []}));
        assert_eq!(r.pending(), 1);
        // A stray or repeated answer goes nowhere.
        assert!(r
            .on_server(&json!({"jsonrpc": "2.0", "id": 11, "result": {}}))
            .is_empty());
    }

    #[test]
    fn only_requests_addressed_to_the_bridge() {
        let mut r = router();
        for env in [
            request("alice", json!(["other"]), "e1", json!(1), "tools/list"),
            request("alice", Value::Null, "e2", json!(1), "tools/list"),
            request("maze", json!(["maze"]), "e3", json!(1), "tools/list"),
            json!({"id": "e4", "from": "alice", "to": ["maze"], "kind": "chat", "payload": {}}),
        ] {
            assert!(r.on_space(&env).is_empty(), "{env}");
        }
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn initialize_is_answered_from_the_handshake() {
        let mut r = router();
        let Action::ToSpace(env) = only(r.on_space(&request(
            "alice",
            json!(["maze"]),
            "e1",
            json!("x"),
            "initialize",
        ))) else {
            panic!()
        };
        assert_eq!(env["payload"]["id"], "x");
        assert_eq!(env["payload"]["result"]["serverInfo"]["name"], "m");
    }

    #[test]
    fn server_messages() {
        let mut r = router();
        let Action::ToSpace(n) = only(
            r.on_server(&json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})),
        ) else {
            panic!()
        };
        assert_eq!(n["kind"], "mcp/notification");
        assert_eq!(n["payload"]["method"], "notifications/tools/list_changed");
        let Action::ToServer(e) = only(
            r.on_server(&json!({"jsonrpc": "2.0", "id": 5, "method": "sampling/createMessage"})),
        ) else {
            panic!()
        };
        assert_eq!(e["id"], 5);
        assert_eq!(e["error"]["code"], METHOD_NOT_FOUND);
    }

    #[test]
    fn cancellation_points_at_the_local_id() {
        let mut r = router();
        r.on_space(&request(
            "alice",
            json!(["maze"]),
            "e1",
            json!(7),
            "tools/call",
        ));
        let cancel = json!({"id": "e2", "from": "alice", "to": ["maze"], "kind": "mcp/request",
            "payload": {"method": "notifications/cancelled", "params": {"requestId": 7}}});
        let Action::ToServer(c) = only(r.on_space(&cancel)) else {
            panic!()
        };
        assert_eq!(c["params"]["requestId"], 10);
        let mut unknown = cancel.clone();
        unknown["payload"]["params"]["requestId"] = json!(99);
        assert!(r.on_space(&unknown).is_empty());
    }
}
