//! mew: run MEW spaces as containers.
//!
//! Layout (see design.md §2):
//! - `cli`      — argument parsing only; one file per subcommand.
//! - `config`   — space.yaml → validated `Space` (pure, no engine).
//! - `plan`     — desired state + observed engine state → ordered actions (pure, golden-tested).
//! - `engine`   — the Docker Engine API (bollard): connect, observe by labels, containers, images.
//! - `apply`    — executes a plan on the engine, in parallel, making no decisions.
//! - `protocol` — MEW envelopes and capability matching.
//! - `gateway`  — the MEW gateway (WebSocket + HTTP hub); routing lives in `gateway::route`.
//! - `client`, `agents` — MEW participants built into the binary.
//! - `tokens`   — participant token files, shared by the gateway and the runner.
pub mod agents;
pub mod apply;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod engine;
pub mod error;
pub mod export;
pub mod gateway;
pub mod init;
pub mod ops;
pub mod plan;
pub mod protocol;
pub mod supervise;
pub mod tokens;
