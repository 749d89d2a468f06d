//! What any one sender, and all of them together, can make the gateway hold in memory.
//!
//! The gateway runs in a container limited to 256 MiB. Every buffer that grows with what clients
//! send or fail to read has a bound here (or next to the buffer, referring here), chosen so the
//! worst case stays well under that limit:
//!
//! | what                                   | bound                                      | worst case |
//! |----------------------------------------|--------------------------------------------|-----------:|
//! | one inbound message                    | `protocol::MAX_MESSAGE` (16 MiB)           |            |
//! | sockets that have not joined           | `MAX_UNJOINED` (256) × `UNJOINED_INBOUND` (64 KiB) + read buffers | 20 MiB |
//! | joined sockets, partial small messages | `FREE_INBOUND` (64 KiB) each, as above     | 64 KiB/socket |
//! | joined sockets, messages > 64 KiB      | `BIG_SLOTS` (1) at a time, held through routing: raw 16 + parse ≤ 40 (`MAX_PARSE_BYTES`) + serialised copy 17 MiB | 73 MiB |
//! | outbound queues, all connections       | `TOTAL_OUTBOUND` (48 MiB) of message bytes, counted once however many queues share them | 48 MiB |
//! | one connection's outbound queue        | `state::OUTBOUND_BYTES` (24 MiB) / `OUTBOUND_QUEUE` (16 384) messages | (in the total) |
//! | JSONL log writer queue                 | `LOG_QUEUE_BYTES` (16 MiB, reserved before a record is built; routing waits up to 1 s for the disk), plus one record being built per routing thread (2 × 16) | 48 MiB |
//! | process baseline (runtime, code, state)| measured idle RSS                          | ~10 MiB |
//!
//! Sum: 20 + 73 + 48 + 48 + 10 = 199 MiB, plus 64 KiB per joined socket (joins need a token), so
//! 256 MiB leaves about 60 MiB of headroom for allocator slack. `mew bench limits` measures the
//! peak against the worst inputs found.
//!
//! Inbound bytes are counted below the WebSocket layer (`Metered`), because tungstenite reads a
//! whole message before handing it over: a socket that has not joined is stopped after
//! `UNJOINED_INBOUND` bytes (it is told why and closed), and a joined socket may buffer more than
//! `FREE_INBOUND` of one message only while holding one of the `BIG_SLOTS` (others wait: TCP
//! backpressure, nothing is dropped).
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Bytes a socket that has not joined may send before a message is handed over (a join is a
/// few hundred bytes).
pub const UNJOINED_INBOUND: usize = 64 << 10;
/// WebSocket connections that have not joined yet; more upgrades are refused with 503.
pub const MAX_UNJOINED: usize = 256;
/// Bytes of one message a joined socket may buffer without holding a big-message slot.
pub const FREE_INBOUND: usize = 64 << 10;
/// Messages larger than `FREE_INBOUND` being received at the same time.
pub const BIG_SLOTS: usize = 1;
/// Estimated memory parsing one message may take (`too_costly_to_parse`): a 16 MiB chat costs
/// about its size, while 16 MiB of `[1,1,…]` would cost ~1.3 GiB.
pub const MAX_PARSE_BYTES: usize = 40 << 20;
/// Message bytes queued for sending, all connections together.
pub const TOTAL_OUTBOUND: usize = 48 << 20;
/// Log records waiting for the writer thread, in bytes.
pub const LOG_QUEUE_BYTES: usize = 16 << 20;

/// Make the allocator give big buffers (messages, their copies) back to the system when freed.
/// glibc otherwise raises its mmap threshold after the first big free and serves later big
/// messages from its arenas, which keep the memory: the peak then grows with every thread that
/// ever handled a big message. (musl, the static build's allocator, maps big blocks already.)
pub fn release_big_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called before the gateway's threads
    // allocate anything big.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

static UNJOINED: AtomicUsize = AtomicUsize::new(0);

fn big_slots() -> &'static Arc<Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(BIG_SLOTS)))
}

const HTTP: u8 = 0;
const UNJOINED_WS: u8 = 1;
const JOINED_WS: u8 = 2;

/// Inbound accounting of one TCP connection, shared by its reader (`Metered`) and its
/// WebSocket task.
#[derive(Default)]
pub struct Meter {
    mode: AtomicU8,
    /// Bytes read since the last message was handed to routing.
    unprocessed: AtomicUsize,
    tripped: AtomicBool,
    /// Signalled when an un-joined socket hit `UNJOINED_INBOUND`.
    pub trip: Notify,
    slot: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Meter {
    /// The connection becomes an un-joined WebSocket; false when too many are waiting already.
    pub fn begin_websocket(&self) -> bool {
        let admitted = UNJOINED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UNJOINED).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            // What the HTTP request itself took does not count.
            self.unprocessed.store(0, Ordering::Release);
            self.mode.store(UNJOINED_WS, Ordering::Release);
        }
        admitted
    }

    /// The socket joined: it now reads up to a whole message (through a slot when big).
    pub fn joined(&self) {
        if self.mode.swap(JOINED_WS, Ordering::AcqRel) == UNJOINED_WS {
            UNJOINED.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A message was handed to routing: what is buffered for it is gone.
    pub fn processed(&self) {
        self.unprocessed.store(0, Ordering::Release);
        if let Ok(mut slot) = self.slot.lock() {
            slot.take();
        }
    }

    pub fn is_tripped(&self) -> bool {
        self.tripped.load(Ordering::Acquire)
    }

    fn has_slot(&self) -> bool {
        self.slot.lock().map(|s| s.is_some()).unwrap_or(false)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if *self.mode.get_mut() == UNJOINED_WS {
            UNJOINED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

type Acquire = Pin<
    Box<
        dyn std::future::Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>>
            + Send,
    >,
>;

/// A TCP stream whose reads are counted and, for WebSocket connections, bounded (see the
/// module comment).
pub struct Metered {
    io: TcpStream,
    meter: Arc<Meter>,
    acquiring: Option<Acquire>,
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let used = this.meter.unprocessed.load(Ordering::Acquire);
        let mode = this.meter.mode.load(Ordering::Acquire);
        let allowed = match mode {
            HTTP => usize::MAX,
            UNJOINED_WS => {
                let left = UNJOINED_INBOUND.saturating_sub(used);
                if left == 0 {
                    // Stop reading; the socket's task is told and closes it with 1009.
                    if !this.meter.tripped.swap(true, Ordering::AcqRel) {
                        this.meter.trip.notify_one();
                    }
                    return Poll::Pending;
                }
                left
            }
            _ => {
                if used >= FREE_INBOUND && !this.meter.has_slot() {
                    let fut = this
                        .acquiring
                        .get_or_insert_with(|| Box::pin(big_slots().clone().acquire_owned()));
                    match fut.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(permit) => {
                            this.acquiring = None;
                            if let (Ok(p), Ok(mut slot)) = (permit, this.meter.slot.lock()) {
                                *slot = Some(p);
                            }
                        }
                    }
                }
                usize::MAX
            }
        };
        let before = buf.filled().len();
        let poll = if allowed < buf.remaining() {
            let mut limited = buf.take(allowed);
            let poll = Pin::new(&mut this.io).poll_read(cx, &mut limited);
            let n = limited.filled().len();
            // SAFETY: `limited` is `buf`'s unfilled part; its first `n` bytes were just filled.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            poll
        } else {
            Pin::new(&mut this.io).poll_read(cx, buf)
        };
        let n = buf.filled().len() - before;
        if n > 0 && mode != HTTP {
            this.meter.unprocessed.fetch_add(n, Ordering::AcqRel);
        }
        poll
    }
}

impl AsyncWrite for Metered {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The gateway's listener: every accepted stream is `Metered`.
pub struct MeteredListener(pub TcpListener);

impl axum::serve::Listener for MeteredListener {
    type Io = Metered;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Metered, std::net::SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    let meter = Arc::new(Meter::default());
                    let io = Metered {
                        io,
                        meter,
                        acquiring: None,
                    };
                    return (io, addr);
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

/// The connection's meter, as a request extension (`ConnectInfo<ConnMeter>`).
#[derive(Clone)]
pub struct ConnMeter(pub Arc<Meter>);

impl Connected<IncomingStream<'_, MeteredListener>> for ConnMeter {
    fn connect_info(stream: IncomingStream<'_, MeteredListener>) -> Self {
        ConnMeter(stream.io().meter.clone())
    }
}

/// Whether parsing a JSON text would cost more than `MAX_PARSE_BYTES`, estimated from its
/// structure outside strings (cheap next to parsing it). A parsed value takes far more memory
/// than its text: with `preserve_order` and `arbitrary_precision` a value is ~80 bytes and every
/// number and key its own allocation, and an object an index table and entry vector besides.
pub fn too_costly_to_parse(text: &str) -> bool {
    // Per-value costs measured against serde_json's `Value` (with slack for vector growth).
    const VALUE: usize = 160;
    const OBJECT: usize = 640;
    const ARRAY: usize = 64;
    if text.len() * (OBJECT + 1) <= MAX_PARSE_BYTES {
        return false; // even all braces could not reach the bound
    }
    let (mut cost, mut in_str, mut esc) = (text.len(), false, false);
    for &b in text.as_bytes() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        cost += match b {
            b'"' => {
                in_str = true;
                0
            }
            b',' | b':' => VALUE,
            b'{' => OBJECT,
            b'[' => ARRAY,
            _ => 0,
        };
        if cost > MAX_PARSE_BYTES {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cost_counts_structure_outside_strings() {
        let numbers = format!("[{}1]", "1,".repeat(MAX_PARSE_BYTES / 160));
        assert!(too_costly_to_parse(&numbers));
        let objects = format!("[{}{{}}]", "{\"k\":1},".repeat(MAX_PARSE_BYTES / 900));
        assert!(too_costly_to_parse(&objects));
        let fewer = format!("[{}1]", "1,".repeat(MAX_PARSE_BYTES / 400));
        assert!(!too_costly_to_parse(&fewer));
        let chat = format!(
            "{{\"a\":\"{}\"}}",
            ",".repeat(mew_protocol::MAX_MESSAGE - 16)
        );
        assert!(!too_costly_to_parse(&chat));
        let escaped = format!("[\"\\\"{}\"]", ",".repeat(mew_protocol::MAX_MESSAGE));
        assert!(!too_costly_to_parse(&escaped));
    }
}
