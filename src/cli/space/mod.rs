//! `mew space …` subcommands.
use clap::Subcommand;

pub(crate) mod clean;
pub(crate) mod connect;
pub(crate) mod down;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod export;
pub(crate) mod list;
pub(crate) mod logs;
pub(crate) mod restart;
pub(crate) mod restore;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod up;

#[derive(Debug, Subcommand)]
pub(crate) enum SpaceCommand {
    /// Start a space (gateway, then agents and clients) as containers.
    Up(up::UpArgs),
    /// Stop and remove a space's containers and network (keeps logs and tokens).
    Down(down::DownArgs),
    /// Show each participant's container state.
    #[command(visible_alias = "ps")]
    Status(status::StatusArgs),
    /// List every space on this engine (id, state, participants up/total, gateway, directory).
    #[command(visible_alias = "ls")]
    List(list::ListArgs),
    /// Show participants' logs.
    Logs(logs::LogsArgs),
    /// Restart participants.
    Restart(restart::RestartArgs),
    /// Run a command in a participant's container.
    Exec(exec::ExecArgs),
    /// Remove leftover labelled objects.
    Clean(clean::CleanArgs),
    /// Join a running space from this terminal (chat, envelopes, proposal approval).
    Connect(connect::ConnectArgs),
    /// Write the space as a compose file (docker compose, docker stack deploy).
    Export(export::ExportArgs),
    /// Follow the engine's events for the space's containers, until Ctrl-C.
    Events(events::EventsArgs),
    /// Write the space (files, what runs, its images) as one reproducible archive.
    Snapshot(snapshot::SnapshotArgs),
    /// Restore a snapshot into a space directory (and start it with --up).
    Restore(restore::RestoreArgs),
}

pub(crate) async fn run(cmd: SpaceCommand) -> anyhow::Result<()> {
    match cmd {
        SpaceCommand::Up(a) => up::run(a).await,
        SpaceCommand::Down(a) => down::run(a).await,
        SpaceCommand::Status(a) => status::run(a).await,
        SpaceCommand::List(a) => list::run(a).await,
        SpaceCommand::Logs(a) => logs::run(a).await,
        SpaceCommand::Restart(a) => restart::run(a).await,
        SpaceCommand::Exec(a) => exec::run(a).await,
        SpaceCommand::Clean(a) => clean::run(a).await,
        SpaceCommand::Events(a) => events::run(a).await,
        SpaceCommand::Export(a) => export::run(a).await,
        SpaceCommand::Connect(a) => connect::run(a).await,
        SpaceCommand::Snapshot(a) => snapshot::run(a).await,
        SpaceCommand::Restore(a) => restore::run(a).await,
    }
}
