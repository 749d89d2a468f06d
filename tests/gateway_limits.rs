//! Issue 8, hole 4: no message and no sender can make the gateway run out of memory
//! (spec/gateway.md §1.1; `gateway::limits`). Each test drives the real `mew gateway start`.
mod common;
use common::gateway::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const SPACE: &str = "lim";
const MAX: usize = mew_protocol::MAX_MESSAGE;

/// Every participant has a token (joins use it), so the space also works where the gateway
/// refuses token-less joins under configured ids.
const YAML: &str = r#"
space:
  id: lim
participants:
  a:
    tokens: ["a-token"]
    capabilities:
      - kind: "*"
  b:
    tokens: ["b-token"]
    capabilities:
      - kind: "*"
  echo:
    tokens: ["echo-token"]
    capabilities:
      - kind: chat
  flood:
    tokens: ["flood-token"]
    capabilities:
      - kind: "*"
"#;

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket that accepts what the gateway may relay (the test harness's default is 16 MiB
/// frames, less than a relayed maximum-size message).
async fn connect(gw: &TestGateway) -> Raw {
    let url = format!("ws://127.0.0.1:{}/", gw.port);
    let cfg = mew_client::client_ws_config();
    tokio_tungstenite::connect_async_with_config(url, Some(cfg), true)
        .await
        .expect("ws connect")
        .0
}

async fn join(gw: &TestGateway, id: &str) -> Ws {
    let mut ws = Ws {
        s: connect(gw).await,
    };
    let token = format!("{id}-token");
    ws.send(json!({"type":"join","participantId":id,"space":SPACE,"token":token}))
        .await;
    ws.recv_kind("system/welcome").await;
    ws
}

async fn healthy(gw: &TestGateway) {
    let (s, b) = tokio::time::timeout(Duration::from_secs(10), gw.http("GET", "/health", &[], ""))
        .await
        .expect("/health answered");
    assert_eq!(s, 200, "{b}");
    assert!(b.contains(r#""status":"ok""#), "{b}");
}

/// `a` says something and `b` hears it.
async fn still_relays(a: &mut Ws, b: &mut Ws, id: &str) {
    a.send(json!({"id":id,"kind":"chat","payload":{"text":"still here"}}))
        .await;
    let m = b.recv_matching(|v| v["id"] == id).await;
    assert_eq!(m["payload"]["text"], "still here");
}

/// Until the socket ends: the system/error texts and the close frame it got.
async fn refusal(ws: &mut Raw, wait: Duration) -> (Vec<String>, Option<(CloseCode, String)>) {
    let deadline = Instant::now() + wait;
    let (mut errors, mut close) = (Vec::new(), None);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if v["kind"] == "system/error" {
                        errors.push(v["payload"]["error"].as_str().unwrap_or("").to_string());
                    }
                }
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                close = Some((f.code, f.reason.to_string()));
                break;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    (errors, close)
}

/// Send one message of `len` bytes on its own task (the gateway stops reading part-way, so the
/// send may never complete) and return the read half's view of the refusal.
async fn send_huge(ws: Raw, len: usize) -> (Vec<String>, Option<(CloseCode, String)>) {
    let (mut sink, mut stream) = ws.split();
    let body = format!(
        "{{\"kind\":\"chat\",\"payload\":{{\"text\":\"{}\"}}}}",
        "x".repeat(len)
    );
    let sender = tokio::spawn(async move {
        let _ = sink.send(Message::text(body)).await;
        sink
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut errors, mut close) = (Vec::new(), None);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if v["kind"] == "system/error" {
                        errors.push(v["payload"]["error"].as_str().unwrap_or("").to_string());
                    }
                }
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                close = Some((f.code, f.reason.to_string()));
                break;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    sender.abort();
    (errors, close)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_from_unjoined_client_is_refused_and_gateway_stays_healthy() {
    let gw = TestGateway::start(YAML);
    let mut a = join(&gw, "a").await;
    let mut b = join(&gw, "b").await;

    // Over the message limit: refused from the frame header, before any of it is buffered.
    let (errors, close) = send_huge(connect(&gw).await, 45_000_000).await;
    let (code, reason) = close.expect("the un-joined socket was closed with a reason");
    assert_eq!(code, CloseCode::Size, "{reason}");
    assert!(reason.contains("too large"), "{reason}");
    assert!(errors.iter().any(|e| e.contains("too large")), "{errors:?}");
    // Under the message limit but far more than a join: stopped after 64 KiB.
    let (errors, close) = send_huge(connect(&gw).await, 10_000_000).await;
    let (code, reason) = close.expect("the un-joined socket was closed with a reason");
    assert_eq!(code, CloseCode::Size, "{reason}");
    assert!(reason.contains("before joining"), "{reason}");
    assert!(
        errors.iter().any(|e| e.contains("before joining")),
        "{errors:?}"
    );

    healthy(&gw).await;
    still_relays(&mut a, &mut b, "after-unjoined").await;
    // The bytes never reached routing: the gateway holds about what it held idle.
    let hwm = rss_kib(gw.child.id(), "VmHWM:");
    assert!(hwm < 100 * 1024, "peak RSS {hwm} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_from_joined_client_gets_a_clear_error() {
    let gw = TestGateway::start(YAML);
    let mut a = join(&gw, "a").await;
    let mut b = join(&gw, "b").await;
    let mut big = Ws {
        s: connect(&gw).await,
    };
    big.send(json!({"type":"join","participantId":"flood","space":SPACE,"token":"flood-token"}))
        .await;
    big.recv_kind("system/welcome").await;

    let (errors, close) = send_huge(big.s, 45_000_000).await;
    let limit = MAX.to_string();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("too large") && e.contains(&limit)),
        "{errors:?}"
    );
    let (code, reason) = close.expect("closed with a reason");
    assert_eq!(code, CloseCode::Size, "{reason}");

    // Others are unaffected; the refused sender is gone from the space.
    b.recv_matching(|v| v["kind"] == "system/presence" && v["payload"]["event"] == "leave")
        .await;
    healthy(&gw).await;
    still_relays(&mut a, &mut b, "after-joined").await;
    let (_, errors2) = refusal(&mut a.s, Duration::from_millis(200)).await;
    assert!(errors2.is_none(), "a was closed too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_at_the_limit_reaches_a_builtin_agent() {
    let gw = TestGateway::start(YAML);
    let mut a = join(&gw, "a").await;
    let mut agent = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["agent", "echo"])
        .env("MEW_GATEWAY", format!("ws://127.0.0.1:{}", gw.port))
        .env("MEW_SPACE", SPACE)
        .env("MEW_PARTICIPANT_ID", "echo")
        .env("MEW_TOKEN", "echo-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mew agent echo");
    let result = async {
        a.recv_matching(|v| {
            v["kind"] == "system/presence"
                && v["payload"]["event"] == "join"
                && v["payload"]["participant"]["id"] == "echo"
        })
        .await;
        // Just under the limit, leaving room for echo's "Echo: " and its envelope in its reply.
        let text = "y".repeat(MAX - 4096);
        let chat = json!({"id":"near-limit","kind":"chat","to":["echo"],"payload":{"text":text}});
        assert!(chat.to_string().len() > MAX - 4096);
        a.send(chat).await;
        let reply = loop {
            let t = a
                .recv_raw(Duration::from_secs(30))
                .await
                .expect("echo answered the near-limit chat");
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["from"] == "echo" && v["kind"] == "chat" {
                break v;
            }
        };
        assert_eq!(
            reply["payload"]["text"].as_str().unwrap().len(),
            "Echo: ".len() + text.len()
        );
        // Still connected: it answers the next one too.
        a.send(json!({"id":"small","kind":"chat","to":["echo"],"payload":{"text":"ping"}}))
            .await;
        let r = a
            .recv_matching(|v| v["from"] == "echo" && v["payload"]["text"] == "Echo: ping")
            .await;
        assert_eq!(r["kind"], "chat");
    }
    .await;
    let _ = agent.kill();
    let _ = agent.wait();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_cannot_exhaust_gateway_memory() {
    let console = tempfile::tempdir().unwrap();
    let console_log = console.path().join("console.log");
    let gw = TestGateway::start_with(Opts {
        yaml: YAML,
        env: vec![("GATEWAY_LOG_FILE", console_log.display().to_string())],
        ..Default::default()
    });
    let pid = gw.child.id();
    // Readers that join and then never read: everything for them piles up in the gateway.
    let mut stuck = Vec::new();
    for id in ["a", "b", "echo"] {
        stuck.push(join(&gw, id).await);
    }
    let mut flood = join(&gw, "flood").await;
    let chunk = "z".repeat(4 << 20);
    let started = Instant::now();
    let mut peak = 0;
    for i in 0..60 {
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            flood.s.send(Message::text(
                json!({"id":format!("f{i}"),"kind":"chat","payload":{"text":chunk}}).to_string(),
            )),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
        peak = peak.max(rss_kib(pid, "VmRSS:"));
    }
    // 60 × 4 MiB to each of three readers is 720 MiB queued if nothing bounds it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hwm = rss_kib(pid, "VmHWM:").max(peak);
    assert!(hwm < 200 * 1024, "gateway peak RSS {hwm} KiB");
    healthy(&gw).await;
    let lines = std::fs::read_to_string(&console_log).unwrap_or_default();
    assert!(
        lines.contains("Dropping"),
        "no slow reader was dropped:\n{lines}"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    drop(stuck);
}
