//! Hostile and heavy input, shutdown and auto-start (spec/gateway.md §1.1, §7.3; checklist
//! row 47): the process must survive everything and keep serving others.
mod common;
use common::gateway::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const YAML: &str = r#"
space:
  id: r
  # Anonymous joins stand in for ad-hoc participants here (mew allows them only when asked).
  allow_anonymous_joins: true
defaults:
  capabilities:
    - kind: "*"
"#;

async fn healthy(gw: &TestGateway) {
    let (s, b) = gw.http("GET", "/health", &[], "").await;
    assert_eq!(s, 200);
    assert!(b.contains(r#""status":"ok""#));
}

#[tokio::test]
async fn survives_bad_frames_and_big_messages() {
    let gw = TestGateway::start(YAML);
    let (mut a, _) = gw.join("a", "r", "").await;
    let (mut b, _) = gw.join("b", "r", "").await;
    for bad in [
        "{",
        "[",
        "]",
        "null",
        "{\"kind\":",
        "\u{0}",
        "#",
        "##",
        "[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]",
        "{\"kind\":\"unknown/kind\",\"payload\":7}",
    ] {
        a.send_text(bad).await;
    }
    a.s.send(Message::binary(vec![0xc3, 0x28, 0xa0, 0xa1]))
        .await
        .unwrap();
    // an unknown kind is just relayed to holders of `*`
    assert_eq!(b.recv_kind("unknown/kind").await["from"], "a");
    // a 10 MiB message is accepted and relayed
    let big = "x".repeat(10 * 1024 * 1024);
    a.send(json!({"id":"big","kind":"chat","payload":{"text":big}}))
        .await;
    let m = b.recv_kind("chat").await;
    assert_eq!(m["payload"]["text"].as_str().unwrap().len(), big.len());
    a.send(json!({"id":"after","kind":"chat","payload":{"text":"still here"}}))
        .await;
    assert_eq!(
        b.recv_matching(|v| v["id"] == "after").await["payload"]["text"],
        "still here"
    );
    // truncated HTTP request and garbage on the socket
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    raw.write_all(b"POST /participants/a/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"ki")
        .await
        .unwrap();
    drop(raw);
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    raw.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    drop(raw);
    healthy(&gw).await;
}

#[tokio::test]
async fn thousands_of_connections_open_and_close() {
    let gw = TestGateway::start(YAML);
    let port = gw.port;
    let mut tasks = Vec::new();
    for t in 0..40 {
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let url = format!("ws://127.0.0.1:{port}/");
                let (mut s, _) = tokio_tungstenite::connect_async(url)
                    .await
                    .expect("connect");
                if i % 2 == 0 {
                    let join =
                        json!({"type":"join","participantId":format!("c{t}-{i}"),"space":"churn"});
                    s.send(Message::text(join.to_string())).await.unwrap();
                    let _ = s.next().await;
                }
                let _ = s.close(None).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    healthy(&gw).await;
    // everyone left: the churn space is empty again
    let mut empty = false;
    for _ in 0..50 {
        let (_, b) = gw.http("GET", "/participants?space=churn", &[], "").await;
        if b == r#"{"participants":[]}"# {
            empty = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_without_stalling_others() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let logfile = tmp.path().join("console.log");
    let gw = TestGateway::start_with(Opts {
        yaml: YAML,
        // ~100 MB pass through here: keep the JSONL logs out of it.
        env: vec![
            ("GATEWAY_LOG_FILE", logfile.display().to_string()),
            ("GATEWAY_LOGGING", "off".into()),
        ],
        ..Default::default()
    });
    let (a, _) = gw.join("sender", "r", "").await;
    let (b, _) = gw.join("reader", "r", "").await;
    let (_stuck, _) = gw.join("stuck", "r", "").await; // never read from again
                                                       // More than the per-connection byte budget (64 MiB) plus socket buffers.
    const N: usize = 800;
    let text = "y".repeat(128 * 1024);
    let (mut a_tx, a_rx) = a.s.split();
    let (_b_tx, b_rx) = b.s.split();
    let a_seen = Arc::new(AtomicUsize::new(0));
    let b_seen = Arc::new(AtomicUsize::new(0));
    let count = |mut rx: futures_util::stream::SplitStream<_>, seen: Arc<AtomicUsize>| async move {
        let mut saw_leave = false;
        while seen.load(Ordering::SeqCst) < N || !saw_leave {
            match tokio::time::timeout(Duration::from_secs(20), rx.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    if t.contains("\"kind\":\"chat\"") {
                        seen.fetch_add(1, Ordering::SeqCst);
                    } else if t.contains("\"event\":\"leave\"") && t.contains("stuck") {
                        saw_leave = true;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        saw_leave
    };
    let a_reader = tokio::spawn(count(a_rx, a_seen.clone()));
    let b_reader = tokio::spawn(count(b_rx, b_seen.clone()));
    for i in 0..N {
        // A well-behaved sender: never more than 64 messages ahead of its own echoes.
        while a_seen.load(Ordering::SeqCst) + 64 < i {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let m = json!({"id":format!("n{i}"),"kind":"chat","payload":{"text":text}});
        a_tx.send(Message::text(m.to_string()))
            .await
            .expect("sender still connected");
    }
    let a_leave = a_reader.await.unwrap();
    let b_leave = b_reader.await.unwrap();
    assert_eq!(a_seen.load(Ordering::SeqCst), N, "sender kept receiving");
    assert_eq!(b_seen.load(Ordering::SeqCst), N, "reader kept receiving");
    assert!(
        a_leave && b_leave,
        "the stuck client was dropped (leave presence)"
    );
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(
        log.contains("stuck") && log.contains("not reading"),
        "the drop is logged"
    );
    healthy(&gw).await;
}

#[tokio::test]
async fn sigterm_exits_zero_and_closes_clients() {
    let mut gw = TestGateway::start(YAML);
    let (mut a, _) = gw.join("a", "r", "").await;
    a.send(json!({"id":"last-words","kind":"chat","payload":{"text":"bye"}}))
        .await;
    let _ = a.recv_kind("chat").await;
    let status = gw.sigterm();
    // queued log records are written out before exit
    let env = std::fs::read_to_string(gw.log_path("envelope-history.jsonl")).unwrap();
    assert!(env.contains(r#""event":"delivered","id":"last-words""#));
    assert_eq!(status.code(), Some(0));
    let mut code = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), a.s.next()).await {
        match m {
            Ok(Message::Close(Some(f))) => {
                code = Some(u16::from(f.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1001));
}

#[tokio::test]
async fn auto_start_passes_environment_and_stops_children() {
    let yaml = r#"
space:
  id: auto
participants:
  runner:
    auto_start: true
    command: sh
    args: ["-c", "env > child.env; echo $$ > child.pid; exec sleep 30", "${SPACE}"]
    env:
      CUSTOM: "x-${MEW_AUTOSTART_TEST_VAR}-${MEW_SURELY_UNSET_VAR}"
"#;
    let mut gw = TestGateway::start_with(Opts {
        yaml,
        env: vec![("MEW_AUTOSTART_TEST_VAR", "val".into())],
        no_auto_start: false,
        ..Default::default()
    });
    let envfile = gw.root().join("child.env");
    let pidfile = gw.root().join("child.pid");
    let mut tries = 0;
    while !(pidfile.exists()
        && std::fs::read_to_string(&pidfile)
            .unwrap_or_default()
            .ends_with('\n'))
    {
        tries += 1;
        assert!(tries < 200, "child did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let env = std::fs::read_to_string(&envfile).unwrap();
    let token = std::fs::read_to_string(gw.mew_dir().join("tokens/runner.token")).unwrap();
    for want in [
        format!("PORT={}", gw.port),
        "SPACE=auto".to_string(),
        format!("TOKEN={token}"),
        format!("MEW_TOKEN_RUNNER={token}"),
        "CUSTOM=x-val-${MEW_SURELY_UNSET_VAR}".to_string(),
    ] {
        assert!(
            env.lines().any(|l| l == want),
            "missing {want} in child env"
        );
    }
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(gw.sigterm().code(), Some(0));
    // the child got SIGTERM (gone, or a zombie waiting for its reaper)
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "child {pid} still running");
}

#[tokio::test]
async fn on_failure_restarts_only_that_child() {
    let yaml = r#"
participants:
  flaky:
    auto_start: true
    command: sh
    args: ["-c", "echo run >> flaky.runs; exit 3"]
    restart_policy: on-failure
  once:
    auto_start: true
    command: sh
    args: ["-c", "echo run >> once.runs; exit 3"]
"#;
    let gw = TestGateway::start_with(Opts {
        yaml,
        no_auto_start: false,
        ..Default::default()
    });
    let runs = |name: &str| {
        std::fs::read_to_string(gw.root().join(name))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut waited = 0;
    while runs("flaky.runs") < 2 {
        waited += 1;
        assert!(waited < 400, "flaky was not restarted after ~5 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(runs("once.runs"), 1, "only the on-failure child restarts");
}
