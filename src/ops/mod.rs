//! Pure logic of the space-runner's read/maintenance commands (status, logs, restart, exec,
//! clean, events): finding the space, formatting rows and log lines, parsing `--since`.
//! Engine calls live in `crate::engine::{inspect,logs,restart,exec,clean,events}`.
pub mod clean;
pub mod gateway_http;
pub mod logfmt;
pub mod since;
pub mod status;
pub mod target;
