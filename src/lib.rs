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
//! - `bridge`, `mcp` — `mew bridge start` (stdio MCP server → participant) and built-in MCP servers.
//! - `tokens`   — participant token files, shared by the gateway and the runner.
//! - `lock`     — host-wide flock locks (one per space id, one per runtime volume).
pub mod agents;
pub mod apply;
pub mod bench;
pub mod bridge;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod engine;
pub mod error;
pub mod export;
pub mod gateway;
pub mod init;
pub mod lock;
pub mod mcp;
pub mod ops;
pub mod plan;
pub mod protocol;
pub mod supervise;
pub mod tokens;
