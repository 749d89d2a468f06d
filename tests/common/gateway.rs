//! Harness for gateway tests: spawns the real `mew gateway start` on a free port in a temp dir
//! and drives it with real WebSocket and raw HTTP/1.1 clients.
#![allow(dead_code)]
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub struct TestGateway {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub struct Opts<'a> {
    pub yaml: &'a str,
    pub env: Vec<(&'a str, String)>,
    pub extra_args: Vec<&'a str>,
    /// Put space.yaml inside `<dir>/.mew/` (the runner's layout).
    pub dot_mew: bool,
    pub no_auto_start: bool,
    /// Files to create (path relative to the root, content) before the gateway starts.
    pub files: Vec<(&'a str, &'a str)>,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            yaml: "",
            env: Vec::new(),
            extra_args: Vec::new(),
            dot_mew: true,
            no_auto_start: true,
            files: Vec::new(),
        }
    }
}

impl TestGateway {
    pub fn start(yaml: &str) -> TestGateway {
        Self::start_with(Opts {
            yaml,
            ..Default::default()
        })
    }

    pub fn start_with(opts: Opts) -> TestGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg_dir = if opts.dot_mew {
            dir.path().join(".mew")
        } else {
            dir.path().to_path_buf()
        };
        std::fs::create_dir_all(&cfg_dir).unwrap();
        let cfg = cfg_dir.join("space.yaml");
        std::fs::write(&cfg, opts.yaml).unwrap();
        for (rel, content) in &opts.files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
        cmd.args([
            "gateway",
            "start",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--space-config",
        ])
        .arg(&cfg)
        .args(&opts.extra_args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if opts.no_auto_start {
            cmd.arg("--no-auto-start");
        }
        for k in [
            "GATEWAY_LOGGING",
            "ENVELOPE_HISTORY",
            "CAPABILITY_DECISIONS",
            "GATEWAY_LOG_FILE",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn mew gateway");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines2 = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("Gateway listening on port ") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap_or(0));
                }
                lines2.lock().unwrap().push(line);
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("gateway did not report its port");
            }
        };
        TestGateway {
            child,
            port,
            dir,
            stdout: lines,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn mew_dir(&self) -> PathBuf {
        self.dir.path().join(".mew")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.mew_dir().join("logs").join(name)
    }

    pub async fn ws(&self) -> Ws {
        self.ws_path("/").await
    }

    pub async fn ws_path(&self, path: &str) -> Ws {
        let url = format!("ws://127.0.0.1:{}{}", self.port, path);
        let (s, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Ws { s }
    }

    /// Join with the legacy form and return the welcome.
    pub async fn join(&self, id: &str, space: &str, token: &str) -> (Ws, Value) {
        let mut ws = self.ws().await;
        ws.send(serde_json::json!({"type":"join","participantId":id,"space":space,"token":token}))
            .await;
        let welcome = ws.recv_kind("system/welcome").await;
        (ws, welcome)
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        http_raw(self.port, method, path, headers, body.as_bytes()).await
    }

    /// POST an envelope as participant `id` with `token`.
    pub async fn post(&self, id: &str, token: &str, body: &str) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let (s, b) = self
            .http(
                "POST",
                &format!("/participants/{id}/messages"),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                body,
            )
            .await;
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    /// Lines of a JSONL file (waits up to `wait` for a line containing `needle`).
    pub async fn wait_line(&self, path: &Path, needle: &str, wait: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Some(l) = s.lines().find(|l| l.contains(needle)) {
                    return Some(l.to_string());
                }
            }
            if start.elapsed() > wait {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("gateway did not exit on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("tcp connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub struct Ws {
    pub s: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub async fn send(&mut self, v: Value) {
        self.s
            .send(Message::text(v.to_string()))
            .await
            .expect("ws send");
    }
    pub async fn send_text(&mut self, t: &str) {
        self.s
            .send(Message::text(t.to_string()))
            .await
            .expect("ws send");
    }
    /// Next text/binary message as a string (None on timeout or close).
    pub async fn recv_raw(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.s.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return Some(String::from_utf8_lossy(&b).to_string())
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }
    pub async fn recv(&mut self) -> Value {
        let t = self
            .recv_raw(Duration::from_secs(5))
            .await
            .expect("expected a message");
        serde_json::from_str(&t).unwrap_or_else(|_| panic!("not JSON: {t}"))
    }
    /// Next JSON message, skipping stream frames.
    pub async fn recv_json(&mut self) -> Value {
        loop {
            let t = self
                .recv_raw(Duration::from_secs(5))
                .await
                .expect("expected a message");
            if let Ok(v) = serde_json::from_str(&t) {
                return v;
            }
        }
    }
    /// Skip messages until one of `kind` arrives.
    pub async fn recv_kind(&mut self, kind: &str) -> Value {
        for _ in 0..200 {
            let v = self.recv_json().await;
            if v["kind"] == kind {
                return v;
            }
        }
        panic!("no {kind} message");
    }
    /// The next message of `kind` whose id (or raw text) contains `needle`, skipping others.
    pub async fn recv_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let v = self.recv_json().await;
            if pred(&v) {
                return v;
            }
        }
        panic!("no matching message");
    }
    /// Assert nothing matching arrives within `wait`.
    pub async fn expect_none(&mut self, wait: Duration, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv_raw(left).await {
                Some(t) if pred(&t) => panic!("unexpected message: {t}"),
                Some(_) => {}
                None => return,
            }
        }
    }
}

/// In a running space (the compose-examples/echo layout): post "hello" as `you` with its token
/// file until the echo agent's answer shows in `logs/you.jsonl`. Err(what the log holds) when
/// `secs` pass first.
pub async fn post_hello_until_echo(dir: &Path, port: u16, secs: u64) -> Result<(), String> {
    let token = std::fs::read_to_string(dir.join(".mew/tokens/you.token")).expect("you's token");
    let auth = format!("Bearer {}", token.trim());
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let seen = std::fs::read_to_string(dir.join("logs/you.jsonl")).unwrap_or_default();
        if seen.contains("\"Echo: hello\"") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(seen);
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            http_raw(
                port,
                "POST",
                "/participants/you/messages",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                br#"{"kind":"chat","payload":{"text":"hello"}}"#,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
