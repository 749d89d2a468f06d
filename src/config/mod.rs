//! space.yaml → validated `Space` (pure: never talks to the engine).
use std::path::PathBuf;
use thiserror::Error;

/// Every way a space.yaml can be wrong. All map to exit code 2.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A problem at a known place in the file: printed as `file:line:column: message`.
    #[error("{}:{line}:{column}: {message}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// No space.yaml where we looked.
    #[error("no space configuration found (looked for {})", .checked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { checked: Vec<PathBuf> },
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem that has no single place in the file (a flag value, an override).
    #[error("{0}")]
    Invalid(String),
}
