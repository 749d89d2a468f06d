//! Read participants' logs from the engine's log driver, several containers merged into one
//! stream of lines.
use crate::inspect::{is_not_found, OpError};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::future::join_all;
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::StreamExt;
use mew_space::model::labels;
use std::collections::HashSet;

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
    let what = format!("read the logs of {participant}");
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

/// What the given containers (participant, container) wrote so far, in the engine's time order
/// across them. A container removed meanwhile has nothing to show.
pub async fn backlog(
    docker: &Docker,
    containers: &[(String, String)],
    opts: &LogOptions,
) -> Result<Vec<LogLine>, OpError> {
    let mut lines = Vec::new();
    for part in backlogs(docker, containers, opts).await {
        lines.extend(part?);
    }
    sort_by_time(&mut lines);
    Ok(lines)
}

/// Each container's backlog (not following), read in parallel.
async fn backlogs(
    docker: &Docker,
    containers: &[(String, String)],
    opts: &LogOptions,
) -> Vec<Result<Vec<LogLine>, OpError>> {
    let opts = LogOptions {
        follow: false,
        ..opts.clone()
    };
    join_all(containers.iter().map(|(p, c)| async {
        let read: Vec<_> = container_lines(docker, c, p, &opts).collect().await;
        match read.into_iter().collect::<Result<Vec<_>, _>>() {
            Err(e) if is_not_found(&e.source) => Ok(Vec::new()),
            other => other,
        }
    }))
    .await
}

/// Stable: lines of one container with the same timestamp keep their order.
fn sort_by_time(lines: &mut [LogLine]) {
    lines.sort_by_key(|l| timestamp_key(l.timestamp.as_deref()));
}

/// Events are replayed from this long before following starts, so that a container started
/// between the caller listing the space and the subscription is not missed (known ids are
/// skipped, so the overlap shows nothing twice).
const EVENTS_OVERLAP_SECS: i64 = 5;

/// `logs -f` of a space: the backlog of `containers` (participant, container id) in time order,
/// then their new lines and those of every container of the space that starts later (a
/// participant `up` recreated or added), of the `wanted` participants (all when empty). A
/// container that is removed ends its part; the stream itself runs until the engine stops
/// sending events, also while the space is down.
pub fn follow(
    docker: &Docker,
    space_id: &str,
    containers: &[(String, String)],
    wanted: &[String],
    opts: &LogOptions,
) -> BoxStream<'static, Result<LogLine, OpError>> {
    let since = chrono::Utc::now().timestamp() - EVENTS_OVERLAP_SECS;
    let events = crate::events::follow_since(docker, space_id, Some(since)).boxed();
    let (docker, containers, wanted, opts) = (
        docker.clone(),
        containers.to_vec(),
        wanted.to_vec(),
        opts.clone(),
    );
    let start = async move {
        let requested = now_nanos();
        let mut lines = Vec::new();
        let mut live = SpaceFollow {
            docker: docker.clone(),
            wanted,
            events,
            streams: SelectAll::new(),
            known: HashSet::new(),
        };
        let parts = backlogs(&docker, &containers, &opts).await;
        for ((participant, id), part) in containers.into_iter().zip(parts) {
            let part = match part {
                Ok(part) => part,
                Err(e) => return stream::once(async { Err(e) }).boxed(),
            };
            // Follow on from the last line shown (or from now when none was).
            let floor = part
                .iter()
                .map(|l| timestamp_key(l.timestamp.as_deref()))
                .max()
                .filter(|k| *k != i64::MIN)
                .unwrap_or(requested);
            lines.extend(part);
            live.streams.push(across_restarts(
                docker.clone(),
                id.clone(),
                participant,
                Some(floor),
            ));
            live.known.insert(id);
        }
        sort_by_time(&mut lines);
        stream::iter(lines.into_iter().map(Ok))
            .chain(stream::unfold(live, SpaceFollow::next))
            .boxed()
    };
    stream::once(start).flatten().boxed()
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MIN)
}

type Lines = BoxStream<'static, Result<LogLine, OpError>>;

struct SpaceFollow {
    docker: Docker,
    wanted: Vec<String>,
    events: BoxStream<'static, Result<crate::events::SpaceEvent, OpError>>,
    streams: SelectAll<Lines>,
    /// Containers followed already (or skipped: not wanted), by id.
    known: HashSet<String>,
}

impl SpaceFollow {
    async fn next(mut self) -> Option<(Result<LogLine, OpError>, SpaceFollow)> {
        loop {
            tokio::select! {
                Some(line) = self.streams.next(), if !self.streams.is_empty() => {
                    return Some((line, self));
                }
                event = self.events.next() => match event? {
                    Ok(e) => {
                        if let Some(lines) = self.started(&e).await {
                            self.streams.push(lines);
                        }
                    }
                    Err(e) => return Some((Err(e), self)),
                },
            }
        }
    }

    /// The lines of a container that just started for the first time (all of them: it is new).
    async fn started(&mut self, e: &crate::events::SpaceEvent) -> Option<Lines> {
        if e.kind != "container" || e.action != "start" {
            return None;
        }
        let id = e.object_id.clone()?;
        if !self.known.insert(id.clone()) {
            return None; // followed already; `across_restarts` sees its restarts
        }
        let info = crate::podman::inspect_container(&self.docker, &id)
            .await
            .ok()?;
        let participant = info
            .config
            .and_then(|c| c.labels)
            .and_then(|mut l| l.remove(labels::PARTICIPANT))
            .unwrap_or_else(|| e.subject.clone());
        if !self.wanted.is_empty() && !self.wanted.contains(&participant) {
            return None;
        }
        Some(across_restarts(self.docker.clone(), id, participant, None))
    }
}

/// How often a stopped container is checked for a restart while following.
const RESTART_POLL: std::time::Duration = std::time::Duration::from_millis(500);

struct Following {
    docker: Docker,
    container: String,
    participant: String,
    current: Option<Lines>,
    /// Lines at or before this time (ns) are not shown (again): the last line shown, or where
    /// following began. Streams start at its second and overlap a little.
    floor: i64,
}

/// Follow one container's logs after `floor` (all of them when `None`), resuming after each
/// restart, until it is removed.
fn across_restarts(
    docker: Docker,
    container: String,
    participant: String,
    floor: Option<i64>,
) -> Lines {
    let floor = floor.unwrap_or(i64::MIN);
    let first = container_lines(&docker, &container, &participant, &after(floor));
    let state = Following {
        docker,
        container,
        participant,
        current: Some(first),
        floor,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(current) = st.current.as_mut() {
                match current.next().await {
                    Some(Ok(line)) => {
                        let key = timestamp_key(line.timestamp.as_deref());
                        if key != i64::MIN && key <= st.floor {
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
            st.current = Some(container_lines(
                &st.docker,
                &st.container,
                &st.participant,
                &after(st.floor),
            ));
        }
    })
    .boxed()
}

/// Following from the second of `floor` (ns; everything when `i64::MIN`).
fn after(floor: i64) -> LogOptions {
    LogOptions {
        follow: true,
        since: (floor != i64::MIN).then(|| floor.div_euclid(1_000_000_000)),
        tail: None,
    }
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
