//! Which space a command is about: `--space-id` / `MEW_SPACE_ID`, else space.yaml, else the
//! containers labelled with this directory (so every command works without space.yaml).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Make `dir` absolute without touching the file system beyond `current_dir` (the directory may
/// have been deleted; `clean --all` exists for that case).
pub(crate) fn absolute_dir(dir: Option<&Path>) -> std::io::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    let joined = match dir {
        Some(d) if d.is_absolute() => d.to_path_buf(),
        Some(d) => cwd.join(d),
        None => cwd,
    };
    // Prefer the canonical form (symlinks resolved) when the directory exists, as `up` labels it.
    Ok(std::fs::canonicalize(&joined).unwrap_or_else(|_| lexical_normalize(&joined)))
}

/// The space directory of a command: `--space-dir` when given, else the nearest directory at or
/// above the current one holding a space.yaml, else the current directory.
pub(crate) fn space_dir(dir: Option<&Path>) -> std::io::Result<PathBuf> {
    match dir {
        Some(d) => absolute_dir(Some(d)),
        None => absolute_dir(Some(&mew_space::config::discover::space_dir_from(
            &std::env::current_dir()?,
        ))),
    }
}

/// Remove `.` and `..` components without resolving symlinks.
fn lexical_normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Outcome of looking a directory's space up by its `io.mew.space.dir` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ByDir {
    None,
    One(String),
    /// Several spaces were started from the same directory (different `--space-id`s).
    Several(Vec<String>),
}

/// Decide from the space ids found on objects labelled with the directory.
pub(crate) fn pick_by_dir(ids: BTreeSet<String>) -> ByDir {
    let mut ids: Vec<String> = ids.into_iter().collect();
    match ids.len() {
        0 => ByDir::None,
        1 => ByDir::One(ids.remove(0)),
        _ => ByDir::Several(ids),
    }
}

/// Connect to the engine (`--host`, else `DOCKER_HOST`, else the Docker socket, else Podman's).
pub(crate) async fn connect(host: Option<&str>) -> anyhow::Result<bollard::Docker> {
    Ok(mew_engine::connect(host).await?.docker)
}

/// What space.yaml says about the space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FromConfig {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
}

/// The space.yaml's id, name and directory, when there is a readable one. A broken file does not
/// stop read-only commands: they warn and fall back to the directory label.
pub(crate) fn from_config(dir: &Path, space_config: Option<&Path>) -> Option<FromConfig> {
    let file = mew_space::config::discover(Some(dir), space_config).ok()?;
    let opts = mew_space::config::LoadOptions {
        space_dir: None,
        space_id: None,
    };
    match mew_space::config::load(&file, &opts) {
        Ok(space) => Some(FromConfig {
            id: space.id,
            name: space.name,
            dir: space.dir,
        }),
        Err(e) => {
            eprintln!(
                "warning: ignoring {} ({}); finding the space by its directory instead",
                file.display(),
                mew_space::error_line(&e)
            );
            None
        }
    }
}

/// A space found for a command: its id, and its name when space.yaml gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// Find the space: the explicit id, else space.yaml's, else the containers labelled with `dir`.
/// `Ok(None)`: nothing identifies a space here (so nothing runs).
pub(crate) async fn resolve(
    docker: &bollard::Docker,
    dir: &Path,
    explicit_id: Option<&str>,
    space_config: Option<&Path>,
) -> anyhow::Result<Option<Found>> {
    let config = from_config(dir, space_config);
    if let Some(id) = explicit_id.filter(|s| !s.is_empty()) {
        // The file's name still describes this space when it is the same one.
        let name = config.filter(|c| c.id == id).map(|c| c.name);
        return Ok(Some(Found {
            id: id.to_string(),
            name,
        }));
    }
    if let Some(c) = config {
        return Ok(Some(Found {
            id: c.id,
            name: Some(c.name),
        }));
    }
    let ids = mew_engine::observe::spaces_in_dir(docker, dir).await?;
    match pick_by_dir(ids.into_iter().collect()) {
        ByDir::None => Ok(None),
        ByDir::One(id) => Ok(Some(Found { id, name: None })),
        ByDir::Several(ids) => Err(crate::error::InvalidInput::new(format!(
            "several spaces run from {}: {}; choose one with --space-id",
            dir.display(),
            ids.join(", ")
        ))
        .into()),
    }
}

/// The message for a directory without a running space (upstream wording).
pub(crate) fn not_running(dir: &Path) -> String {
    format!("No running space found in {}.", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_by_dir_cases() {
        assert_eq!(pick_by_dir(BTreeSet::new()), ByDir::None);
        let one: BTreeSet<String> = ["a".to_string()].into();
        assert_eq!(pick_by_dir(one), ByDir::One("a".into()));
        let two: BTreeSet<String> = ["b".to_string(), "a".to_string()].into();
        assert_eq!(
            pick_by_dir(two),
            ByDir::Several(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn absolute_dir_of_missing_path_is_normalized() {
        let p = absolute_dir(Some(Path::new("/nonexistent-mew/x/../y/."))).unwrap();
        assert_eq!(p, PathBuf::from("/nonexistent-mew/y"));
    }
}
