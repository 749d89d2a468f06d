//! The calculator agent: an MCP server spoken over MEW. It answers `mcp/request` envelopes
//! addressed to it with an `mcp/response` to the requester whose payload is JSON-RPC 2.0.
//! Conventions (MCP): an unknown method or tool is a JSON-RPC error; a tool that fails (bad
//! arguments, division by zero) returns a `result` with `isError: true` and a text.
use serde_json::{json, Value};

use super::expr;
use crate::client::envelope;

const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

pub fn respond(me: &str, env: &Value) -> Option<Value> {
    if envelope::kind(env) != Some("mcp/request") || !envelope::is_for_me(env, me) {
        return None;
    }
    let payload = env.get("payload")?;
    // A JSON-RPC request without an id is a notification: no answer.
    let rpc_id = payload.get("id")?.clone();
    let method = payload.get("method").and_then(Value::as_str).unwrap_or("");
    let params = payload.get("params").cloned().unwrap_or(Value::Null);
    let outcome = handle(method, &params);
    let mut body = json!({ "jsonrpc": "2.0", "id": rpc_id });
    match outcome {
        Ok(result) => body["result"] = result,
        Err((code, message)) => body["error"] = json!({ "code": code, "message": message }),
    }
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

/// JSON-RPC method dispatch: `Ok(result)` or `Err((code, message))`.
fn handle(method: &str, params: &Value) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => Ok(json!({
            "protocolVersion": params.get("protocolVersion").and_then(Value::as_str)
                .unwrap_or(DEFAULT_PROTOCOL_VERSION),
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "mew-calculator", "version": env!("CARGO_PKG_VERSION") },
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => call(params),
        other => Err((METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    }
}

fn number_schema(description: &str) -> Value {
    json!({ "type": "number", "description": description })
}

fn tools() -> Value {
    let pair = json!({
        "type": "object",
        "properties": { "a": number_schema("First operand"), "b": number_schema("Second operand") },
        "required": ["a", "b"],
    });
    json!([
        { "name": "add", "description": "Add two numbers", "inputSchema": pair },
        { "name": "multiply", "description": "Multiply two numbers", "inputSchema": pair },
        {
            "name": "evaluate",
            "description": "Evaluate an arithmetic expression (+ - * / parentheses, decimals)",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "expression": { "type": "string", "description": "e.g. (2 + 3) * 4.5" }
                },
                "required": ["expression"],
            },
        },
    ])
}

fn call(params: &Value) -> Result<Value, (i64, String)> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err((INVALID_PARAMS, "tools/call requires params.name".into()));
    };
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let outcome = match name {
        "add" => operands(&args).map(|(a, b)| a + b),
        "multiply" => operands(&args).map(|(a, b)| a * b),
        "evaluate" => match args.get("expression").and_then(Value::as_str) {
            Some(e) => expr::evaluate(e).map_err(|err| format!("Cannot evaluate `{e}`: {err}")),
            None => Err("Invalid arguments: `expression` must be a string".into()),
        },
        other => return Err((INVALID_PARAMS, format!("Unknown tool: {other}"))),
    };
    let outcome = outcome.and_then(|v| {
        if v.is_finite() {
            Ok(v)
        } else {
            Err("Result is not a finite number".into())
        }
    });
    Ok(match outcome {
        Ok(v) => json!({ "content": [{ "type": "text", "text": format_number(v) }] }),
        Err(msg) => json!({ "content": [{ "type": "text", "text": msg }], "isError": true }),
    })
}

fn operands(args: &Value) -> Result<(f64, f64), String> {
    let get = |k: &str| args.get(k).and_then(Value::as_f64);
    match (get("a"), get("b")) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("Invalid arguments: `a` and `b` must be numbers".into()),
    }
}

/// Whole numbers print without a fractional part (`5`, not `5.0`).
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
