//! The echo agent: answers each chat from someone else with `Echo: <text>`.
use serde_json::{json, Value};

use mew_protocol::envelope;

pub(crate) fn respond(me: &str, env: &Value) -> Option<Value> {
    if envelope::kind(env) != Some("chat") || !envelope::is_for_me(env, me) {
        return None;
    }
    let text = env.pointer("/payload/text").and_then(Value::as_str)?;
    let sender = envelope::from(env)?;
    let correlation: Vec<String> = envelope::id(env).map(String::from).into_iter().collect();
    Some(envelope::build(
        me,
        "chat",
        &[sender.to_string()],
        &correlation,
        json!({ "text": format!("Echo: {text}") }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_chat_from_others_only() {
        let chat = json!({"id":"m1","from":"alice","kind":"chat","payload":{"text":"hi"}});
        let reply = respond("echo", &chat).expect("reply");
        assert_eq!(reply["kind"], "chat");
        assert_eq!(reply["to"], json!(["alice"]));
        assert_eq!(reply["correlation_id"], json!(["m1"]));
        assert_eq!(reply["payload"]["text"], "Echo: hi");
        assert_eq!(reply["from"], "echo");

        let own = json!({"id":"m2","from":"echo","kind":"chat","payload":{"text":"Echo: hi"}});
        assert!(respond("echo", &own).is_none());
        // Another echo agent's reply to someone else is not answered (no echo ping-pong).
        let other = json!({"id":"m3","from":"echo2","to":["alice"],"kind":"chat","payload":{"text":"Echo: hi"}});
        assert!(respond("echo", &other).is_none());
        let not_chat = json!({"id":"m4","from":"alice","kind":"mcp/request","payload":{}});
        assert!(respond("echo", &not_chat).is_none());
    }
}
