//! Host paths in space.yaml that a container would not see: a participant's `command`/`args`
//! (and a bridge's `mcp_server`) naming files outside the space directory that no `volumes:`
//! entry mounts, and bind sources that do not exist. Upstream ran agents on the host, where such
//! paths work; in a container they end in a stack trace, so `up` refuses them first.
//!
//! Which words are paths: a word that does not start with `-`, has no `://` and no `${`, and
//! starts with `.` or contains `/`. A relative one is taken from the space directory (the
//! container's working directory); an absolute one counts only when it exists on the host and is
//! not under a system directory (`SYSTEM_DIRS`), which the image has of its own.
use super::model::{Participant, Space, VolumeSource};
use super::parse::Pos;
use super::ConfigError;
use std::path::{Component, Path, PathBuf};

/// Absolute paths under these are the image's, not the host's: never checked.
pub const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/run", "/sbin", "/sys", "/usr",
];

/// `path` with `.` and `..` taken out, without looking at the file system (`..` above `/`
/// stays at `/`). A relative path stays relative.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let up = out.components().next_back() == Some(Component::ParentDir);
                if up || (!out.pop() && !out.has_root()) {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether a word of a command line is taken for a path (see the module's documentation).
pub fn is_path_word(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('-')
        && !word.contains("://")
        && !word.contains("${")
        && (word.starts_with('.') || word.contains('/'))
}

fn under_system_dir(path: &Path) -> bool {
    path == Path::new("/") || SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
}

/// Check every participant with a container: bind sources exist, and no path in its command
/// line leaves the space directory unmounted. `exists` asks the host (a parameter, so that the
/// rule is testable without files). The first problem is the error, `file:line:column` first.
pub fn check_host_paths(space: &Space, exists: &dyn Fn(&Path) -> bool) -> Result<(), ConfigError> {
    for p in space.participants.iter().filter(|p| p.kind.has_container()) {
        for v in &p.volumes {
            if let VolumeSource::Bind { path, .. } = &v.source {
                if !exists(path) {
                    return Err(at(
                        space,
                        v.pos,
                        format!(
                            "participant `{}`: the bind source {} of `{}` does not exist (mew does not create it)",
                            p.id,
                            path.display(),
                            v.short()
                        ),
                    ));
                }
            }
        }
        for (word, pos, key) in words(p) {
            if let Some(message) = unmounted(space, p, word, exists) {
                let pos = pos.unwrap_or(p.pos);
                return Err(at(
                    space,
                    pos,
                    format!("participant `{}`: {message} (in `{key}`)", p.id),
                ));
            }
        }
    }
    Ok(())
}

fn at(space: &Space, pos: Pos, message: String) -> ConfigError {
    ConfigError::At {
        file: space.file.clone(),
        line: pos.line,
        column: pos.column,
        message,
    }
}

/// The words of a participant's command line, with their place in the file where known.
fn words(p: &Participant) -> Vec<(&str, Option<Pos>, &'static str)> {
    let mut out = Vec::new();
    if let Some(c) = &p.command {
        out.push((c.as_str(), p.command_pos, "command"));
    }
    for (i, a) in p.args.iter().enumerate() {
        out.push((a.as_str(), p.args_pos.get(i).copied(), "args"));
    }
    if let Some(m) = &p.mcp_server {
        out.push((m.command.as_str(), None, "mcp_server.command"));
        out.extend(m.args.iter().map(|a| (a.as_str(), None, "mcp_server.args")));
    }
    out
}

/// Why `word` would not be found in the container, if it would not.
fn unmounted(
    space: &Space,
    p: &Participant,
    word: &str,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<String> {
    if !is_path_word(word) {
        return None;
    }
    let written = Path::new(word);
    let path = if written.is_absolute() {
        let path = normalize(written);
        if under_system_dir(&path) || !exists(&path) {
            return None;
        }
        path
    } else {
        normalize(&space.dir.join(written))
    };
    // The space directory is mounted at its own path; volumes at their targets.
    if path.starts_with(&space.dir) || p.volumes.iter().any(|v| path.starts_with(&v.target)) {
        return None;
    }
    // Mount the directory holding it (or it, when it is one) at the same path.
    let dir = if exists(&path) && !looks_like_file(&path, word) {
        path.clone()
    } else {
        path.parent().map_or(path.clone(), Path::to_path_buf)
    };
    let source = if written.is_absolute() {
        dir.display().to_string()
    } else {
        relative_to(&dir, &space.dir)
    };
    Some(format!(
        "`{word}` is {}, outside the space directory, and no volume mounts it in the container; add `volumes: [\"{source}:{}\"]` to the participant",
        path.display(),
        dir.display()
    ))
}

/// A word naming a file (it has an extension and does not end in `/`): its directory is mounted.
fn looks_like_file(path: &Path, word: &str) -> bool {
    !word.ends_with('/') && path.extension().is_some()
}

/// `path` written relative to `base` (both absolute and normalized), e.g. `../agents`.
fn relative_to(path: &Path, base: &Path) -> String {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    let s = out.display().to_string();
    if s.is_empty() {
        ".".into()
    } else if s.starts_with("..") {
        s
    } else {
        format!("./{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_and_relative_paths() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(
            normalize(Path::new("../a/../../b")),
            PathBuf::from("../../b")
        );
        assert_eq!(
            relative_to(Path::new("/s/agents"), Path::new("/s/space")),
            "../agents"
        );
        assert_eq!(
            relative_to(Path::new("/s/space/x"), Path::new("/s/space")),
            "./x"
        );
        assert_eq!(
            relative_to(Path::new("/o"), Path::new("/s/space")),
            "../../o"
        );
    }

    #[test]
    fn which_words_are_paths() {
        for w in [
            "./a.js",
            "../agents/a.js",
            "/home/u/sdk",
            "lib/x.js",
            ".env",
            "a/b",
        ] {
            assert!(is_path_word(w), "{w}");
        }
        for w in [
            "node",
            "--gateway",
            "-c/x",
            "ws://localhost:8080/x",
            "${SPACE}/x",
            "",
            "agent",
        ] {
            assert!(!is_path_word(w), "{w}");
        }
        assert!(under_system_dir(Path::new("/usr/bin/node")));
        assert!(under_system_dir(Path::new("/")));
        assert!(!under_system_dir(Path::new("/usrx/a")));
        assert!(!under_system_dir(Path::new("/tmp/a")));
        assert!(!under_system_dir(Path::new("/home/u")));
    }
}
