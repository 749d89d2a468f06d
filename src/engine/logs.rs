//! Read participants' logs from the engine's log driver, several containers merged into one
//! stream of lines.
use crate::engine::inspect::OpError;
use crate::ops::logfmt::{split_timestamp, LineBuffer};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};

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
pub fn merged(
    docker: &Docker,
    containers: &[(String, String)],
    opts: &LogOptions,
) -> impl Stream<Item = Result<LogLine, OpError>> {
    stream::select_all(
        containers
            .iter()
            .map(|(p, name)| container_lines(docker, name, p, opts)),
    )
}
