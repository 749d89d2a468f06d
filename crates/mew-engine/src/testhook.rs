//! A test hook shared by the executor and the network code (a module of its own, so that
//! neither imports the other).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Test hook: with `MEW_TEST_KILL_AFTER=<n>`, mew kills itself with SIGKILL at its n-th kill point
/// (after each engine step of `apply`, and right after a network create returns), so that tests
/// can stop it exactly there. Without the variable it does nothing.
pub fn kill_point(what: &str) {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| {
        std::env::var("MEW_TEST_KILL_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return;
    };
    if COUNT.fetch_add(1, Ordering::SeqCst) + 1 == limit {
        eprintln!("MEW_TEST_KILL_AFTER={limit}: killed after {what}");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
