//! The HTTP/1.1 front: WebSocket upgrades on any path, and the REST routes of
//! spec/gateway.md §5. Routing is done by hand so every status code and body is exactly the
//! spec's.
use super::effect::apply;
use super::limits::{ConnMeter, Meter};
use super::route::{self, Body, Inbound};
use super::state::Gateway;
use super::ws;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Express's default JSON body limit ("100kb").
pub const BODY_LIMIT: usize = 100 * 1024;
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

/// The `Sec-WebSocket-Key` of a valid RFC 6455 upgrade request, or why it is not one.
fn upgrade_key(parts: &axum::http::request::Parts) -> Result<String, (StatusCode, &'static str)> {
    let has_token = |name: header::HeaderName, token: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if parts.method != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "Request method must be `GET`",
        ));
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err((
            StatusCode::BAD_REQUEST,
            "Connection header did not include 'upgrade'",
        ));
    }
    if !has_token(header::SEC_WEBSOCKET_VERSION, "13") {
        return Err((
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Version` header did not include '13'",
        ));
    }
    parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or((
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Key` header missing",
        ))
}

fn accept_key(key: &str) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
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
    if is_upgrade(req.headers()) {
        return answer(gw, req).await;
    }
    let response = answer(gw.clone(), req).await;
    // The JSONL records of this request, and of everything before it, are in the files before
    // the caller gets its answer (scripts read the logs right after posting).
    gw.logs.written().await;
    response
}

async fn answer(gw: Arc<Gateway>, req: Request) -> Response {
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
        let key = match upgrade_key(&parts) {
            Ok(key) => key,
            Err((status, why)) => return (status, why).into_response(),
        };
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return (StatusCode::UPGRADE_REQUIRED, "Connection is not upgradable").into_response();
        };
        if !meter.begin_websocket() {
            return json(
                503,
                r#"{"error":"too_many_unjoined_connections"}"#.to_string(),
            );
        }
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(upgraded),
                tokio_tungstenite::tungstenite::protocol::Role::Server,
                Some(ws::config()),
            )
            .await;
            ws::serve_socket(gw, socket, meter, space, token).await;
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(&key))
            .body(axum::body::Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
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
    let inbound = Inbound::Http {
        pid: &pid,
        space: space.as_deref(),
        auth: auth.as_deref(),
        body,
    };
    let (status, body) = post(&gw, inbound);
    json(status, body)
}

/// Route a post under the state lock, carry the effects out, and return the answer.
fn post(gw: &Gateway, inbound: Inbound<'_>) -> (u16, String) {
    let mut st = gw.lock();
    // After the state lock: a reload swaps the configuration under it.
    let cfg = gw.config();
    let ctx = gw.ctx(cfg.as_deref());
    let effects = route::route(&ctx, &mut st, inbound);
    // Routing answers every post; the fallback is not expected.
    apply(gw, st, effects).unwrap_or((500, "{}".to_string()))
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
