//! A MEW participant: the WebSocket connection with join and reconnect (`participant`),
//! the one event loop (`run`), `mew client connect`
//! (`connect`), the MCP server scaffolding (`mcp`) and the one HTTP client
//! (`http`). Envelopes are built and read with `mew_protocol::envelope`. No engine, no HTTP
//! server.
pub mod connect;
pub mod http;
pub mod io;
pub mod mcp;
pub mod participant;
pub mod render;
pub mod run;

pub use participant::{Event, LinkLog, LinkNote, Participant, ParticipantOptions, Sender};
pub use run::{run, End, Handler};

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

/// WebSocket settings of every mew participant (agents, bridges, clients, benches).
pub fn client_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(mew_protocol::CLIENT_MAX_MESSAGE))
        .max_frame_size(Some(mew_protocol::CLIENT_MAX_MESSAGE))
}
