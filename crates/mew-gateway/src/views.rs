//! Read-only views for the HTTP API (§5) and the shutdown broadcast.
use super::state::{Endpoint, Gateway};
use axum::extract::ws::{Message, Utf8Bytes};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Read-only views (§5)

/// `GET /health`.
pub fn health(gw: &Gateway) -> String {
    let st = gw.lock();
    let clients: usize = st.spaces.values().map(|s| s.registry.len()).sum();
    json!({
        "status": "ok",
        "spaces": st.spaces.len(),
        "clients": clients,
        "uptime": gw.started.elapsed().as_secs_f64(),
        "features": ["capabilities", "context", "validation", "http-io"],
        "reloads": gw.reloads.load(std::sync::atomic::Ordering::Relaxed),
        "reload_error": gw.reload_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    })
    .to_string()
}

/// `GET /participants[?space=]`.
pub fn participants(gw: &Gateway, space_q: Option<&str>) -> String {
    let space_id = match space_q {
        Some(s) if !s.is_empty() && s != "default" => s.to_string(),
        _ => gw.default_space(),
    };
    let st = gw.lock();
    let list: Vec<Value> = st
        .spaces
        .get(&space_id)
        .map(|s| {
            s.registry
                .keys()
                .map(|id| json!({"id": &**id, "connected": true, "capabilities": st.static_value(id)}))
                .collect()
        })
        .unwrap_or_default();
    json!({ "participants": list }).to_string()
}

/// Close every socket with 1001 (going away) at shutdown.
pub fn close_all(gw: &Gateway) {
    let st = gw.lock();
    for space in st.spaces.values() {
        for ep in space.registry.values() {
            if let Endpoint::Socket(c) = ep {
                c.push(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: Utf8Bytes::from_static("gateway shutting down"),
                })));
            }
        }
    }
}
