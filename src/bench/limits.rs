//! `mew bench limits`: the worst inputs found for the gateway's memory, each against a fresh
//! `mew gateway start` (both JSONL logs on), reporting its peak RSS (VmHWM) and whether it
//! still answered /health. Not a test: it asserts nothing; the bounds are in `gateway::limits`.
use std::fmt;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::gateway::{space_id, spawn_mew_with, BenchError};
use super::stats::rss_kib;
use mew_client::client_ws_config;
use mew_protocol::MAX_MESSAGE;

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Participants every scenario's space declares (`p0`…), each with a token.
const PARTICIPANTS: usize = 48;

/// One scenario's result.
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) idle_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) healthy: bool,
    pub(crate) note: String,
}

pub(crate) struct Report(pub Vec<Row>);

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| scenario | idle RSS | peak RSS (VmHWM) | /health after | notes |"
        )?;
        writeln!(f, "|---|---:|---:|---|---|")?;
        for r in &self.0 {
            writeln!(
                f,
                "| {} | {:.1} MiB | {:.1} MiB | {} | {} |",
                r.name,
                r.idle_kib as f64 / 1024.0,
                r.peak_kib as f64 / 1024.0,
                if r.healthy { "ok" } else { "NO ANSWER" },
                r.note
            )?;
        }
        Ok(())
    }
}

struct Gw {
    url: String,
    port: u16,
    space: String,
    pid: u32,
    _spawned: super::gateway::Spawned,
}

impl Gw {
    fn start(exe: &std::path::PathBuf) -> Result<Gw, BenchError> {
        let space = space_id();
        let mut yaml = String::from("participants:\n");
        for i in 0..PARTICIPANTS {
            yaml.push_str(&format!(
                "  p{i}:\n    tokens: [\"bench-p{i}\"]\n    capabilities:\n      - kind: \"*\"\n"
            ));
        }
        let (spawned, url) = spawn_mew_with(exe, &space, &yaml)?;
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Ok(Gw {
            pid: spawned.child.id(),
            url,
            port,
            space,
            _spawned: spawned,
        })
    }

    async fn connect(&self) -> Option<Raw> {
        let r = tokio_tungstenite::connect_async_with_config(
            format!("{}/", self.url),
            Some(client_ws_config()),
            true,
        );
        tokio::time::timeout(Duration::from_secs(10), r)
            .await
            .ok()?
            .ok()
            .map(|(ws, _)| ws)
    }

    /// Join as `p<i>` and wait for the welcome.
    async fn join(&self, i: usize) -> Option<Raw> {
        let mut ws = self.connect().await?;
        let join = json!({"type":"join","participantId":format!("p{i}"),"space":self.space,
            "token":format!("bench-p{i}")});
        ws.send(Message::text(join.to_string())).await.ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("system/welcome") => return Some(ws),
                Ok(Some(Ok(_))) => {}
                _ => return None,
            }
        }
        None
    }

    fn hwm(&self) -> u64 {
        rss_kib(self.pid).map(|(_, hwm)| hwm).unwrap_or(0)
    }

    async fn healthy(&self) -> bool {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        mew_client::http::get(&url, Duration::from_secs(10))
            .await
            .is_ok_and(|r| r.is_healthy())
    }
}

/// A task that reads and discards everything (a fast reader).
fn drain(ws: Raw) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let (_sink, mut stream) = ws.split();
        let mut n = 0;
        while let Some(Ok(_)) = stream.next().await {
            n += 1;
        }
        n
    })
}

fn chat(to: Option<usize>, text: &str) -> String {
    let mut v = json!({"kind":"chat","payload":{"text":text}});
    if let Some(i) = to {
        v["to"] = json!([format!("p{i}")]);
    }
    v.to_string()
}

/// Send `msg` on its own task, giving up after `wait` (the gateway may stop reading).
async fn send_bounded(ws: Raw, msg: String, wait: Duration) -> bool {
    let (mut sink, stream) = ws.split();
    let reader = drain_half(stream);
    let sent = tokio::time::timeout(wait, sink.send(Message::text(msg))).await;
    reader.abort();
    matches!(sent, Ok(Ok(())))
}

fn drain_half(mut stream: futures_util::stream::SplitStream<Raw>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} })
}

/// 8 un-joined and 8 joined clients each send one 45 MB message at once.
async fn huge_messages(gw: &Gw) -> String {
    let body = std::sync::Arc::new(chat(None, &"x".repeat(45_000_000)));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let ws = if i < 8 {
            gw.connect().await
        } else {
            gw.join(i).await
        };
        let Some(ws) = ws else { continue };
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            send_bounded(ws, body.to_string(), Duration::from_secs(10)).await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap_or(false));
    }
    format!("16 × 45 MB; {accepted} sends completed before the close")
}

/// 300 raw sockets upgrade, announce a 10 MB text frame, send 1 MiB of it and stall.
async fn partial_frames(gw: &Gw) -> String {
    let mut socks = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await else {
            continue;
        };
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            gw.port
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            continue;
        }
        let mut head = [0u8; 12];
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await;
        if !head.starts_with(b"HTTP/1.1 101") {
            refused += 1;
            continue;
        }
        // FIN + text, masked, 64-bit length 10 MB, zero mask.
        let mut frame = vec![0x81u8, 0x80 | 127];
        frame.extend_from_slice(&10_000_000u64.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.push(b'{');
        socks.push((s, frame));
    }
    let chunk = vec![b'x'; 64 << 10];
    let mut tasks = Vec::new();
    for (mut s, frame) in socks {
        let chunk = chunk.clone();
        tasks.push(tokio::spawn(async move {
            let send = async {
                s.write_all(&frame).await?;
                for _ in 0..16 {
                    s.write_all(&chunk).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), send).await;
            s
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = held.len();
    drop(held);
    format!("{n} upgraded, {refused} refused (503) past the un-joined cap")
}

/// 40 fast readers; 4 senders each broadcast 5 messages just under the limit.
async fn near_limit_broadcast(gw: &Gw) -> String {
    let mut readers = Vec::new();
    for i in 4..44 {
        if let Some(ws) = gw.join(i).await {
            readers.push(drain(ws));
        }
    }
    let body = std::sync::Arc::new(chat(None, &"y".repeat(MAX_MESSAGE - 4096)));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let Some(mut ws) = gw.join(i).await else {
            continue;
        };
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                if ws.send(Message::text(body.to_string())).await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = readers.len();
    for r in readers {
        r.abort();
    }
    format!(
        "{n} readers, 4 × 5 messages of {} bytes",
        MAX_MESSAGE - 4096
    )
}

/// 40 readers that never read; 4 senders flood 4 MiB messages, broadcast and to one reader each.
async fn slow_readers_flood(gw: &Gw) -> String {
    let mut stuck = Vec::new();
    for i in 4..44 {
        if let Some(ws) = gw.join(i).await {
            stuck.push(ws);
        }
    }
    let chunk = "z".repeat(4 << 20);
    let mut tasks = Vec::new();
    for s in 0..4 {
        let Some(ws) = gw.join(s).await else { continue };
        let chunk = chunk.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, stream) = ws.split();
            let reader = drain_half(stream);
            let mut sent = 0;
            let until = Instant::now() + Duration::from_secs(10);
            for k in 0..200usize {
                let to = (k % 2 == 0).then_some(4 + (k / 2 + s * 7) % 40);
                let send = sink.send(Message::text(chat(to, &chunk)));
                match tokio::time::timeout(Duration::from_secs(5), send).await {
                    Ok(Ok(())) => sent += 1,
                    _ => break,
                }
                if Instant::now() > until {
                    break;
                }
            }
            reader.abort();
            sent
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap_or(0);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(stuck);
    format!("40 stuck readers, {sent} × 4 MiB sent")
}

/// Joined senders send messages that are small in bytes but costly to parse.
async fn json_bombs(gw: &Gw) -> String {
    let numbers = format!("[{}1]", "1,".repeat(MAX_MESSAGE / 2 - 16));
    let objects = format!(
        "[{}{{}}]",
        "{\"k\":1},".repeat(mew_gateway::limits::MAX_PARSE_BYTES / 1000)
    );
    let bombs = [
        format!("{{\"kind\":\"chat\",\"payload\":{numbers}}}"),
        format!("{{\"kind\":\"chat\",\"payload\":{objects}}}"),
    ];
    let mut readers = Vec::new();
    for i in 4..8 {
        if let Some(ws) = gw.join(i).await {
            readers.push(drain(ws));
        }
    }
    let mut tasks = Vec::new();
    for i in 0..4 {
        let Some(ws) = gw.join(i).await else { continue };
        let bombs = bombs.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, stream) = ws.split();
            let reader = drain_half(stream);
            for _ in 0..3 {
                for b in &bombs {
                    let _ = sink.send(Message::text(b.clone())).await;
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            reader.abort();
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    for r in readers {
        r.abort();
    }
    format!(
        "4 senders × 3 × ({} MB of `[1,1,…]`, {} KB of `[{{\"k\":1}},…]`)",
        bombs[0].len() / 1_000_000,
        bombs[1].len() / 1000
    )
}

pub(crate) async fn run(exe: std::path::PathBuf) -> Result<Report, BenchError> {
    let mut rows = Vec::new();
    macro_rules! scenario {
        ($name:expr, $f:ident) => {{
            let gw = Gw::start(&exe)?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let idle_kib = gw.hwm();
            let note = $f(&gw).await;
            let healthy = gw.healthy().await;
            rows.push(Row {
                name: $name,
                idle_kib,
                peak_kib: gw.hwm(),
                healthy,
                note,
            });
            eprintln!("done: {}", $name);
        }};
    }
    scenario!("huge messages (45 MB, un-joined and joined)", huge_messages);
    scenario!(
        "un-joined sockets sending partial 10 MB frames",
        partial_frames
    );
    scenario!("near-limit broadcasts to 40 readers", near_limit_broadcast);
    scenario!("slow readers + flood", slow_readers_flood);
    scenario!("JSON value bombs", json_bombs);
    Ok(Report(rows))
}
