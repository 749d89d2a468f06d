//! The HTTP/1.1 front: WebSocket upgrades on any path, and the REST routes of
//! spec/gateway.md §5. Routing is done by hand so every status code and body is exactly the
//! spec's.
use super::limits::{ConnMeter, Meter};
use super::route::{self, Body};
use super::state::Gateway;
use super::ws;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Express's default JSON body limit ("100kb").
pub const BODY_LIMIT: usize = 100 * 1024;
/// Initial read buffer of a WebSocket connection (grows for bigger messages).
pub const WS_READ_BUFFER: usize = 8 * 1024;
/// Largest WebSocket message accepted (the spec needs ≥ 10 MiB; see `limits` for the budget).
pub const WS_MAX_MESSAGE: usize = crate::protocol::MAX_MESSAGE;

pub fn router(gw: Arc<Gateway>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(gw)
}

fn json(status: u16, body: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if is_upgrade(&parts.headers) {
        let space = query_param(parts.uri.query(), "space").filter(|s| !s.is_empty());
        let token =
            bearer(&parts.headers).and_then(|a| a.strip_prefix("Bearer ").map(str::to_string));
        let meter = parts
            .extensions
            .get::<ConnectInfo<ConnMeter>>()
            .map(|c| c.0 .0.clone())
            .unwrap_or_else(|| std::sync::Arc::new(Meter::default()));
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(_) if !meter.begin_websocket() => json(
                503,
                r#"{"error":"too_many_unjoined_connections"}"#.to_string(),
            ),
            Ok(upgrade) => upgrade
                // The 128 KiB default read buffer costs that much RSS per idle connection.
                .read_buffer_size(WS_READ_BUFFER)
                .max_message_size(WS_MAX_MESSAGE)
                .max_frame_size(WS_MAX_MESSAGE)
                .on_upgrade(move |socket| ws::serve_socket(gw, socket, meter, space, token)),
            Err(rejection) => rejection.into_response(),
        };
    }
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let space = query_param(query.as_deref(), "space");
    let get = parts.method == Method::GET;
    if get && (path == "/health" || path == "/health/") {
        return json(200, super::views::health(&gw));
    }
    if get && (path == "/participants" || path == "/participants/") {
        return json(200, super::views::participants(&gw, space.as_deref()));
    }
    // Like Express's default (non-strict) routing, one trailing slash is tolerated.
    let route_path = path.strip_suffix('/').unwrap_or(&path);
    let pid = route_path
        .strip_prefix("/participants/")
        .and_then(|rest| rest.strip_suffix("/messages"))
        .filter(|id| !id.is_empty() && !id.contains('/'));
    let (Some(pid), true) = (pid, parts.method == Method::POST) else {
        return json(404, r#"{"error":"not_found"}"#.to_string());
    };
    let pid = percent_decode(pid);
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    let body = if is_json {
        let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => return json(413, r#"{"error":"payload_too_large"}"#.to_string()),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Body::Empty
        } else {
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                    Body::Json(v)
                }
                _ => return json(400, r#"{"error":"invalid_json"}"#.to_string()),
            }
        }
    } else {
        Body::Empty
    };
    let auth = bearer(&parts.headers);
    let (status, body) = route::http_post(&gw, &pid, space.as_deref(), auth.as_deref(), body);
    json(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(
            query_param(Some("x=1&space=my%20s"), "space").as_deref(),
            Some("my s")
        );
        assert_eq!(query_param(Some("x=1"), "space"), None);
    }
}
