//! The fulfiller agent (upstream's `mew agent start --type fulfiller`): carries out every
//! `mcp/proposal` it sees by sending the proposed request on the proposer's behalf, as a human
//! approving everything would. For spaces whose proposals need no review (tests, demos).
use serde_json::Value;

use mew_protocol::envelope;

pub(crate) fn respond(me: &str, env: &Value) -> Option<Value> {
    if envelope::kind(env) != Some("mcp/proposal") || envelope::from(env) == Some(me) {
        return None;
    }
    let proposal_id = envelope::id(env)?;
    let to: Vec<String> = envelope::to(env).iter().map(|s| s.to_string()).collect();
    let payload = env.get("payload").cloned().unwrap_or(Value::Null);
    // The proposal's own id is unique in the space: a fine JSON-RPC id when the call has none.
    Some(envelope::fulfilment(
        me,
        proposal_id,
        &to,
        &payload,
        Value::String(proposal_id.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fulfils_proposals_of_others_only() {
        let proposal = json!({"id":"p1","from":"agent","to":["calc"],"kind":"mcp/proposal",
            "payload":{"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}});
        let req = respond("fulfiller", &proposal).expect("request");
        assert_eq!(req["kind"], "mcp/request");
        assert_eq!(req["from"], "fulfiller");
        assert_eq!(req["to"], json!(["calc"]));
        assert_eq!(req["correlation_id"], json!(["p1"]));
        assert_eq!(req["payload"]["jsonrpc"], "2.0");
        assert_eq!(req["payload"]["id"], "p1");
        assert_eq!(req["payload"]["params"]["name"], "add");

        let with_id = json!({"id":"p2","from":"agent","kind":"mcp/proposal",
            "payload":{"jsonrpc":"2.0","id":9,"method":"tools/list"}});
        assert_eq!(
            respond("fulfiller", &with_id).expect("request")["payload"]["id"],
            9
        );

        let own = json!({"id":"p3","from":"fulfiller","kind":"mcp/proposal","payload":{}});
        assert!(respond("fulfiller", &own).is_none());
        let chat = json!({"id":"c1","from":"agent","kind":"chat","payload":{"text":"hi"}});
        assert!(respond("fulfiller", &chat).is_none());
    }
}
