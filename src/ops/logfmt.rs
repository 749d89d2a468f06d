//! Formatting of multiplexed log lines: `participant | text`, padded to the widest participant,
//! with a colour per participant that stays the same from run to run (derived from its name).

/// ANSI foreground colours that read well on dark and light terminals.
const PALETTE: [&str; 6] = ["36", "33", "32", "35", "34", "91"];

/// The colour code for a participant (stable: a hash of the name, not its position).
pub(crate) fn colour_of(participant: &str) -> &'static str {
    // FNV-1a: tiny, deterministic across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in participant.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    PALETTE[(h as usize) % PALETTE.len()]
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset or empty.
pub(crate) fn use_colour(stdout_is_tty: bool, no_color: Option<&str>) -> bool {
    stdout_is_tty && no_color.is_none_or(str::is_empty)
}

#[derive(Debug, Clone)]
pub(crate) struct Prefixer {
    width: usize,
    colour: bool,
}

impl Prefixer {
    pub(crate) fn new<'a>(participants: impl IntoIterator<Item = &'a str>, colour: bool) -> Self {
        let width = participants
            .into_iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0);
        Prefixer { width, colour }
    }

    /// `participant | ` (padded), coloured when enabled.
    pub(crate) fn prefix(&self, participant: &str) -> String {
        let padded = format!("{participant:<w$} | ", w = self.width);
        if self.colour {
            format!("\x1b[{}m{padded}\x1b[0m", colour_of(participant))
        } else {
            padded
        }
    }

    /// A whole output line (without the trailing newline).
    pub(crate) fn line(&self, participant: &str, timestamp: Option<&str>, text: &str) -> String {
        match timestamp {
            Some(ts) => format!("{}{ts} {text}", self.prefix(participant)),
            None => format!("{}{text}", self.prefix(participant)),
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
}
