use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::mcp;

#[derive(Debug, Subcommand)]
pub(crate) enum McpCommand {
    /// A maze game as MCP tools (view, up, down, left, right, reset), on stdio.
    CatMaze,
    /// File tools confined to PATH, on stdio.
    Filesystem {
        /// The only directory the server may access.
        path: PathBuf,
    },
    /// List the built-in MCP servers.
    List,
}

pub(crate) async fn run(cmd: McpCommand) -> anyhow::Result<()> {
    // The servers read stdin synchronously; keep that off the async workers.
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        match cmd {
            McpCommand::CatMaze => mcp::run_cat_maze().context("mew mcp cat-maze"),
            McpCommand::Filesystem { path } => {
                mcp::run_filesystem(&path).context("mew mcp filesystem")
            }
            McpCommand::List => {
                print!("{}", mcp::list());
                Ok(())
            }
        }
    })
    .await;
    outcome.context("MCP server task")?
}
