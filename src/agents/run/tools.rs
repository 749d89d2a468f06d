//! Tools discovered from other participants (`tools/list`) and their OpenAI function names.
//! OpenAI requires names matching `^[a-zA-Z0-9_-]{1,64}$`, so `<participant>__<tool>` is
//! sanitised and de-duplicated, and a map leads back to the real participant and tool.
use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) input_schema: Value,
}

/// Tools by owning participant, in discovery order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Registry {
    by_owner: IndexMap<String, Vec<Tool>>,
}

/// One model request's view of the tools: OpenAI `tools` plus the way back.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) functions: Vec<Value>,
    pub(crate) targets: HashMap<String, (String, String)>,
}

impl Registry {
    pub(crate) fn set(&mut self, owner: &str, tools: Vec<Tool>) {
        if tools.is_empty() {
            self.by_owner.shift_remove(owner);
        } else {
            self.by_owner.insert(owner.to_string(), tools);
        }
    }

    pub(crate) fn remove(&mut self, owner: &str) {
        self.by_owner.shift_remove(owner);
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.by_owner.values().map(Vec::len).sum()
    }

    pub(crate) fn catalog(&self) -> Catalog {
        let mut catalog = Catalog::default();
        for (owner, tools) in &self.by_owner {
            for tool in tools {
                let name = unique_name(&encode(owner, &tool.name), &catalog.targets);
                let parameters = if tool.input_schema.is_object() {
                    tool.input_schema.clone()
                } else {
                    json!({ "type": "object", "properties": {} })
                };
                let description = if tool.description.is_empty() {
                    format!("Tool `{}` of participant `{owner}`", tool.name)
                } else {
                    format!(
                        "{} (tool `{}` of participant `{owner}`)",
                        tool.description, tool.name
                    )
                };
                catalog.functions.push(json!({
                    "type": "function",
                    "function": { "name": name, "description": description, "parameters": parameters },
                }));
                catalog
                    .targets
                    .insert(name, (owner.clone(), tool.name.clone()));
            }
        }
        catalog
    }
}

/// `<participant>__<tool>` with every character outside `[a-zA-Z0-9_-]` replaced by `_`,
/// at most 64 characters.
pub(crate) fn encode(owner: &str, tool: &str) -> String {
    let raw = format!("{owner}__{tool}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "tool".into()
    } else {
        clean
    }
}

/// Sanitising can make two names equal (`a.b` and `a_b`): number the later ones.
fn unique_name(base: &str, taken: &HashMap<String, (String, String)>) -> String {
    if !taken.contains_key(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| {
            let suffix = format!("_{n}");
            let keep: String = base.chars().take(64 - suffix.len()).collect();
            format!("{keep}{suffix}")
        })
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or_else(|| base.to_string())
}

/// The tools of a `tools/list` JSON-RPC response payload.
pub(crate) fn parse_list(payload: &Value) -> Vec<Tool> {
    payload
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    Some(Tool {
                        name: t.get("name").and_then(Value::as_str)?.to_string(),
                        description: t
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        input_schema: t.get("inputSchema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The text a model gets for a `tools/call` JSON-RPC response payload: the content texts, an
/// `Error:` prefix for `isError` results and JSON-RPC errors.
pub(crate) fn result_text(payload: &Value) -> String {
    if let Some(err) = payload.get("error") {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| err.to_string());
        return format!("Error: {msg}");
    }
    let Some(result) = payload.get("result") else {
        return format!("Unexpected response: {payload}");
    };
    let texts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| match item.get("text").and_then(Value::as_str) {
                    Some(t) => t.to_string(),
                    None => item.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let body = if texts.is_empty() {
        result.to_string()
    } else {
        texts.join("\n")
    };
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        format!("Error: {body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
        }
    }

    #[test]
    fn names_are_valid_unique_and_map_back() {
        assert_eq!(encode("calc", "add"), "calc__add");
        assert_eq!(encode("fs.bridge", "read file/x"), "fs_bridge__read_file_x");
        let long = encode(&"p".repeat(50), &"t".repeat(50));
        assert_eq!(long.len(), 64);
        let mut reg = Registry::default();
        reg.set("a.b", vec![tool("x")]);
        reg.set("a_b", vec![tool("x"), tool("é")]);
        let cat = reg.catalog();
        let names: Vec<&str> = cat
            .functions
            .iter()
            .filter_map(|f| f["function"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a_b__x", "a_b__x_2", "a_b___"]);
        assert_eq!(
            cat.targets["a_b__x_2"],
            ("a_b".to_string(), "x".to_string())
        );
        assert_eq!(cat.targets["a_b__x"], ("a.b".to_string(), "x".to_string()));
        let valid = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        assert!(names.iter().all(|n| valid(n)));
        reg.remove("a_b");
        assert_eq!(reg.count(), 1);
    }

    #[test]
    fn results_become_text() {
        let ok = json!({"result": {"content": [{"type": "text", "text": "42"}]}});
        assert_eq!(result_text(&ok), "42");
        let failed =
            json!({"result": {"content": [{"type": "text", "text": "nope"}], "isError": true}});
        assert_eq!(result_text(&failed), "Error: nope");
        let rpc = json!({"error": {"code": -32602, "message": "Unknown tool: x"}});
        assert_eq!(result_text(&rpc), "Error: Unknown tool: x");
    }

    #[test]
    fn lists_parse() {
        let payload = json!({"result": {"tools": [
            {"name": "add", "description": "Add", "inputSchema": {"type": "object"}},
            {"description": "nameless"}
        ]}});
        let tools = parse_list(&payload);
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].name, "add");
    }
}
