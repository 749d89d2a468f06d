//! A minimal HTTP/1.1 GET for the gateway's JSON endpoints on the loopback address it is
//! published on (`/participants?space=<id>`, `/health`). One request per connection.
use serde::Deserialize;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Error)]
pub(crate) enum HttpError {
    #[error("cannot reach the gateway at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("the gateway at {0} did not answer in time")]
    Timeout(String),
    #[error("the gateway at {addr} answered with an unexpected response: {detail}")]
    Response { addr: String, detail: String },
}

/// GET `path` from `host:port` and return the body when the status is 200.
pub(crate) async fn get(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<String, HttpError> {
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(timeout, get_inner(&addr, host, path)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(addr)),
    }
}

async fn get_inner(addr: &str, host: &str, path: &str) -> Result<String, HttpError> {
    let io = |source| HttpError::Connect {
        addr: addr.to_string(),
        source,
    };
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n");
    stream.write_all(req.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(io)?;
    parse_response(&raw).map_err(|detail| HttpError::Response {
        addr: addr.to_string(),
        detail,
    })
}

/// Split an HTTP/1.1 response into status and body (plain or chunked).
fn parse_response(raw: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "no header/body separator".to_string())?;
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("status line `{status_line}`"));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        dechunk(body)
    } else {
        Ok(body.to_string())
    }
}

fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size_line, rest) = body
            .split_once("\r\n")
            .ok_or_else(|| "truncated chunk".to_string())?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size".to_string())?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| "truncated chunk".to_string())?;
        out.push_str(chunk);
        body = rest
            .get(size..)
            .unwrap_or_default()
            .trim_start_matches("\r\n");
    }
}

/// One entry of `GET /participants?space=<id>`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct GatewayParticipant {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) connected: bool,
}

#[derive(Debug, Deserialize)]
struct ParticipantsBody {
    participants: Vec<GatewayParticipant>,
}

/// Ids of the participants the gateway reports as connected.
pub(crate) fn parse_participants(body: &str) -> Result<Vec<GatewayParticipant>, String> {
    serde_json::from_str::<ParticipantsBody>(body)
        .map(|b| b.participants)
        .map_err(|e| format!("cannot parse /participants: {e}"))
}

/// Ask the gateway which participants are connected; `None` when it cannot be asked.
pub(crate) async fn connected_participants(
    host: &str,
    port: u16,
    space_id: &str,
) -> Result<Vec<GatewayParticipant>, HttpError> {
    let path = format!("/participants?space={}", url_escape(space_id));
    let body = get(host, port, &path, Duration::from_millis(500)).await?;
    parse_participants(&body).map_err(|detail| HttpError::Response {
        addr: format!("{host}:{port}"),
        detail,
    })
}

/// Ids connected to the space's gateway, found through its container's published port;
/// `None` when the gateway is not running, not published or not answering.
pub(crate) async fn connected_ids(
    facts: &[mew_space::model::ContainerDetail],
    space_id: &str,
) -> Option<std::collections::BTreeSet<String>> {
    let gateway_up = facts
        .iter()
        .any(|f| f.container.is_gateway() && f.container.is_running());
    if !gateway_up {
        return None;
    }
    let (host, port) = crate::ops::status::gateway_address(facts)?;
    let participants = connected_participants(&host, port, space_id).await.ok()?;
    Some(
        participants
            .into_iter()
            .filter(|p| p.connected)
            .map(|p| p.id)
            .collect(),
    )
}

/// Whether `GET /health` answers 200.
pub(crate) async fn healthy(host: &str, port: u16) -> bool {
    get(host, port, "/health", Duration::from_millis(500))
        .await
        .is_ok()
}

/// Percent-encode everything but unreserved characters (space ids are usually plain already).
fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), "{}");
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "{\"a\":1}");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
    }

    #[test]
    fn parses_participants() {
        let body = r#"{"participants":[{"id":"echo","connected":true,"capabilities":[]},{"id":"x","connected":false}]}"#;
        let ps = parse_participants(body).unwrap();
        assert_eq!(ps.len(), 2);
        assert!(ps[0].connected);
        assert!(!ps[1].connected);
    }

    #[test]
    fn escapes_query() {
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
    }
}
