//! MEW participants built into the binary: the WebSocket connection with join and reconnect
//! (`participant`), small envelope helpers (`envelope`), and `mew client connect` (`connect`).
pub mod connect;
pub mod envelope;
pub mod io;
pub mod participant;
pub mod render;

pub use participant::{Event, LinkLog, LinkNote, Participant, ParticipantOptions, Sender};

/// Resolves on SIGINT or SIGTERM (the ways a container engine or a terminal stop a participant).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered now, not at the first poll: a process still starting up (loading certificates,
    // say) when SIGTERM comes must stop cleanly, not die of the default action.
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without handlers the default action (terminate) applies, which is also a way out.
            _ => std::future::pending::<()>().await,
        }
    }
}
