//! Read participants' logs from the engine's log driver, several containers merged into one
//! stream of lines.
use crate::inspect::OpError;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};

/// Split a line the engine sent with `timestamps=true` into (timestamp, text).
pub fn split_timestamp(line: &str) -> (Option<&str>, &str) {
    match line.split_once(' ') {
        Some((ts, rest)) if chrono::DateTime::parse_from_rfc3339(ts).is_ok() => (Some(ts), rest),
        _ => (None, line),
    }
}

/// Sort key of a timestamp (nanoseconds since the epoch); unparseable ones sort first.
pub fn timestamp_key(ts: Option<&str>) -> i64 {
    ts.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(i64::MIN)
}

/// Accumulates raw log bytes and yields complete lines (the engine may split long lines).
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            lines.push(text.trim_end_matches('\r').to_string());
        }
        lines
    }

    /// What is left when the stream ends (a last line without newline).
    pub fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            Some(text)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Unix seconds.
    pub since: Option<i64>,
    /// Last N lines per container (`None`: all).
    pub tail: Option<u64>,
}

/// One line of a participant's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub participant: String,
    /// RFC 3339 with nanoseconds, as the engine stamped it.
    pub timestamp: Option<String>,
    pub text: String,
}

/// Lines of one container. Timestamps are always requested: they order the merged output.
pub fn container_lines(
    docker: &Docker,
    container: &str,
    participant: &str,
    opts: &LogOptions,
) -> BoxStream<'static, Result<LogLine, OpError>> {
    let tail = opts
        .tail
        .map(|n| n.to_string())
        .unwrap_or_else(|| "all".to_string());
    let mut b = LogsOptionsBuilder::default()
        .follow(opts.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail);
    if let Some(since) = opts.since {
        // The engine takes 32-bit unix seconds; clamp rather than wrap.
        b = b.since(since.clamp(0, i64::from(i32::MAX)) as i32);
    }
    let raw = docker.logs(container, Some(b.build()));
    let participant = participant.to_string();
    let what = format!("read the logs of {container}");
    // Per stream (stdout / stderr) buffers: a partial line on one must not swallow the other.
    let state = (
        raw.boxed(),
        LineBuffer::default(),
        LineBuffer::default(),
        false,
    );
    stream::unfold(state, move |(mut raw, mut out, mut err, done)| {
        let participant = participant.clone();
        let what = what.clone();
        async move {
            if done {
                return None;
            }
            let to_lines = |lines: Vec<String>| -> Vec<Result<LogLine, OpError>> {
                lines
                    .into_iter()
                    .map(|l| Ok(make_line(&participant, &l)))
                    .collect()
            };
            match raw.next().await {
                Some(Ok(chunk)) => {
                    let lines = match chunk {
                        LogOutput::StdErr { message } => err.push(&message),
                        LogOutput::StdOut { message }
                        | LogOutput::Console { message }
                        | LogOutput::StdIn { message } => out.push(&message),
                    };
                    Some((to_lines(lines), (raw, out, err, false)))
                }
                Some(Err(e)) => Some((vec![Err(OpError::new(what, e))], (raw, out, err, true))),
                None => {
                    let rest: Vec<String> = out.finish().into_iter().chain(err.finish()).collect();
                    Some((to_lines(rest), (raw, out, err, true)))
                }
            }
        }
    })
    .flat_map(stream::iter)
    .boxed()
}

fn make_line(participant: &str, raw: &str) -> LogLine {
    let (ts, text) = split_timestamp(raw);
    LogLine {
        participant: participant.to_string(),
        timestamp: ts.map(str::to_string),
        text: text.to_string(),
    }
}

/// All the given containers' lines, interleaved as they arrive. `containers`: (participant, name).
/// When following, a container that stops is picked up again when it restarts; the stream ends
/// once every container is gone.
pub fn merged(
    docker: &Docker,
    containers: &[(String, String)],
    opts: &LogOptions,
) -> impl Stream<Item = Result<LogLine, OpError>> {
    stream::select_all(containers.iter().map(|(p, name)| {
        if opts.follow {
            across_restarts(docker.clone(), name.clone(), p.clone(), opts.clone())
        } else {
            container_lines(docker, name, p, opts)
        }
    }))
}

/// How often a stopped container is checked for a restart while following.
const RESTART_POLL: std::time::Duration = std::time::Duration::from_millis(500);

struct Following {
    docker: Docker,
    container: String,
    participant: String,
    current: Option<BoxStream<'static, Result<LogLine, OpError>>>,
    /// Lines at or before this time (ns) are not shown again: the last line shown, or when
    /// following began. Resumed streams start at its second and overlap a little.
    floor: i64,
    /// Whether `current` is a resumed stream (the first one may show older lines: `--tail`).
    resumed: bool,
}

/// Follow one container's logs, resuming after each restart, until it is removed.
fn across_restarts(
    docker: Docker,
    container: String,
    participant: String,
    opts: LogOptions,
) -> BoxStream<'static, Result<LogLine, OpError>> {
    let first = container_lines(&docker, &container, &participant, &opts);
    let state = Following {
        docker,
        container,
        participant,
        current: Some(first),
        floor: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MIN),
        resumed: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(current) = st.current.as_mut() {
                match current.next().await {
                    Some(Ok(line)) => {
                        let key = timestamp_key(line.timestamp.as_deref());
                        if st.resumed && key != i64::MIN && key <= st.floor {
                            continue;
                        }
                        st.floor = st.floor.max(key);
                        return Some((Ok(line), st));
                    }
                    Some(Err(e)) => {
                        st.current = None;
                        if !still_there(&st.docker, &st.container).await {
                            return None;
                        }
                        return Some((Err(e), st));
                    }
                    None => st.current = None,
                }
            }
            // The stream ended: the container stopped (or went away). Wait for a restart.
            loop {
                tokio::time::sleep(RESTART_POLL).await;
                match running(&st.docker, &st.container).await {
                    Some(true) => break,
                    Some(false) => continue,
                    None => return None,
                }
            }
            let opts = LogOptions {
                follow: true,
                since: Some(st.floor.div_euclid(1_000_000_000)),
                tail: None,
            };
            st.resumed = true;
            st.current = Some(container_lines(
                &st.docker,
                &st.container,
                &st.participant,
                &opts,
            ));
        }
    })
    .boxed()
}

/// `Some(running)`, or `None` once the container no longer exists.
async fn running(docker: &Docker, container: &str) -> Option<bool> {
    match crate::podman::inspect_container(docker, container).await {
        Ok(info) => Some(info.state.and_then(|s| s.running).unwrap_or(false)),
        Err(e) if crate::inspect::is_not_found(&e) => None,
        // A passing engine hiccup: keep waiting.
        Err(_) => Some(false),
    }
}

async fn still_there(docker: &Docker, container: &str) -> bool {
    running(docker, container).await.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_timestamps() {
        let (ts, text) = split_timestamp("2024-05-01T10:00:00.123456789Z hello world");
        assert_eq!(ts, Some("2024-05-01T10:00:00.123456789Z"));
        assert_eq!(text, "hello world");
        assert_eq!(split_timestamp("no stamp here"), (None, "no stamp here"));
        assert!(
            timestamp_key(Some("2024-05-01T10:00:00.1Z"))
                > timestamp_key(Some("2024-05-01T10:00:00.09Z"))
        );
    }

    #[test]
    fn line_buffer_joins_partial_lines() {
        let mut b = LineBuffer::default();
        assert!(b.push(b"par").is_empty());
        assert_eq!(b.push(b"tial\nnext\r\nla"), vec!["partial", "next"]);
        assert_eq!(b.finish().as_deref(), Some("la"));
        assert_eq!(b.finish(), None);
    }
}
