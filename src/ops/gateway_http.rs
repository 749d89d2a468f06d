//! The gateway's JSON endpoints as the CLI reads them (`/participants?space=<id>`, `/health`),
//! on the loopback address the gateway is published on, through `mew_client::http`.
use serde::Deserialize;
use std::time::Duration;

/// How long one poll of the gateway may take.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

fn base_url(host: &str, port: u16) -> String {
    mew_space::net::reachable_url("http", host, port)
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
) -> Option<Vec<GatewayParticipant>> {
    let url = format!(
        "{}/participants?space={}",
        base_url(host, port),
        url_escape(space_id)
    );
    let answer = mew_client::http::get(&url, POLL_TIMEOUT).await.ok()?;
    if answer.status != 200 {
        return None;
    }
    parse_participants(&answer.body).ok()
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
    let participants = connected_participants(&host, port, space_id).await?;
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
    let url = format!("{}/health", base_url(host, port));
    mew_client::http::get(&url, POLL_TIMEOUT)
        .await
        .is_ok_and(|r| r.status == 200)
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
