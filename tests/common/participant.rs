//! Test harness: a participant in a space (on the same client library the agents use), waiting
//! for envelopes that match, and the shapes of envelopes tests wait for.
//! Include with `#[path = "common/participant.rs"] mod participant;`, or `mod common;` (as
//! `common::participant`).
#![allow(dead_code)]
use std::time::Duration;

use mew_client::{Event, Participant, ParticipantOptions};
use serde_json::Value;

/// space.yaml for `space`: participant `tester` (token `tester-token`, may send anything), then
/// `others`, YAML entries indented as under `participants:`.
pub fn space_yaml_with_tester(space: &str, others: &str) -> String {
    format!(
        r#"space:
  id: {space}
  name: {space}
participants:
  tester:
    tokens: ["tester-token"]
    capabilities:
      - kind: "*"
{others}"#
    )
}

/// Join `space` at `gateway` as the `tester` of [`space_yaml_with_tester`]; waits up to `limit`
/// for the welcome.
pub async fn join_tester(gateway: &str, space: &str, limit: Duration) -> Participant {
    join(gateway, space, "tester", "tester-token", limit).await
}

/// Join `space` at `gateway` (`ws://…`) as `id` and wait up to `limit` for the welcome.
pub async fn join(
    gateway: &str,
    space: &str,
    id: &str,
    token: &str,
    limit: Duration,
) -> Participant {
    let mut p = Participant::spawn(ParticipantOptions {
        gateway: gateway.into(),
        space: space.into(),
        participant_id: id.into(),
        token: Some(token.into()),
    });
    let welcome = next_matching(&mut p, limit, |v| v["kind"] == "system/welcome").await;
    assert!(welcome.is_some(), "{id} got no welcome");
    p
}

/// The next envelope for which `pred` holds, skipping the others; None when none comes within
/// `limit` or the connection ends.
pub async fn next_matching(
    p: &mut Participant,
    limit: Duration,
    mut pred: impl FnMut(&Value) -> bool,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, p.next_event()).await {
            Ok(Some(Event::Envelope(v))) if pred(&v) => return Some(v),
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
}

/// Wait until every one of `ids` is in the space (its join presence, or its listing in a
/// welcome), in any order: a presence arriving while waiting for another id is not skipped.
/// Panics naming who is missing when `limit` passes between two arrivals.
pub async fn wait_present(p: &mut Participant, ids: &[&str], limit: Duration) {
    let mut missing = ids.to_vec();
    while !missing.is_empty() {
        let got = next_matching(p, limit, |v| {
            missing
                .iter()
                .any(|id| is_join_of(v, id) || welcome_lists(v, id))
        })
        .await
        .unwrap_or_else(|| panic!("never joined: {missing:?}"));
        missing.retain(|id| !(is_join_of(&got, id) || welcome_lists(&got, id)));
    }
}

/// `v` is the presence event of `id` joining.
pub fn is_join_of(v: &Value, id: &str) -> bool {
    v["kind"] == "system/presence"
        && v["payload"]["event"] == "join"
        && v["payload"]["participant"]["id"] == id
}

/// `v` is a welcome that lists `id` among the participants already there.
pub fn welcome_lists(v: &Value, id: &str) -> bool {
    v["kind"] == "system/welcome"
        && v["payload"]["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["id"] == id))
}

/// The text of the first content item of an MCP tool result.
pub fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
