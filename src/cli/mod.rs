//! Command-line parsing only: each subcommand file turns its arguments into options and calls
//! the library operation that does the work.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub(crate) mod agent;
pub(crate) mod bare;
pub(crate) mod bench;
pub(crate) mod bridge;
pub(crate) mod client;
pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod gateway;
pub(crate) mod image;
pub(crate) mod init;
pub(crate) mod mcp;
pub(crate) mod space;
pub(crate) mod supervise;
pub(crate) mod token;

#[derive(Debug, Parser)]
#[command(
    name = "mew",
    version,
    about = "Run MEW spaces (gateway, agents, clients) as containers",
    after_help = "Without a command, mew creates a space here if there is none (`mew init`), starts it \
(`mew space up`) and connects you to it (`mew space connect`).\n\n\
Examples:\n  \
mew                                  # the whole newcomer's path\n  \
mew init calculator && mew up && mew connect\n  \
mew space export --format compose -o compose.yaml\n  \
mew completions bash > ~/.local/share/bash-completion/completions/mew"
)]
pub(crate) struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Without a command: create a space if there is none, start it, and connect to it.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a space in this directory from a template.
    Init(init::InitArgs),
    /// Manage a space: up, down, status, logs, restart, exec, clean.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// Shorthand for `mew space up`.
    Up(space::up::UpArgs),
    /// Shorthand for `mew space down`.
    Down(space::down::DownArgs),
    /// Shorthand for `mew space status` (also `mew ps`).
    #[command(visible_alias = "ps")]
    Status(space::status::StatusArgs),
    /// Shorthand for `mew space logs`.
    Logs(space::logs::LogsArgs),
    /// Shorthand for `mew space connect`.
    Connect(space::connect::ConnectArgs),
    /// Shorthand for `mew space restart`.
    Restart(space::restart::RestartArgs),
    /// Shorthand for `mew space exec`.
    Exec(space::exec::ExecArgs),
    /// Run the MEW gateway.
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// Connect to a gateway as a client.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Run a built-in agent.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Put a stdio MCP server into a space.
    #[command(subcommand)]
    Bridge(bridge::BridgeCommand),
    /// MCP servers built into mew (stdio), for bridges.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Participant tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The mew runtime image.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Check the container engine and the runtime image.
    Doctor(doctor::DoctorArgs),
    /// In-container init: run a command, forward signals, reap children, tee output to a log file.
    Supervise(supervise::SuperviseArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// What the completion scripts ask at TAB time (templates, participants, space ids).
    #[command(name = "__complete", hide = true)]
    Complete(completions::CompleteArgs),
    /// Benchmarks (load generators).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// `-v` count of this invocation, for commands that show more with it (not only in tracing).
static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub(crate) fn verbosity() -> u8 {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed)
}

/// Parse, run, and map the outcome to an exit code (0 ok, 1 runtime failure, 2 invalid input).
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    init_tracing(cli.verbose);
    VERBOSITY.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli.command));
    // Do not wait for detached blocking tasks (stdin readers and the like).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", crate::error::one_line(&err));
            ExitCode::from(crate::error::exit_code(&err))
        }
    }
}

async fn run(command: Option<Command>) -> anyhow::Result<()> {
    let Some(command) = command else {
        return bare::run().await;
    };
    match command {
        Command::Init(a) => init::run(a).await,
        Command::Space(c) => space::run(c).await,
        Command::Up(a) => space::up::run(a).await,
        Command::Down(a) => space::down::run(a).await,
        Command::Status(a) => space::status::run(a).await,
        Command::Logs(a) => space::logs::run(a).await,
        Command::Connect(a) => space::connect::run(a).await,
        Command::Restart(a) => space::restart::run(a).await,
        Command::Exec(a) => space::exec::run(a).await,
        Command::Gateway(c) => gateway::run(c).await,
        Command::Client(c) => client::run(c).await,
        Command::Agent(c) => agent::run(c).await,
        Command::Bridge(c) => bridge::run(c).await,
        Command::Mcp(c) => mcp::run(c).await,
        Command::Token(c) => token::run(c).await,
        Command::Image(c) => image::run(c).await,
        Command::Doctor(a) => doctor::run(a).await,
        Command::Supervise(a) => supervise::run(a).await,
        Command::Bench(c) => bench::run(c).await,
        Command::Completions(a) => completions::run(a).await,
        Command::Complete(a) => completions::complete(a).await,
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    /// clap checks a command line's consistency (duplicate flags, bad defaults) only when that
    /// subcommand is parsed; this checks every subcommand at once.
    #[test]
    fn every_subcommand_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
