//! Formatting of multiplexed log lines: `participant | text`, padded to the widest participant,
//! with a colour per participant that stays the same from run to run (derived from its name).

/// ANSI foreground colours that read well on dark and light terminals.
const PALETTE: [&str; 6] = ["36", "33", "32", "35", "34", "91"];

/// The colour code for a participant (stable: a hash of the name, not its position).
pub fn colour_of(participant: &str) -> &'static str {
    // FNV-1a: tiny, deterministic across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in participant.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[(h as usize) % PALETTE.len()]
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn use_colour(stdout_is_tty: bool, no_color: Option<&str>) -> bool {
    stdout_is_tty && no_color.is_none_or(str::is_empty)
}

#[derive(Debug, Clone)]
pub struct Prefixer {
    width: usize,
    colour: bool,
}

impl Prefixer {
    pub fn new<'a>(participants: impl IntoIterator<Item = &'a str>, colour: bool) -> Self {
        let width = participants
            .into_iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0);
        Prefixer { width, colour }
    }

    /// `participant | ` (padded), coloured when enabled.
    pub fn prefix(&self, participant: &str) -> String {
        let padded = format!("{participant:<w$} | ", w = self.width);
        if self.colour {
            format!("\x1b[{}m{padded}\x1b[0m", colour_of(participant))
        } else {
            padded
        }
    }

    /// A whole output line (without the trailing newline).
    pub fn line(&self, participant: &str, timestamp: Option<&str>, text: &str) -> String {
        match timestamp {
            Some(ts) => format!("{}{ts} {text}", self.prefix(participant)),
            None => format!("{}{text}", self.prefix(participant)),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_and_optional() {
        assert_eq!(colour_of("gateway"), colour_of("gateway"));
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("")));
        assert!(!use_colour(true, Some("1")));
        assert!(!use_colour(false, None));
    }

    #[test]
    fn prefixes_are_padded() {
        let p = Prefixer::new(["gateway", "echo"], false);
        assert_eq!(p.line("echo", None, "hi"), "echo    | hi");
        assert_eq!(p.line("gateway", Some("T"), "x"), "gateway | T x");
        let c = Prefixer::new(["a"], true);
        assert!(c.prefix("a").starts_with("\x1b["));
    }

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
