//! Human-readable one-line rendering of received messages for the interactive mode.
use serde_json::Value;

/// `HH:MM:SS` from an RFC 3339 timestamp, or empty.
fn clock(env: &Value) -> String {
    env.get("ts")
        .and_then(Value::as_str)
        .and_then(|ts| ts.split('T').nth(1))
        .map(|t| t.chars().take(8).collect())
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

/// One line describing a received message.
pub fn render(env: &Value) -> String {
    let from = str_at(env, &["from"]).unwrap_or("?");
    let kind = str_at(env, &["kind"]).unwrap_or("");
    let time = clock(env);
    let payload = env.get("payload").cloned().unwrap_or(Value::Null);
    let body = match kind {
        "chat" => format!(
            "{from}: {}",
            str_at(&payload, &["text"]).unwrap_or_default()
        ),
        "system/welcome" => {
            let me = str_at(&payload, &["you", "id"]).unwrap_or("?");
            let others: Vec<&str> = payload
                .get("participants")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().filter_map(|p| str_at(p, &["id"])).collect())
                .unwrap_or_default();
            if others.is_empty() {
                format!("* joined as {me}; nobody else here")
            } else {
                format!("* joined as {me}; here: {}", others.join(", "))
            }
        }
        "system/presence" => {
            let who = str_at(&payload, &["participant", "id"]).unwrap_or("?");
            let event = str_at(&payload, &["event"]).unwrap_or("?");
            let verb = match event {
                "join" => "joined",
                "leave" => "left",
                other => other,
            };
            format!("* {who} {verb}")
        }
        "system/error" => format!(
            "! error: {}",
            str_at(&payload, &["message"])
                .or_else(|| str_at(&payload, &["error"]))
                .unwrap_or("?")
        ),
        "" => format!("{from}: {env}"),
        _ => {
            let to: Vec<&str> = mew_protocol::envelope::to(env);
            let arrow = if to.is_empty() {
                String::new()
            } else {
                format!(" → {}", to.join(","))
            };
            format!("{from}{arrow} [{kind}] {payload}")
        }
    };
    if time.is_empty() {
        body
    } else {
        format!("[{time}] {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_common_kinds() {
        let chat = json!({"ts":"2025-12-01T10:00:00.123Z","from":"alice","kind":"chat","payload":{"text":"hi"}});
        assert_eq!(render(&chat), "[10:00:00] alice: hi");
        let welcome = json!({"kind":"system/welcome","from":"system:gateway",
            "payload":{"you":{"id":"me"},"participants":[{"id":"a"},{"id":"b"}]}});
        assert_eq!(render(&welcome), "* joined as me; here: a, b");
        let leave = json!({"kind":"system/presence","payload":{"event":"leave","participant":{"id":"bob"}}});
        assert_eq!(render(&leave), "* bob left");
        let other =
            json!({"from":"x","to":["y"],"kind":"mcp/request","payload":{"method":"tools/list"}});
        assert_eq!(
            render(&other),
            r#"x → y [mcp/request] {"method":"tools/list"}"#
        );
        let err = json!({"kind":"system/error","payload":{"error":"capability_violation"}});
        assert_eq!(render(&err), "! error: capability_violation");
    }
}
