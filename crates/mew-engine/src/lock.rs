//! Host-wide advisory locks (`flock`) shared by every mew on this machine: one per space id, so
//! that `up`, `down` and `restart` of one space never interleave, and one per shared runtime
//! volume. A lock is released when its guard is dropped, and by the kernel when mew dies (even
//! with SIGKILL), so a killed mew never leaves a stale lock behind.
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A held lock; dropping it unlocks.
#[derive(Debug)]
pub struct HostLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl HostLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `$MEW_LOCK_DIR`, else `<tmp>/mew-locks` (the same for every user, so two users that share one
/// engine also share its locks).
pub fn lock_dir() -> PathBuf {
    match std::env::var_os("MEW_LOCK_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("mew-locks"),
    }
}

/// The lock file of space `id`.
pub fn space_lock_path(id: &str) -> PathBuf {
    lock_dir().join(format!("space-{}.lock", file_safe(id)))
}

/// Space ids are container-name safe already; anything else is replaced so that a name can never
/// leave the lock directory.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir)?;
            // Sticky and world-writable like /tmp: other users' mews lock here too.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    match opts.open(path) {
        Ok(f) => Ok(f),
        // Another user's lock file: flock works on a read-only descriptor as well.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        Err(e) => Err(e),
    }
}

/// Take the lock at `path` without waiting: `None` when someone else holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<HostLock>> {
    let file = open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(HostLock {
            _lock: lock,
            path: path.to_path_buf(),
        })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

/// Take the lock at `path`, waiting as long as it takes; `on_wait` runs once, before waiting,
/// only when someone else holds it.
pub async fn lock(path: &Path, on_wait: impl FnOnce()) -> io::Result<HostLock> {
    if let Some(held) = try_lock(path)? {
        return Ok(held);
    }
    on_wait();
    let file = open(path)?;
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Flock::lock(file, FlockArg::LockExclusive)
            .map(|lock| HostLock {
                _lock: lock,
                path: owned,
            })
            .map_err(|(_, errno)| io::Error::from(errno))
    })
    .await
    .map_err(|e| io::Error::other(e.to_string()))?
}

/// The lock of space `id`, printing (through `on_wait`) that we wait when another mew holds it.
pub async fn lock_space(id: &str, on_wait: impl FnOnce()) -> io::Result<HostLock> {
    lock(&space_lock_path(id), on_wait).await
}

/// A lock named `name` in the lock directory (e.g. the runtime volume's).
pub async fn lock_named(name: &str) -> io::Result<HostLock> {
    lock(&lock_dir().join(format!("{}.lock", file_safe(name))), || {}).await
}

/// `lock_named` for engine objects (the runtime image, the runtime volume), as an engine error.
pub async fn host_lock(name: &str) -> Result<HostLock, crate::EngineError> {
    lock_named(name)
        .await
        .map_err(|source| crate::EngineError::Io {
            what: format!("cannot take the lock for {name}"),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_the_lock_dir() {
        assert_eq!(file_safe("demo-1_a.b"), "demo-1_a.b");
        assert_eq!(file_safe("../x/y"), "_x_y");
    }

    #[tokio::test]
    async fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/a.lock");
        let first = lock(&path, || panic!("nobody holds it yet"))
            .await
            .expect("lock");
        assert!(try_lock(&path).expect("try").is_none(), "held");
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let p = path.clone();
        let second = tokio::spawn(async move {
            lock(&p, move || {
                w.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second waits");
        drop(first);
        let got = second.await.expect("join").expect("lock");
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        drop(got);
        assert!(try_lock(&path).expect("try").is_some(), "released");
    }
}
