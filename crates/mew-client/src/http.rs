//! The one HTTP client of mew: plain HTTP/1.1 to the gateway's JSON endpoints on the address
//! it is published on (`/health`, `/participants?space=<id>`). One request per connection,
//! always under a timeout, on hyper.
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("unsupported URL {0} (expected http://host:port/path)")]
    BadUrl(String),
    #[error("cannot reach {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr}: {source}")]
    Http { addr: String, source: hyper::Error },
}

/// Status and body of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// A gateway's `/health` answer that says it is ready: 200 with `"status":"ok"`.
    pub fn is_healthy(&self) -> bool {
        self.status == 200
            && serde_json::from_str::<serde_json::Value>(&self.body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(|s| s == "ok"))
                .unwrap_or(false)
    }
}

/// A request beyond a plain GET: a bearer token, a JSON body.
#[derive(Debug, Default, Clone)]
pub struct Options<'a> {
    pub bearer: Option<&'a str>,
    pub body: Option<String>,
}

/// GET `url` (`http://host:port/path`).
pub async fn get(url: &str, timeout: Duration) -> Result<Response, HttpError> {
    request("GET", url, Options::default(), timeout).await
}

/// POST `body` (JSON) to `url`.
pub async fn post(url: &str, body: String, timeout: Duration) -> Result<Response, HttpError> {
    let opts = Options {
        body: Some(body),
        ..Options::default()
    };
    request("POST", url, opts, timeout).await
}

/// Send one request and read the whole answer, all within `timeout`.
pub async fn request(
    method: &str,
    url: &str,
    opts: Options<'_>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let (authority, path) = split_url(url)?;
    let addr = authority.to_string();
    match tokio::time::timeout(timeout, send(method, authority, path, opts)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout { addr, timeout }),
    }
}

async fn send(
    method: &str,
    authority: &str,
    path: &str,
    opts: Options<'_>,
) -> Result<Response, HttpError> {
    let http = |source| HttpError::Http {
        addr: authority.to_string(),
        source,
    };
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|source| HttpError::Connect {
            addr: authority.to_string(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    // The connection task ends with the request (or when this future is dropped on timeout,
    // since the sender it pairs with is gone).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json");
    if let Some(token) = opts.bearer {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match opts.body {
        Some(b) => {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(b))
        }
        None => Full::new(Bytes::new()),
    };
    let req = req
        .body(body)
        .map_err(|_| HttpError::BadUrl(format!("http://{authority}{path}")))?;
    let resp = sender.send_request(req).await.map_err(http)?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(http)?.to_bytes();
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// `http://host:port/path` → ("host:port", "/path").
fn split_url(url: &str) -> Result<(&str, &str), HttpError> {
    let bad = || HttpError::BadUrl(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    // A port is required: a bare host would mean port 80, which no gateway of ours uses.
    if authority
        .rsplit_once(':')
        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
    {
        return Err(bad());
    }
    Ok((authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/health").expect("url"),
            ("127.0.0.1:8080", "/health")
        );
        assert_eq!(
            split_url("http://[::1]:9/participants?space=a").expect("url"),
            ("[::1]:9", "/participants?space=a")
        );
        assert_eq!(split_url("http://h:1").expect("url"), ("h:1", "/"));
        assert!(split_url("https://x:1/").is_err());
        assert!(split_url("http://x/").is_err());
    }

    #[test]
    fn health_needs_200_and_status_ok() {
        let r = |status, body: &str| Response {
            status,
            body: body.into(),
        };
        assert!(r(200, r#"{"status":"ok","spaces":1}"#).is_healthy());
        assert!(!r(200, r#"{"status":"starting"}"#).is_healthy());
        assert!(!r(200, "ok").is_healthy());
        assert!(!r(503, r#"{"status":"ok"}"#).is_healthy());
    }

    /// A server that answers one connection with `answer` and hands back the request it read.
    async fn serve_once(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.expect("read");
            s.write_all(answer).await.expect("write");
            let _ = s.shutdown().await;
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, task)
    }

    #[tokio::test]
    async fn gets_plain_and_chunked_bodies() {
        let (port, _) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}").await;
        let r = get(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(2),
        )
        .await
        .expect("get");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "{\"status\":\"ok\"}");

        let (port, _) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
        let r = get(
            &format!("http://127.0.0.1:{port}/x"),
            Duration::from_secs(2),
        )
        .await
        .expect("get");
        assert_eq!((r.status, r.body.as_str()), (404, "abcde"));
    }

    #[tokio::test]
    async fn posts_with_a_bearer_token() {
        let (port, seen) = serve_once(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").await;
        let opts = Options {
            bearer: Some("tok"),
            body: Some("{\"a\":1}".into()),
        };
        let r = request(
            "POST",
            &format!("http://127.0.0.1:{port}/p"),
            opts,
            Duration::from_secs(2),
        )
        .await
        .expect("post");
        assert_eq!(r.status, 201);
        let req = seen.await.expect("request").to_ascii_lowercase();
        assert!(req.starts_with("post /p http/1.1\r\n"), "{req}");
        assert!(req.contains("authorization: bearer tok\r\n"), "{req}");
        assert!(req.ends_with("{\"a\":1}"), "{req}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_closed_port_fails() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let err = get(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(200),
        )
        .await
        .expect_err("silent");
        assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
        drop(listener);
        let err = get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2))
            .await
            .expect_err("closed");
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    }
}
