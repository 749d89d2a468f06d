//! MCP servers built into the binary (`mew mcp …`), so that a bridge can run them in mew's own
//! runtime image, which has nothing but mew. They speak MCP's stdio transport (`server`).
pub(crate) mod fs;
pub(crate) mod maze;

use std::path::Path;

/// The built-in servers and what they do, for `mew mcp list`.
pub(crate) const SERVERS: &[(&str, &str)] = &[
    (
        "cat-maze",
        "a maze game: move a cat to the goal with the tools view, up, down, left, right, reset",
    ),
    (
        "filesystem <path>",
        "read, write, list and search files, confined to <path>",
    ),
];

/// `mew mcp list`: one line per server.
pub(crate) fn list() -> String {
    let width = SERVERS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    SERVERS
        .iter()
        .map(|(name, what)| format!("{name:width$}  {what}\n"))
        .collect()
}

/// Serve the maze on stdin/stdout until stdin closes.
pub(crate) fn run_cat_maze() -> std::io::Result<()> {
    mew_client::mcp::serve_stdio(&mut maze::CatMaze::default())
}

/// Serve the filesystem under `root` on stdin/stdout until stdin closes.
pub(crate) fn run_filesystem(root: &Path) -> Result<(), McpError> {
    let root = fs::Root::new(root)?;
    // Where we are confined goes to stderr (the bridge's log); stdout is the protocol.
    eprintln!("mew mcp filesystem: serving {}", root.path().display());
    mew_client::mcp::serve_stdio(&mut fs::Filesystem::new(root))?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum McpError {
    #[error(transparent)]
    Root(#[from] fs::FsError),
    #[error("stdio: {0}")]
    Io(#[from] std::io::Error),
}
