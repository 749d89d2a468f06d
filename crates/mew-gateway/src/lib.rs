//! The MEW gateway (spec/gateway.md): one HTTP/1.1 listener for WebSocket participants and the
//! REST API, capability enforcement, streams and the JSONL logs.
//!
//! - [`route`]: routing as one step, state + inbound item (join, envelope, HTTP post,
//!   disconnect) → [`effect::Effect`]s; it calls `grants` (capability grants, invites) and
//!   `streams` (streams, s2w) for the kinds with side effects, and `emit` to build what goes
//!   out. [`effect::apply`] carries the effects out for both transports.
//! - [`state`]: spaces, registries, tokens, capabilities, connections' outbound queues.
//! - [`http`] / [`ws`]: the transport; [`limits`]: the memory bounds; [`logs`]: JSONL records and the console;
//!   `mew_space::config::lenient`: the space.yaml keys the gateway reads; [`virtual_participant`]: `output_log`;
//!   [`autostart`]: children started without `--no-auto-start`; [`identity`]: who a join
//!   may be (tokens against claimed ids).
pub mod autostart;
pub mod effect;
pub(crate) mod emit;
mod grants;
pub mod http;
pub mod identity;
pub mod limits;
pub mod logs;
pub mod route;
pub mod state;
mod streams;
pub mod views;
pub mod virtual_participant;
pub mod ws;

use logs::{Console, LogSink, LogSwitches};
use mew_space::config::lenient::GatewayConfig;
use state::Gateway;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub port: u16,
    pub space_config: PathBuf,
    pub log_level: String,
    pub auto_start: bool,
    /// None: loopback (127.0.0.1, plus `[::1]` when available).
    pub bind: Option<IpAddr>,
    /// JSONL history in `<mew dir>/logs/<this>/` instead of `<mew dir>/logs/` (a space run
    /// under another id than space.yaml's).
    pub history_subdir: Option<String>,
    /// The space id instead of space.yaml's `space.id` (a space run under `--space-id`: its
    /// participants join that id, and the gateway's own, the output_log ones, must be there).
    pub space_id: Option<String>,
}

#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("cannot listen on {addr}: {source} (is the port already in use?)")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Run the gateway until SIGINT/SIGTERM.
pub async fn run(opts: GatewayOptions) -> Result<(), GatewayError> {
    limits::release_big_allocations();
    // Installed first, so a SIGTERM during start-up still means a clean exit 0.
    let signals = Signals::install()?;
    let console = Console::new(
        &opts.log_level,
        std::env::var_os("GATEWAY_LOG_FILE").map(PathBuf::from),
    );
    let config = match load_config(&opts) {
        Ok(c) => Some(c),
        Err(e) => {
            console.error(&format!("Failed to load space configuration: {e}"));
            console.info("Continuing with default configuration...");
            None
        }
    };
    let mew_dir = mew_space::tokens::mew_dir_for(&opts.space_config);

    // 1. tokens of config participants
    let token_map = match &config {
        Some(cfg) => load_tokens(&mew_dir, cfg.participants.keys(), &console),
        None => indexmap::IndexMap::new(),
    };
    // 2. logs
    let yaml = config.as_ref().map(|c| c.logging).unwrap_or_default();
    let switches = LogSwitches::resolve(yaml, |k| std::env::var(k).ok());
    let mut history_dir = mew_dir.join("logs");
    if let Some(sub) = &opts.history_subdir {
        history_dir.push(sub);
    }
    let logs = LogSink::start(&history_dir, switches, &console);

    let gw = Arc::new(Gateway::new(config, mew_dir, logs, console));
    gw.lock().token_map = token_map;

    // 3. listen
    let addrs: Vec<IpAddr> = match opts.bind {
        Some(a) => vec![a],
        None => vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
    };
    let first = SocketAddr::new(addrs[0], opts.port);
    let listener = tokio::net::TcpListener::bind(first)
        .await
        .map_err(|source| GatewayError::Listen {
            addr: first,
            source,
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.port);
    gw.port.store(port, std::sync::atomic::Ordering::Relaxed);
    let mut listeners = vec![listener];
    for extra in &addrs[1..] {
        // Best effort: the host may have no IPv6 loopback.
        if let Ok(l) = tokio::net::TcpListener::bind(SocketAddr::new(*extra, port)).await {
            listeners.push(l);
        }
    }
    for l in listeners {
        let app =
            http::router(gw.clone()).into_make_service_with_connect_info::<limits::ConnMeter>();
        let l = limits::MeteredListener(l);
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
    }
    // Config participants with tokens: HTTP credentials, capabilities, virtual connections.
    // Done before announcing the port so the first client already sees them.
    register_config_participants(&gw);
    if let Some(name) = gw.config().and_then(|c| c.space_name.clone()) {
        gw.console.info(&format!("Space: {name}"));
    }
    gw.console
        .always(&format!("Gateway listening on port {port}"));

    // 4. auto-start
    let children = Arc::new(autostart::Children::default());
    if opts.auto_start {
        autostart::start_all(&gw, &children);
    }

    signals.wait(|| reload(&gw, &opts)).await;
    gw.console.info("Shutting down gateway");
    children.stop_all();
    views::close_all(&gw);
    gw.logs.shutdown();
    gw.console.shutdown();
    // Let the close frames go out.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}

fn load_config(opts: &GatewayOptions) -> Result<GatewayConfig, String> {
    let mut c = GatewayConfig::load(&opts.space_config)?;
    if let Some(id) = &opts.space_id {
        c.space_id = Some(id.clone());
    }
    Ok(c)
}

/// Token-file tokens of config participants (created when missing, like `mew space up` does).
fn load_tokens<'a>(
    mew_dir: &std::path::Path,
    ids: impl Iterator<Item = &'a String>,
    console: &Console,
) -> indexmap::IndexMap<String, String> {
    let dir = mew_space::tokens::tokens_dir(mew_dir);
    let mut map = indexmap::IndexMap::new();
    for id in ids {
        match mew_space::tokens::load_or_create(&dir, id) {
            Ok(t) => {
                map.insert(id.clone(), t);
            }
            Err(e) => console.warn(&format!("Token for {id}: {e}")),
        }
    }
    map
}

fn register_config_participants(gw: &Arc<Gateway>) {
    let mut st = gw.lock();
    let cfg = gw.config();
    let ctx = gw.ctx(cfg.as_deref());
    let space_id = ctx.default_space();
    let mut out = Vec::new();
    for id in cfg.iter().flat_map(|c| c.participants.keys()) {
        route::register_config_participant(&ctx, &mut st, &mut out, &space_id, id);
    }
    effect::apply(gw, st, out);
}

/// SIGHUP: re-read space.yaml's participants and capabilities without dropping anyone (what
/// `mew space up` does when nothing else of the gateway changed). Port, bind, logging and the
/// space id stay as started. A file that does not load keeps the old configuration.
fn reload(gw: &Arc<Gateway>, opts: &GatewayOptions) {
    let new = match load_config(opts) {
        Ok(c) => c,
        Err(e) => {
            gw.console.error(&format!(
                "Reload failed, keeping the previous configuration: {e}"
            ));
            *gw.reload_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            return;
        }
    };
    let old = gw.config();
    // All of them: `up` may have written a new participant's file or a rotated one.
    let tokens = load_tokens(&gw.mew_dir, new.participants.keys(), &gw.console);
    let mut st = gw.lock();
    gw.set_config(new);
    let cfg = gw.config();
    let effects = route::reconfigure(&gw.ctx(cfg.as_deref()), old.as_deref(), &mut st, tokens);
    effect::apply(gw, st, effects);
    gw.reloads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    *gw.reload_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    gw.console.info("Reloaded the space configuration");
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, GatewayError> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(GatewayError::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(GatewayError::Signals)?,
            hup: signal(SignalKind::hangup()).map_err(GatewayError::Signals)?,
        })
    }

    /// Until SIGTERM or SIGINT; `on_hup` for every SIGHUP.
    async fn wait(mut self, on_hup: impl Fn()) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => on_hup(),
            }
        }
    }
}
