//! The space runner's read and maintenance commands (status, logs, restart, exec, clean,
//! events): finding the space (`target`), asking the gateway who joined (`gateway_http`), and the
//! pure parts: status rows and JSON, log prefixes, `--since`, the clean plan.
//! Engine calls live in `mew_engine::{inspect,stats,logs,restart,exec,clean,events}`.
pub(crate) mod clean;
pub(crate) mod gateway_http;
pub(crate) mod list;
pub(crate) mod logfmt;
pub(crate) mod restart;
pub(crate) mod since;
pub(crate) mod snapshot;
pub(crate) mod space;
pub(crate) mod status;
pub(crate) mod target;
