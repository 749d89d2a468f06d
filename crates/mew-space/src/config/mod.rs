//! space.yaml → validated `Space` (pure: never talks to the engine, and reads only the file).
//!
//! - `discover` finds the file, `load` reads and validates it (`parse_space` for text).
//! - `lenient` reads the keys the gateway uses, ignoring what it does not know (upstream files).
//! - `parse` builds a YAML tree with positions; `schema` lists the known keys; `values` parses
//!   sizes, durations and restart policies; `substitute` expands `${…}` at `up`; `paths` checks
//!   the host paths a container would miss (at `up`).
use std::path::PathBuf;
use thiserror::Error;

pub mod discover;
pub mod lenient;
pub mod load;
pub mod model;
pub mod parse;
pub mod paths;
pub mod schema;
pub mod substitute;
pub mod values;

pub use discover::{discover, discover_in, find_and_load, ENV_SPACE_CONFIG, ENV_SPACE_ID};
pub use load::{default_log, load, parse_space, space_dir_of, LoadOptions};
pub use model::*;

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
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A problem that has no single place in the file (a flag value, an override).
    #[error("{0}")]
    Invalid(String),
    /// A broken invariant in mew itself (a bug, never the user's input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ConfigError {
    /// Whether the user's input is at fault (exit code 2): all but `Internal`.
    pub fn is_usage(&self) -> bool {
        !matches!(self, ConfigError::Internal(_))
    }
}
