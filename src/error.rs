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

/// Exit code for an error that reached `main`: the first of mew's own errors in the chain decides
/// (2 for bad input, 1 otherwise); a chain without one is a runtime failure.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        let usage = if cause.is::<InvalidInput>() {
            Some(true)
        } else if let Some(e) = cause.downcast_ref::<mew_space::config::ConfigError>() {
            Some(e.is_usage())
        } else if let Some(e) = cause.downcast_ref::<crate::ops::space::SpaceError>() {
            Some(e.is_usage())
        } else if let Some(e) = cause.downcast_ref::<mew_space::export::ExportError>() {
            Some(e.is_usage())
        } else if let Some(e) = cause.downcast_ref::<mew_space::tokens::TokenError>() {
            Some(e.is_usage())
        } else if let Some(e) = cause.downcast_ref::<mew_engine::EngineError>() {
            Some(e.is_usage())
        } else {
            cause
                .downcast_ref::<mew_engine::apply::ApplyError>()
                .map(|e| e.is_usage())
        };
        if let Some(usage) = usage {
            return if usage { 2 } else { 1 };
        }
    }
    1
}

/// One line for the user: the error and its causes joined by ": ".
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    mew_space::error_line(err.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mew_space::config::ConfigError;

    #[test]
    fn each_cause_is_printed_once() {
        let err = anyhow::Error::from(mew_space::tokens::TokenError::Read {
            path: "/x/alice".into(),
            source: std::io::Error::other("disk on fire"),
        })
        .context("cannot start");
        assert_eq!(
            one_line(&err),
            "cannot start: cannot read token file /x/alice: disk on fire"
        );
    }

    #[test]
    fn bad_input_exits_2_and_broken_invariants_1() {
        let usage = anyhow::Error::from(ConfigError::Invalid("bad --port".into()));
        assert_eq!(exit_code(&usage), 2);
        let bug = anyhow::Error::from(ConfigError::Internal("plan lost a participant".into()));
        assert_eq!(exit_code(&bug), 1);
        let engine =
            anyhow::Error::from(mew_engine::EngineError::Unreachable { tried: "x".into() });
        assert_eq!(exit_code(&engine), 1);
        let host = anyhow::Error::from(mew_engine::EngineError::BadHost("ftp://x".into()));
        assert_eq!(exit_code(&host), 2);
    }
}
