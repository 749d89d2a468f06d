//! Participant token files (spec/gateway.md §7.3, spec/cli.md §2.6), shared by the gateway and
//! the runner: `<mewDir>/tokens/<id>.token`, overridable with `MEW_TOKEN_<ID>`.
use base64::Engine;
use rand::RngCore;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("participant id {0:?} cannot name a token file (it contains '/', '\\' or '..')")]
    InvalidId(String),
    #[error("cannot read token file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write token file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TokenError {
    /// Whether the user's input is at fault (exit code 2): a participant id no file can have.
    pub fn is_usage(&self) -> bool {
        matches!(self, TokenError::InvalidId(_))
    }
}

/// Where a token came from (the runner prints "Loaded"/"Generated").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    File,
    Generated,
}

/// `configDir/.mew` if that directory exists, else `configDir` (spec/gateway.md §7.2).
pub fn mew_dir_for(config_path: &Path) -> PathBuf {
    let config_dir = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dotmew = config_dir.join(".mew");
    if dotmew.is_dir() {
        dotmew
    } else {
        config_dir
    }
}

/// Create `<config dir>/.mew` beside a root-level space.yaml, as the upstream CLI does at `up`,
/// so that tokens and the gateway's JSONL logs live there rather than among the space's files;
/// returns the mew dir (`mew_dir_for` agrees with it from then on).
pub fn ensure_mew_dir(config_path: &Path) -> std::io::Result<PathBuf> {
    let dir = mew_dir_after_up(config_path);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The mew dir `ensure_mew_dir` makes, without touching the disk (for the pure planner).
pub fn mew_dir_after_up(config_path: &Path) -> PathBuf {
    let config_dir = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if config_dir.file_name().is_some_and(|n| n == ".mew") {
        config_dir
    } else {
        config_dir.join(".mew")
    }
}

/// `<mewDir>/empty`: an empty directory bound read-only over the tokens directory in
/// participants' containers, so that they cannot see the other participants' tokens.
pub fn empty_dir(mew_dir: &Path) -> PathBuf {
    mew_dir.join("empty")
}

/// Make the directories participants' mounts need on the host: `tokens/` (0700; the bind target
/// must exist, since `.mew` is read-only in the container) and `empty/` (0555, kept empty).
pub fn ensure_mount_dirs(mew_dir: &Path) -> Result<(), TokenError> {
    ensure_tokens_dir(&tokens_dir(mew_dir))?;
    let empty = empty_dir(mew_dir);
    let werr = |source| TokenError::Write {
        path: empty.clone(),
        source,
    };
    if !empty.is_dir() {
        fs::create_dir_all(&empty).map_err(werr)?;
    }
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o555)).map_err(werr)
}

/// A file holding exactly `token` for `id`, for a read-only bind into the participant's
/// container: its token file when that holds the token, else (an `MEW_TOKEN_<ID>` override,
/// which is never written to the token file) `<tokens_dir>/env/<id>.token`, rewritten each time.
pub fn token_file_for(tokens_dir: &Path, id: &str, token: &str) -> Result<PathBuf, TokenError> {
    if !is_safe_id(id) {
        return Err(TokenError::InvalidId(id.to_string()));
    }
    let path = tokens_dir.join(format!("{id}.token"));
    if fs::read_to_string(&path).is_ok_and(|s| s.trim() == token) {
        return Ok(path);
    }
    let env_dir = tokens_dir.join("env");
    ensure_tokens_dir(&env_dir)?;
    let path = env_dir.join(format!("{id}.token"));
    write_private(&path, token.as_bytes()).map_err(|source| TokenError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The tokens directory inside a mew dir.
pub fn tokens_dir(mew_dir: &Path) -> PathBuf {
    mew_dir.join("tokens")
}

/// `MEW_TOKEN_<ID upper-cased, '-' as '_'>`.
pub fn env_var_name(id: &str) -> String {
    format!("MEW_TOKEN_{}", id.to_uppercase().replace('-', "_"))
}

/// Ids that would escape the tokens directory are refused.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && !id.contains('\\') && !id.contains("..")
}

/// 32 CSPRNG bytes as unpadded base64url (43 characters).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Token for `id`: the environment override (nothing written), else the trimmed file, else a
/// freshly generated one written to the file.
pub fn load_or_create(tokens_dir: &Path, id: &str) -> Result<String, TokenError> {
    load_or_create_with_source(tokens_dir, id).map(|(t, _)| t)
}

/// Same as [`load_or_create`], also telling where the token came from.
pub fn load_or_create_with_source(
    tokens_dir: &Path,
    id: &str,
) -> Result<(String, TokenSource), TokenError> {
    if !is_safe_id(id) {
        return Err(TokenError::InvalidId(id.to_string()));
    }
    if let Ok(v) = std::env::var(env_var_name(id)) {
        if !v.is_empty() {
            return Ok((v, TokenSource::Env));
        }
    }
    let path = tokens_dir.join(format!("{id}.token"));
    match fs::read_to_string(&path) {
        Ok(s) => {
            let t = s.trim();
            if !t.is_empty() {
                return Ok((t.to_string(), TokenSource::File));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(TokenError::Read { path, source }),
    }
    let token = generate_token();
    write_token(tokens_dir, id, &token)?;
    Ok((token, TokenSource::Generated))
}

/// The token `load_or_create` would return, if it exists already (nothing is written).
pub fn load_existing(tokens_dir: &Path, id: &str) -> Result<Option<String>, TokenError> {
    if !is_safe_id(id) {
        return Err(TokenError::InvalidId(id.to_string()));
    }
    if let Ok(v) = std::env::var(env_var_name(id)) {
        if !v.is_empty() {
            return Ok(Some(v));
        }
    }
    let path = tokens_dir.join(format!("{id}.token"));
    match fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenError::Read { path, source }),
    }
}

/// Where compose and Swarm mount a participant's token (exports name their secret `mew-token`).
pub const SECRET_FILE: &str = "/run/secrets/mew-token";

/// What `${TOKEN}` in a participant's args and env becomes under `mew space up`: `mew supervise`, which
/// starts every participant's program, puts the token from [`SECRET_FILE`] in its place, so the
/// token reaches the program but is not in the container's configuration.
pub const TOKEN_PLACEHOLDER: &str = "\u{1}mew-token\u{1}";

/// The token a role (agent, client, bridge) joins with: `--token`/`MEW_TOKEN` when given, else
/// the file `MEW_TOKEN_FILE` names, else [`SECRET_FILE`] when it exists. Containers get their
/// token as a file so that it never shows in `docker inspect` or the compose file.
pub fn given_or_secret_file(given: Option<String>) -> Result<Option<String>, TokenError> {
    given_or_file(
        given,
        std::env::var_os("MEW_TOKEN_FILE"),
        Path::new(SECRET_FILE),
    )
}

fn given_or_file(
    given: Option<String>,
    named: Option<std::ffi::OsString>,
    default_file: &Path,
) -> Result<Option<String>, TokenError> {
    if let Some(t) = given.filter(|t| !t.is_empty()) {
        return Ok(Some(t));
    }
    let (path, required) = match named.filter(|n| !n.is_empty()) {
        Some(n) => (PathBuf::from(n), true),
        None => (default_file.to_path_buf(), false),
    };
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|t| !t.is_empty())),
        // Only a file someone named must exist; the secret is there only in containers.
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenError::Read { path, source }),
    }
}

/// Write `<tokens_dir>/<id>.token` (0600, no newline), creating the directory (0700) and its
/// `.gitignore` when needed.
pub fn write_token(tokens_dir: &Path, id: &str, token: &str) -> Result<(), TokenError> {
    if !is_safe_id(id) {
        return Err(TokenError::InvalidId(id.to_string()));
    }
    ensure_tokens_dir(tokens_dir)?;
    let path = tokens_dir.join(format!("{id}.token"));
    write_private(&path, token.as_bytes()).map_err(|source| TokenError::Write { path, source })
}

fn ensure_tokens_dir(dir: &Path) -> Result<(), TokenError> {
    let werr = |source| TokenError::Write {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(werr)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(werr)?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        write_private(&gitignore, b"*\n!.gitignore\n").map_err(|source| TokenError::Write {
            path: gitignore.clone(),
            source,
        })?;
    }
    Ok(())
}

fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content)?;
    // The mode above only applies to new files; tighten an existing one too.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Tokens for every id, in order (ids as given).
pub fn resolve_all(mew_dir: &Path, ids: &[String]) -> Result<Vec<(String, String)>, TokenError> {
    let dir = tokens_dir(mew_dir);
    ids.iter()
        .map(|id| load_or_create(&dir, id).map(|t| (id.clone(), t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_falls_back_to_the_named_file_then_the_secret() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("mew-token");
        let named = tmp.path().join("named.token");
        let missing = tmp.path().join("missing");
        let given = |g: Option<&str>, n: Option<&Path>, d: &Path| {
            given_or_file(g.map(String::from), n.map(|p| p.as_os_str().to_owned()), d)
        };
        assert_eq!(given(None, None, &secret).unwrap(), None, "no secret: none");
        fs::write(&secret, "from-secret\n").unwrap();
        fs::write(&named, " from-named ").unwrap();
        assert_eq!(
            given(Some("flag"), Some(&named), &secret)
                .unwrap()
                .as_deref(),
            Some("flag")
        );
        assert_eq!(
            given(Some(""), None, &secret).unwrap().as_deref(),
            Some("from-secret")
        );
        assert_eq!(
            given(None, Some(&named), &secret).unwrap().as_deref(),
            Some("from-named")
        );
        assert!(
            given(None, Some(&missing), &secret).is_err(),
            "a named file that is missing is an error"
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(env_var_name("echo-agent"), "MEW_TOKEN_ECHO_AGENT");
        assert_eq!(env_var_name("a"), "MEW_TOKEN_A");
    }

    #[test]
    fn mew_dir_prefers_dot_mew() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("space.yaml");
        assert_eq!(mew_dir_for(&cfg), tmp.path());
        fs::create_dir(tmp.path().join(".mew")).unwrap();
        assert_eq!(mew_dir_for(&cfg), tmp.path().join(".mew"));
        let inner = tmp.path().join(".mew/space.yaml");
        assert_eq!(mew_dir_for(&inner), tmp.path().join(".mew"));
    }

    #[test]
    fn generates_with_modes_and_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tokens");
        let (t, src) = load_or_create_with_source(&dir, "tok-unit-gen").unwrap();
        assert_eq!(src, TokenSource::Generated);
        assert_eq!(t.len(), 43);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let file = dir.join("tok-unit-gen.token");
        assert_eq!(fs::read_to_string(&file).unwrap(), t);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(
            fs::read_to_string(dir.join(".gitignore")).unwrap(),
            "*\n!.gitignore\n"
        );
        assert_eq!(mode(&dir.join(".gitignore")), 0o600);
        let (again, src) = load_or_create_with_source(&dir, "tok-unit-gen").unwrap();
        assert_eq!(again, t);
        assert_eq!(src, TokenSource::File);
    }

    #[test]
    fn trims_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("tok-unit-trim.token"), "  abc\n").unwrap();
        assert_eq!(load_or_create(tmp.path(), "tok-unit-trim").unwrap(), "abc");
    }

    #[test]
    fn env_override_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tokens");
        // A unique id so no other test reads this variable.
        std::env::set_var(env_var_name("tok-unit-env"), "from-env");
        let (t, src) = load_or_create_with_source(&dir, "tok-unit-env").unwrap();
        std::env::remove_var(env_var_name("tok-unit-env"));
        assert_eq!((t.as_str(), src), ("from-env", TokenSource::Env));
        assert!(!dir.exists());
    }

    #[test]
    fn mount_dirs_and_the_file_holding_a_token() {
        let tmp = tempfile::tempdir().unwrap();
        let mew = tmp.path().join(".mew");
        ensure_mount_dirs(&mew).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&empty_dir(&mew)), 0o555);
        assert_eq!(mode(&tokens_dir(&mew)), 0o700);
        assert_eq!(fs::read_dir(empty_dir(&mew)).unwrap().count(), 0);
        // Again: nothing to do, no error.
        ensure_mount_dirs(&mew).unwrap();
        let dir = tokens_dir(&mew);
        write_token(&dir, "a", "tok-a").unwrap();
        assert_eq!(
            token_file_for(&dir, "a", "tok-a").unwrap(),
            dir.join("a.token")
        );
        // An override the token file does not hold gets a file of its own, and the token file
        // is left alone.
        let env_file = token_file_for(&dir, "a", "from-env").unwrap();
        assert_eq!(env_file, dir.join("env/a.token"));
        assert_eq!(fs::read_to_string(&env_file).unwrap(), "from-env");
        assert_eq!(mode(&env_file), 0o600);
        assert_eq!(fs::read_to_string(dir.join("a.token")).unwrap(), "tok-a");
        assert!(token_file_for(&dir, "../x", "t").is_err());
    }

    #[test]
    fn refuses_escaping_ids() {
        let tmp = tempfile::tempdir().unwrap();
        for id in ["../x", "a/b", "a\\b", "..", ""] {
            assert!(matches!(
                load_or_create(tmp.path(), id),
                Err(TokenError::InvalidId(_))
            ));
        }
    }

    #[test]
    fn resolve_all_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let ids = vec!["tok-unit-r1".to_string(), "tok-unit-r2".to_string()];
        let all = resolve_all(tmp.path(), &ids).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "tok-unit-r1");
        assert!(tmp.path().join("tokens/tok-unit-r2.token").exists());
    }
}
