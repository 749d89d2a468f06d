//! The space runner's read and maintenance commands (status, logs, restart, exec, clean,
//! events): finding the space (`target`), asking the gateway who joined (`gateway_http`), and the
//! pure parts: status rows and JSON, log prefixes, `--since`, the clean plan.
//! Engine calls live in `crate::engine::{inspect,stats,logs,restart,exec,clean,events}`.
pub mod clean;
pub mod gateway_http;
pub mod logfmt;
pub mod since;
pub mod status;
pub mod target;
