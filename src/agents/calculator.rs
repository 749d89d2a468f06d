//! The calculator agent: an MCP server spoken over MEW. It answers `mcp/request` envelopes
//! addressed to it with an `mcp/response` to the requester whose payload is JSON-RPC 2.0.
//! The JSON-RPC side (initialize, tools/list, tools/call, errors) is the one the stdio MCP
//! servers use (`mcp::server`); only the tools and the MEW envelope around them are here.
use serde_json::{json, Value};

use super::expr;
use mew_client::mcp::{handle_message, tool, RpcError, ToolResult, ToolServer};
use mew_protocol::envelope;

pub(crate) fn respond(me: &str, env: &Value) -> Option<Value> {
    if envelope::kind(env) != Some("mcp/request") || !envelope::is_for_me(env, me) {
        return None;
    }
    // Only a request (an object with an id) is answered; notifications and junk are not.
    let payload = env.get("payload").filter(|p| p.get("id").is_some())?;
    let body = handle_message(&mut Calculator, payload)?;
    let requester = envelope::from(env)?;
    let correlation: Vec<String> = envelope::id(env).map(String::from).into_iter().collect();
    Some(envelope::build(
        me,
        "mcp/response",
        &[requester.to_string()],
        &correlation,
        body,
    ))
}

struct Calculator;

impl ToolServer for Calculator {
    fn name(&self) -> &str {
        "mew-calculator"
    }

    fn tools(&self) -> Vec<Value> {
        let number = |d: &str| json!({ "type": "number", "description": d });
        let pair = json!({ "a": number("First operand"), "b": number("Second operand") });
        vec![
            tool("add", "Add two numbers", pair.clone(), &["a", "b"]),
            tool("multiply", "Multiply two numbers", pair, &["a", "b"]),
            tool(
                "evaluate",
                "Evaluate an arithmetic expression (+ - * / parentheses, decimals)",
                json!({ "expression": { "type": "string", "description": "e.g. (2 + 3) * 4.5" } }),
                &["expression"],
            ),
        ]
    }

    fn call(&mut self, name: &str, args: &Value) -> Result<ToolResult, RpcError> {
        let outcome = match name {
            "add" => operands(args).map(|(a, b)| a + b),
            "multiply" => operands(args).map(|(a, b)| a * b),
            "evaluate" => match args.get("expression").and_then(Value::as_str) {
                Some(e) => expr::evaluate(e).map_err(|err| format!("Cannot evaluate `{e}`: {err}")),
                None => Err("Invalid arguments: `expression` must be a string".into()),
            },
            other => return Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
        };
        Ok(match outcome {
            Ok(v) if v.is_finite() => ToolResult::ok(format_number(v)),
            Ok(_) => ToolResult::error("Result is not a finite number"),
            Err(msg) => ToolResult::error(msg),
        })
    }
}

fn operands(args: &Value) -> Result<(f64, f64), String> {
    let get = |k: &str| args.get(k).and_then(Value::as_f64);
    match (get("a"), get("b")) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("Invalid arguments: `a` and `b` must be numbers".into()),
    }
}

/// Whole numbers print without a fractional part (`5`, not `5.0`).
pub(crate) fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mew_client::mcp::{INVALID_PARAMS, METHOD_NOT_FOUND};

    fn request(method: &str, params: Value) -> Value {
        json!({"id":"req-1","from":"client","to":["calc"],"kind":"mcp/request",
               "payload":{"jsonrpc":"2.0","id":7,"method":method,"params":params}})
    }

    fn call_tool(name: &str, args: Value) -> Value {
        respond(
            "calc",
            &request("tools/call", json!({"name": name, "arguments": args})),
        )
        .expect("response")
    }

    #[test]
    fn lists_tools_with_schemas() {
        let r = respond("calc", &request("tools/list", json!({}))).expect("response");
        assert_eq!(r["kind"], "mcp/response");
        assert_eq!(r["to"], json!(["client"]));
        assert_eq!(r["correlation_id"], json!(["req-1"]));
        assert_eq!(r["payload"]["jsonrpc"], "2.0");
        assert_eq!(r["payload"]["id"], 7);
        let names: Vec<&str> = r["payload"]["result"]["tools"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["add", "multiply", "evaluate"]);
        assert_eq!(
            r["payload"]["result"]["tools"][0]["inputSchema"]["type"],
            "object"
        );
    }

    #[test]
    fn tools_compute() {
        let r = call_tool("add", json!({"a": 2, "b": 3}));
        assert_eq!(r["payload"]["result"]["content"][0]["text"], "5");
        assert!(r["payload"]["result"].get("isError").is_none());
        let r = call_tool("multiply", json!({"a": 2.5, "b": 4}));
        assert_eq!(r["payload"]["result"]["content"][0]["text"], "10");
        let r = call_tool("evaluate", json!({"expression": "(2 + 3) * -1.5"}));
        assert_eq!(r["payload"]["result"]["content"][0]["text"], "-7.5");
    }

    #[test]
    fn tool_failures_are_results_with_is_error() {
        let r = call_tool("evaluate", json!({"expression": "1 / 0"}));
        assert_eq!(r["payload"]["result"]["isError"], true);
        let text = r["payload"]["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("");
        assert!(text.contains("division by zero"), "{text}");
        let r = call_tool("add", json!({"a": "x"}));
        assert_eq!(r["payload"]["result"]["isError"], true);
        let r = call_tool("evaluate", json!({}));
        assert_eq!(r["payload"]["result"]["isError"], true);
    }

    #[test]
    fn protocol_errors_are_jsonrpc_errors() {
        let r = call_tool("sqrt", json!({"x": 4}));
        assert_eq!(r["payload"]["error"]["code"], INVALID_PARAMS);
        assert!(r["payload"].get("result").is_none());
        let r = respond("calc", &request("resources/list", json!({}))).expect("response");
        assert_eq!(r["payload"]["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(r["payload"]["id"], 7);
    }

    #[test]
    fn ignores_what_is_not_for_it() {
        let mut own = request("tools/list", json!({}));
        own["from"] = json!("calc");
        assert!(respond("calc", &own).is_none());
        let mut other = request("tools/list", json!({}));
        other["to"] = json!(["someone-else"]);
        assert!(respond("calc", &other).is_none());
        let mut note = request("notifications/initialized", json!({}));
        if let Some(p) = note["payload"].as_object_mut() {
            p.remove("id");
        }
        assert!(respond("calc", &note).is_none());
        let response = json!({"from":"x","kind":"mcp/response","payload":{"id":1,"result":{}}});
        assert!(respond("calc", &response).is_none());
    }
}
