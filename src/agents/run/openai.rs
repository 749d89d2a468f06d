//! A minimal OpenAI-compatible Chat Completions client (`POST {base}/chat/completions`): OpenAI
//! itself over HTTPS, or local servers (Ollama, LM Studio, vLLM) over plain HTTP. Failures become
//! one-sentence explanations; the API key is never part of any message.
use std::time::Duration;

use serde_json::{json, Value};

use super::config::ModelSettings;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Server-provided error text is quoted, but not at any length.
const MAX_DETAIL: usize = 200;

pub(crate) struct ChatClient {
    http: reqwest::Client,
    url: String,
    model: String,
    api_key: String,
    timeout: Duration,
    temperature: Option<f64>,
}

/// What the model answered: the assistant message as received (to append to the conversation)
/// plus its text and tool calls.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) message: Value,
    pub(crate) text: Option<String>,
    pub(crate) tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The raw `arguments` (a JSON string per the API; some servers send an object).
    pub(crate) arguments: Value,
}

impl ChatClient {
    pub(crate) fn new(
        settings: &ModelSettings,
        api_key: String,
        timeout: Duration,
        temperature: Option<f64>,
    ) -> Result<ChatClient, String> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("mew/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(ChatClient {
            http,
            url: format!(
                "{}/chat/completions",
                settings.base_url.trim_end_matches('/')
            ),
            model: settings.model.clone(),
            api_key,
            timeout,
            temperature,
        })
    }

    /// One completion. `Err` is a sentence fit to show a user.
    pub(crate) async fn complete(
        &self,
        messages: &[Value],
        tools: &[Value],
    ) -> Result<Reply, String> {
        if self.url.starts_with("https://") && !tls_supported() {
            return Err(format!(
                "HTTPS is not available on this machine (the TLS library needs a CPU with \
                 AES, PCLMUL, AVX2, BMI and ADX instructions), so {} cannot be reached; use an \
                 http:// OPENAI_BASE_URL.",
                self.url
            ));
        }
        let mut body = json!({ "model": self.model, "messages": messages });
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools.to_vec());
        }
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        let sent = self
            .http
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.scrub(&self.transport_error(&e))),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Err(self.scrub(&self.transport_error(&e))),
        };
        if !status.is_success() {
            return Err(self.scrub(&status_error(status.as_u16(), &text)));
        }
        parse_reply(&text).map_err(|e| self.scrub(&e))
    }

    fn transport_error(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!(
                "The model API did not answer within {} s.",
                self.timeout.as_secs_f64().ceil() as u64
            )
        } else if e.is_connect() {
            // The innermost cause says which: name resolution, refused, TLS, certificate.
            format!(
                "Cannot reach the model API at {} ({}).",
                self.url,
                root_cause(e)
            )
        } else {
            format!("The request to the model API failed: {}.", error_chain(e))
        }
    }

    /// Servers sometimes quote the key they were given (partly masked or not): blank it out.
    fn scrub(&self, text: &str) -> String {
        if self.api_key.len() >= 4 {
            text.replace(&self.api_key, "***")
        } else {
            text.to_string()
        }
    }
}

/// rustls needs a process-wide crypto provider, even for a client that only ever speaks plain
/// HTTP. Installing one does no cryptography, so it is safe on any CPU.
fn install_tls_provider() {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        // Err only means one is installed already.
        let _ = rustls_graviola::default_provider().install_default();
    }
}

/// Whether Graviola can run here. It asserts on these CPU features at its first use, and with
/// `panic = "abort"` that would end the agent, so HTTPS is refused up front instead.
fn tls_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("adx")
            && std::arch::is_x86_feature_detected!("avx")
            && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("sha2")
            && std::arch::is_aarch64_feature_detected!("pmull")
            && std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    one_line(&cause.to_string())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// One sentence for an HTTP error status, quoting the server's own message when there is one.
pub(crate) fn status_error(status: u16, body: &str) -> String {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(Value::as_str)
                .or_else(|| e.as_str())
                .map(String::from)
        })
        .map(|d| one_line(&d))
        .filter(|d| !d.is_empty());
    let what = match status {
        401 | 403 => "The model API refused the API key",
        404 => "The model API does not know this model or endpoint",
        429 => "The model API is rate limiting requests or the quota is used up",
        500..=599 => "The model API failed",
        _ => "The model API rejected the request",
    };
    match detail {
        Some(d) => format!("{what} (HTTP {status}: {d})."),
        None => format!("{what} (HTTP {status})."),
    }
}

/// Collapse whitespace and cap the length, so an error stays one short line.
fn one_line(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat.trim_end_matches('.');
    if flat.chars().count() > MAX_DETAIL {
        let cut: String = flat.chars().take(MAX_DETAIL).collect();
        format!("{cut}…")
    } else {
        flat.to_string()
    }
}

/// The first choice of a Chat Completions response.
pub(crate) fn parse_reply(body: &str) -> Result<Reply, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| "The model API answered with something that is not JSON.".to_string())?;
    let Some(message) = v.pointer("/choices/0/message").cloned() else {
        return Err("The model API answered without a message (no choices[0].message).".into());
    };
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .map(String::from)
        .filter(|t| !t.trim().is_empty());
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let f = c.get("function")?;
                    Some(ToolCall {
                        // Some local servers omit the id; the reply still needs one to refer to.
                        id: c
                            .get("id")
                            .and_then(Value::as_str)
                            .map(String::from)
                            .unwrap_or_else(|| format!("call_{i}")),
                        name: f.get("name").and_then(Value::as_str)?.to_string(),
                        arguments: f.get("arguments").cloned().unwrap_or(json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply {
        message,
        text,
        tool_calls,
    })
}

/// Tool call arguments as a JSON object (`{}` when absent).
pub(crate) fn arguments_object(raw: &Value) -> Result<Value, String> {
    let parsed = match raw {
        Value::String(s) if s.trim().is_empty() => json!({}),
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| format!("the arguments are not valid JSON ({e})"))?,
        Value::Null => json!({}),
        other => other.clone(),
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err("the arguments are not a JSON object".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_with_text_or_tool_calls() {
        let r = parse_reply(r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#)
            .expect("reply");
        assert_eq!(r.text.as_deref(), Some("hi"));
        assert!(r.tool_calls.is_empty());
        let r = parse_reply(
            r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"c1","type":"function","function":{"name":"calc__add","arguments":"{\"a\":1}"}}]}}]}"#,
        )
        .expect("reply");
        assert_eq!(r.text, None);
        assert_eq!(r.tool_calls[0].name, "calc__add");
        assert_eq!(
            arguments_object(&r.tool_calls[0].arguments),
            Ok(json!({"a": 1}))
        );
        assert!(parse_reply("nope").is_err());
        assert!(parse_reply(r#"{"choices":[]}"#).is_err());
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(arguments_object(&json!("")), Ok(json!({})));
        assert_eq!(arguments_object(&json!({"x": 1})), Ok(json!({"x": 1})));
        assert!(arguments_object(&json!("{oops")).is_err());
        assert!(arguments_object(&json!("[1]")).is_err());
    }

    #[test]
    fn status_errors_are_one_sentence() {
        let e = status_error(401, r#"{"error":{"message":"Incorrect API key provided"}}"#);
        assert_eq!(
            e,
            "The model API refused the API key (HTTP 401: Incorrect API key provided)."
        );
        assert_eq!(
            status_error(503, "<html>\nbusy</html>"),
            "The model API failed (HTTP 503)."
        );
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x ".repeat(500));
        assert!(status_error(429, &long).chars().count() < 320);
    }
}
