//! `mew`: run MEW spaces as containers. The library crates under `crates/` hold the layers
//! (protocol → space model and planner → client, gateway, engine); this binary holds what a
//! user runs:
//! - `cli`: argument parsing only, one file per subcommand; each handler calls an operation.
//! - `ops`: the operations (`up`/`down`/`restart` around the planner and the executor, status,
//!   logs, clean), reading the engine through `mew_engine`.
//! - `connect`, `init`, `supervise`, `bench`: `mew space connect`, templates, the in-container
//!   supervisor, the benchmarks.
//! - `agents`, `bridge`, `mcp`: the built-in participants and MCP servers.
mod agents;
mod bench;
mod bridge;
mod cli;
mod connect;
mod error;
mod init;
mod mcp;
mod ops;
mod supervise;

fn main() -> std::process::ExitCode {
    cli::main()
}
