//! MEW participants built into the binary: the WebSocket connection with join and reconnect
//! (`participant`), small envelope helpers (`envelope`), and `mew client connect` (`connect`).
pub mod connect;
pub mod envelope;
pub mod io;
pub mod participant;
pub mod render;

pub use participant::{Event, LinkLog, LinkNote, Participant, ParticipantOptions, Sender};

/// Resolves on SIGINT or SIGTERM (the ways a container engine or a terminal stop a participant).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
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
