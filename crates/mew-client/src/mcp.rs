//! The JSON-RPC 2.0 side shared by the built-in MCP servers: method dispatch (pure, testable)
//! and the stdio transport (one JSON message per line on stdin/stdout, MCP's stdio transport).
use std::io::{BufRead, Write};

use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
/// What we answer with when a client does not say which protocol version it speaks.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// A JSON-RPC error: code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError {
            code: INVALID_PARAMS,
            message: message.into(),
        }
    }
}

/// A tool's outcome. A failing tool (bad path, wall) is still a result, flagged `isError`,
/// so that the model sees the text; protocol mistakes are `RpcError`s instead.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub text: String,
    pub is_error: bool,
    /// Binary content instead of text: (base64 data, MIME type), sent as an `image`, `audio` or
    /// `blob` item by its type.
    pub media: Option<(String, String)>,
}

impl ToolResult {
    pub fn ok(text: impl Into<String>) -> Self {
        ToolResult {
            text: text.into(),
            is_error: false,
            media: None,
        }
    }

    /// A file's bytes (already base64) with their MIME type.
    pub fn media(data: String, mime: impl Into<String>) -> Self {
        ToolResult {
            text: String::new(),
            is_error: false,
            media: Some((data, mime.into())),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        ToolResult {
            text: text.into(),
            is_error: true,
            media: None,
        }
    }

    /// The `tools/call` result as sent (for tests of servers built on this).
    pub fn to_json_for_test(&self) -> Value {
        self.to_json()
    }

    fn to_json(&self) -> Value {
        let mut v = match &self.media {
            Some((data, mime)) => {
                let kind = match mime.split('/').next() {
                    Some("image") => "image",
                    Some("audio") => "audio",
                    _ => "blob",
                };
                json!({ "content": [{ "type": kind, "data": data, "mimeType": mime }] })
            }
            None => json!({ "content": [{ "type": "text", "text": self.text }] }),
        };
        if self.is_error {
            v["isError"] = json!(true);
        }
        v
    }
}

/// What a built-in server provides; the protocol around it is handled here.
pub trait ToolServer {
    /// `serverInfo.name`.
    fn name(&self) -> &str;
    /// The `tools/list` entries (`name`, `description`, `inputSchema`).
    fn tools(&self) -> Vec<Value>;
    /// Run a tool. `Err` only for an unknown tool or unusable arguments.
    fn call(&mut self, tool: &str, args: &Value) -> Result<ToolResult, RpcError>;
}

/// Build a tool description with an object schema.
pub fn tool(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": { "type": "object", "properties": properties, "required": required },
    })
}

/// A required string argument.
pub fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("argument `{key}` must be a string")))
}

/// Answer one incoming message; `None` for notifications and stray responses.
pub fn handle_message(server: &mut dyn ToolServer, msg: &Value) -> Option<Value> {
    let Some(obj) = msg.as_object() else {
        return Some(error_body(
            Value::Null,
            INVALID_REQUEST,
            "expected a JSON object",
        ));
    };
    let id = obj.get("id").cloned();
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        // A response to a request we never send, or garbage: answer only if it has an id.
        return id.map(|id| error_body(id, INVALID_REQUEST, "missing method"));
    };
    // Notifications (`notifications/initialized`, `…/cancelled`) need no answer; every
    // request here completes synchronously, so there is nothing to cancel.
    let id = id?;
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let outcome = match method {
        "initialize" => Ok(json!({
            "protocolVersion": params.get("protocolVersion").and_then(Value::as_str)
                .unwrap_or(DEFAULT_PROTOCOL_VERSION),
            "capabilities": { "tools": {} },
            "serverInfo": { "name": server.name(), "version": env!("CARGO_PKG_VERSION") },
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": server.tools() })),
        "tools/call" => match params.get("name").and_then(Value::as_str) {
            Some(name) => {
                let args = params.get("arguments").cloned().unwrap_or(json!({}));
                server.call(name, &args).map(|r| r.to_json())
            }
            None => Err(RpcError::invalid_params("tools/call requires params.name")),
        },
        other => Err(RpcError {
            code: METHOD_NOT_FOUND,
            message: format!("Method not found: {other}"),
        }),
    };
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => error_body(id, e.code, &e.message),
    })
}

fn error_body(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// Serve `server` over `input`/`output` until the input ends (the client closed its pipe).
pub fn serve(
    server: &mut dyn ToolServer,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(msg) => handle_message(server, &msg),
            Err(e) => Some(error_body(
                Value::Null,
                PARSE_ERROR,
                &format!("Parse error: {e}"),
            )),
        };
        if let Some(reply) = reply {
            // One message per line: serde_json never emits raw newlines in compact form.
            writeln!(output, "{reply}")?;
            output.flush()?;
        }
    }
    Ok(())
}

/// Serve on the process's stdin/stdout (how a bridge runs us).
pub fn serve_stdio(server: &mut dyn ToolServer) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve(server, stdin.lock(), stdout.lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;

    impl ToolServer for Upper {
        fn name(&self) -> &str {
            "upper"
        }
        fn tools(&self) -> Vec<Value> {
            vec![tool(
                "upper",
                "Uppercase",
                json!({"s": {"type": "string"}}),
                &["s"],
            )]
        }
        fn call(&mut self, tool: &str, args: &Value) -> Result<ToolResult, RpcError> {
            match tool {
                "upper" => Ok(ToolResult::ok(str_arg(args, "s")?.to_uppercase())),
                other => Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
            }
        }
    }

    fn run(input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        serve(&mut Upper, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn speaks_json_rpc_over_lines() {
        let replies = run(concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\n\n",
            r#"{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"upper","arguments":{"s":"hi"}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":4,"method":"resources/list"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"upper","arguments":{}}}"#,
            "\n",
            "not json\n",
        ));
        assert_eq!(replies.len(), 6, "{replies:?}");
        assert_eq!(replies[0]["id"], 1);
        assert_eq!(replies[0]["result"]["protocolVersion"], "2024-11-05");
        assert_eq!(replies[0]["result"]["serverInfo"]["name"], "upper");
        assert_eq!(replies[1]["id"], "b");
        assert_eq!(replies[1]["result"]["content"][0]["text"], "HI");
        assert!(replies[1]["result"].get("isError").is_none());
        assert_eq!(replies[2]["error"]["code"], INVALID_PARAMS);
        assert_eq!(replies[3]["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(replies[4]["error"]["code"], INVALID_PARAMS);
        assert_eq!(replies[5]["error"]["code"], PARSE_ERROR);
    }
}
