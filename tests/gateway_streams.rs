//! Streams (spec/gateway.md §1.8, §3.7-§3.9): checklist rows 39-46.
mod common;
use common::gateway::*;
use serde_json::{json, Value};
use std::time::Duration;

const YAML: &str = r#"
space:
  id: st
  # Anonymous joins stand in for ad-hoc participants here (mew allows them only when asked).
  allow_anonymous_joins: true
participants:
  stream-owner:
    tokens: [owner-token]
  stream-writer:
    tokens: [writer-token]
  verifier:
    tokens: [verifier-token]
defaults:
  capabilities:
    - kind: "*"
"#;

async fn three(gw: &TestGateway) -> (Ws, Ws, Ws) {
    let (mut o, _) = gw.join("stream-owner", "st", "owner-token").await;
    let (mut w, _) = gw.join("stream-writer", "st", "writer-token").await;
    let (v, _) = gw.join("verifier", "st", "verifier-token").await;
    let _ = o
        .recv_matching(|m| m["payload"]["participant"]["id"] == "verifier")
        .await;
    let _ = w.recv_kind("system/presence").await;
    (o, w, v)
}

#[tokio::test]
async fn open_frames_active_streams_close() {
    let gw = TestGateway::start(YAML);
    let (mut o, mut w, mut v) = three(&gw).await;
    o.send(json!({"id":"req-1","kind":"stream/request","to":["gateway"],"payload":{
        "direction":"upload","description":"telemetry","content_type":"text/plain","format":"lines",
        "expected_size_bytes":1024,"participantId":"verifier","authorizedWriters":["verifier"],"owner":"verifier"}})).await;
    // row 39: everyone gets stream/open before the relayed request
    for ws in [&mut o, &mut w, &mut v] {
        let open = ws.recv().await;
        assert_eq!(open["kind"], "stream/open");
        assert_eq!(open["from"], "gateway");
        assert_eq!(open["to"], json!(["stream-owner"]));
        assert_eq!(open["correlation_id"], json!(["req-1"]));
        assert_eq!(
            open["payload"],
            json!({"stream_id":"stream-1","encoding":"text","owner":"stream-owner","authorized_writers":["stream-owner"]})
        );
        let req = ws.recv().await;
        assert_eq!(req["kind"], "stream/request");
    }
    let env = gw.log_path("envelope-history.jsonl");
    let open_line = gw
        .wait_line(&env, r#""type":"stream/open""#, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(!open_line.contains("\"target\""), "{open_line}");
    // row 40: a late joiner sees every request field
    let (late, welcome) = gw.join("late", "st", "").await;
    let s = &welcome["payload"]["active_streams"][0];
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(
        keys[..4],
        ["stream_id", "owner", "authorized_writers", "created"]
    );
    assert_eq!(s["owner"], "stream-owner", "server values win");
    assert_eq!(s["authorized_writers"], json!(["stream-owner"]));
    for k in [
        "description",
        "content_type",
        "format",
        "expected_size_bytes",
        "direction",
    ] {
        assert!(s.get(k).is_some(), "{k}");
    }
    drop(late);
    // row 41: owner frame reaches all, byte-identical; row 46: injected writer cannot write
    let frame = "#stream-1#{\"x\":1}#tail";
    o.send_text(frame).await;
    for ws in [&mut o, &mut w, &mut v] {
        let got = ws.recv_matching_raw(|t| t.starts_with('#')).await;
        assert_eq!(got, frame);
    }
    v.send_text("#stream-1#hijack").await;
    let e = v.recv_kind("system/error").await;
    assert_eq!(
        e["payload"],
        json!({"error":"unauthorized_stream_write","stream_id":"stream-1","message":"You are not authorized to write to stream stream-1"})
    );
    assert_eq!(e["from"], "gateway");
    o.expect_none(Duration::from_millis(150), |t| t.contains("hijack"))
        .await;
    v.send_text("#nope#data").await;
    assert_eq!(
        v.recv_kind("system/error").await["payload"]["stream_id"],
        "nope"
    );
    // empty data and binary opcode are forwarded as sent
    o.s.send(tokio_tungstenite::tungstenite::Message::binary(
        b"#stream-1#".to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(
        w.recv_matching_raw(|t| t.starts_with('#')).await,
        "#stream-1#"
    );
    // close → gone from the next welcome
    o.send(json!({"kind":"stream/close","payload":{"stream_id":"stream-1"}}))
        .await;
    assert_eq!(
        w.recv_kind("stream/close").await["payload"]["stream_id"],
        "stream-1"
    );
    let (_l2, welcome) = gw.join("late2", "st", "").await;
    assert_eq!(welcome["payload"]["active_streams"], json!([]));
}

use futures_util::SinkExt;

trait RawExt {
    async fn recv_matching_raw(&mut self, pred: impl Fn(&str) -> bool) -> String;
}
impl RawExt for Ws {
    async fn recv_matching_raw(&mut self, pred: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let t = self
                .recv_raw(Duration::from_secs(3))
                .await
                .expect("message");
            if pred(&t) {
                return t;
            }
        }
        panic!("no matching message");
    }
}

#[tokio::test]
async fn ownership_grant_revoke_transfer_ws_and_http() {
    let gw = TestGateway::start(YAML);
    let (mut o, mut w, mut v) = three(&gw).await;
    o.send(json!({"id":"r","kind":"stream/request","payload":{"direction":"upload"}}))
        .await;
    let _ = w.recv_kind("stream/request").await;
    let _ = v.recv_kind("stream/request").await;
    let _ = o.recv_kind("stream/request").await;
    // row 42: grant → ack to all with writers
    o.send(json!({"id":"grant-1","kind":"stream/grant-write","payload":{"stream_id":"stream-1","participant_id":"stream-writer","reason":"takes control"}})).await;
    for ws in [&mut o, &mut w, &mut v] {
        let ack = ws.recv_kind("stream/write-granted").await;
        assert_eq!(
            ack["to"],
            json!(["stream-owner", "stream-writer", "verifier"])
        );
        assert_eq!(ack["correlation_id"], json!(["grant-1"]));
        assert!(ack["id"].as_str().unwrap().starts_with("grant-ack-"));
        assert_eq!(
            ack["payload"],
            json!({"stream_id":"stream-1","participant_id":"stream-writer","authorized_writers":["stream-owner","stream-writer"],"reason":"takes control"})
        );
    }
    v.expect_none(Duration::from_millis(100), |t| {
        t.contains("\"kind\":\"stream/grant-write\"")
    })
    .await;
    w.send_text("#stream-1#from-writer").await;
    assert_eq!(
        v.recv_matching_raw(|t| t.starts_with('#')).await,
        "#stream-1#from-writer"
    );
    // revoke → writer cannot write
    o.send(json!({"id":"rv","kind":"stream/revoke-write","payload":{"stream_id":"stream-1","participant_id":"stream-writer"}})).await;
    let ack = w.recv_kind("stream/write-revoked").await;
    assert_eq!(
        ack["payload"]["authorized_writers"],
        json!(["stream-owner"])
    );
    assert!(ack["payload"].get("reason").is_none());
    w.send_text("#stream-1#nope").await;
    assert_eq!(
        w.recv_kind("system/error").await["payload"]["error"],
        "unauthorized_stream_write"
    );
    // WS errors ([R] checks on both transports)
    w.send(json!({"id":"x1","kind":"stream/grant-write","payload":{"stream_id":"stream-1","participant_id":"stream-writer"}})).await;
    let e = w.recv_kind("system/error").await;
    assert_eq!(
        e["payload"],
        json!({"error":"unauthorized","message":"Only the stream owner can grant write access"})
    );
    assert_eq!(e["correlation_id"], json!(["x1"]));
    // row 43 over HTTP
    let post = |body: Value| {
        let gw = &gw;
        async move {
            gw.post("stream-owner", "owner-token", &body.to_string())
                .await
        }
    };
    let (s, b) = post(json!({"kind":"stream/grant-write","payload":{"stream_id":"stream-9","participant_id":"verifier"}})).await;
    assert_eq!(s, 404);
    assert_eq!(
        b["payload"],
        json!({"error":"stream_not_found","message":"Stream stream-9 does not exist"})
    );
    assert_eq!(b["from"], "gateway");
    let (s, b) = post(json!({"kind":"stream/grant-write","payload":{"stream_id":"stream-1","participant_id":"ghost"}})).await;
    assert_eq!(
        (s, b["payload"]["message"].as_str()),
        (404, Some("Participant ghost is not in the space"))
    );
    let (s, b) = post(json!({"kind":"stream/revoke-write","payload":{"stream_id":"stream-1","participant_id":"stream-owner"}})).await;
    assert_eq!(
        (s, b["payload"]["error"].as_str()),
        (400, Some("invalid_operation"))
    );
    let (s, b) = gw
        .post("verifier", "verifier-token", &json!({"kind":"stream/transfer-ownership","payload":{"stream_id":"stream-1","new_owner":"verifier"}}).to_string())
        .await;
    assert_eq!(
        (s, b["payload"]["message"].as_str()),
        (403, Some("Only the stream owner can transfer ownership"))
    );
    let (s, b) = post(json!({"kind":"stream/grant-write","payload":{"stream_id":"stream-1","participant_id":"verifier"}})).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "granted");
    assert_eq!(b["authorized_writers"], json!(["stream-owner", "verifier"]));
    // transfer → old owner cannot write
    let (s, b) = post(json!({"kind":"stream/transfer-ownership","payload":{"stream_id":"stream-1","new_owner":"stream-writer"}})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "transferred");
    assert_eq!(b["previous_owner"], "stream-owner");
    assert_eq!(b["new_owner"], "stream-writer");
    assert_eq!(
        b["authorized_writers"],
        json!(["verifier", "stream-writer"])
    );
    let t = v.recv_kind("stream/ownership-transferred").await;
    let keys: Vec<&String> = t["payload"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "stream_id",
            "previous_owner",
            "new_owner",
            "authorized_writers"
        ]
    );
    o.send_text("#stream-1#old-owner").await;
    assert_eq!(
        o.recv_kind("system/error").await["payload"]["error"],
        "unauthorized_stream_write"
    );
    // row 44: a granted writer who disconnects loses access; the owner stays
    drop(v);
    let _ = w.recv_matching(|m| m["payload"]["event"] == "leave").await;
    let (_x, welcome) = gw.join("checker", "st", "").await;
    assert_eq!(
        welcome["payload"]["active_streams"][0]["authorized_writers"],
        json!(["stream-writer"])
    );
}

#[tokio::test]
async fn targeted_streams() {
    let gw = TestGateway::start(YAML);
    let (mut o, mut w, mut v) = three(&gw).await;
    // row 45: missing target
    o.send(json!({"id":"req-3","kind":"stream/request","payload":{"target":["verifier","ghost"]}}))
        .await;
    let e = o.recv_kind("system/error").await;
    assert_eq!(e["from"], "system:gateway");
    assert_eq!(e["correlation_id"], json!(["req-3"]));
    assert_eq!(
        e["payload"],
        json!({"error":"target_not_found","targets":["ghost"],"message":"One or more target participants do not exist in space"})
    );
    w.expect_none(Duration::from_millis(100), |t| t.contains("req-3"))
        .await;
    o.send(json!({"id":"req-4","kind":"stream/request","payload":{"target":["verifier"]}}))
        .await;
    let open = w.recv_kind("stream/open").await;
    assert_eq!(open["payload"]["target"], json!(["verifier"]));
    o.send_text("#stream-1#only-verifier").await;
    assert_eq!(
        v.recv_matching_raw(|t| t.starts_with('#')).await,
        "#stream-1#only-verifier"
    );
    w.expect_none(Duration::from_millis(150), |t| t.contains("only-verifier"))
        .await;
    o.expect_none(Duration::from_millis(50), |t| t.contains("only-verifier"))
        .await;
    // HTTP stream/request: 200 stream_opened (not relayed), bad target 400 with the envelope
    let (s, b) = gw
        .post(
            "stream-owner",
            "owner-token",
            r#"{"id":"h1","kind":"stream/request","payload":{}}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "stream_opened");
    assert_eq!(b["stream_id"], "stream-2");
    assert!(b["id"].as_str().unwrap().starts_with("stream-open-"));
    let open = v.recv_kind("stream/open").await;
    assert_eq!(open["ts"], b["timestamp"]);
    v.expect_none(Duration::from_millis(100), |t| {
        t.contains("\"kind\":\"stream/request\"")
    })
    .await;
    let (s, b) = gw
        .post(
            "stream-owner",
            "owner-token",
            r#"{"id":"h2","kind":"stream/request","payload":{"target":["nobody"]}}"#,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["payload"]["error"], "target_not_found");
}
