//! Exit-code policy (design.md §7): 0 success, 1 runtime failure, 2 invalid input.
use thiserror::Error;

/// Invalid input from the user (CLI usage, a bad flag value, a bad file).
/// Anything wrapped in this maps to exit code 2.
#[derive(Debug, Error)]
#[error("{0}")]
pub(crate) struct InvalidInput(pub String);

impl InvalidInput {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        InvalidInput(msg.into())
    }
}

/// Exit code for an error that reached `main`.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<InvalidInput>() || cause.is::<mew_space::config::ConfigError>() {
            return 2;
        }
    }
    1
}

/// One line for the user: the error and its causes joined by ": ".
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}
