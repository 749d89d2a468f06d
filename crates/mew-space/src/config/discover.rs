//! Where a space's configuration lives.
use super::ConfigError;
use std::path::{Path, PathBuf};

/// Environment variable naming the config file when `--space-config` is not given.
pub const ENV_SPACE_CONFIG: &str = "MEW_SPACE_CONFIG";
/// Environment variable overriding `space.id` when `--space-id` is not given.
pub const ENV_SPACE_ID: &str = "MEW_SPACE_ID";

/// Find, read and validate a space's configuration from the usual flags (`--space-dir`,
/// `--space-config`, `--space-id`), falling back to `MEW_SPACE_CONFIG` / `MEW_SPACE_ID`.
pub fn find_and_load(
    space_dir: Option<&Path>,
    space_config: Option<&Path>,
    space_id: Option<&str>,
) -> Result<super::Space, ConfigError> {
    let file = discover(space_dir, space_config)?;
    let space_id = space_id
        .map(str::to_string)
        .or_else(|| std::env::var(ENV_SPACE_ID).ok().filter(|v| !v.is_empty()));
    let opts = super::LoadOptions {
        space_dir: space_dir.map(Path::to_path_buf),
        space_id,
    };
    super::load(&file, &opts)
}

/// Find the space.yaml: `--space-config`, else `MEW_SPACE_CONFIG`, else `<dir>/.mew/space.yaml`,
/// else `<dir>/space.yaml`, with `<dir>` = `--space-dir`, else the nearest of the current
/// directory and its parents that has one (as compose finds its file).
pub fn discover(
    space_dir: Option<&Path>,
    space_config: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    let from_env = std::env::var_os(ENV_SPACE_CONFIG)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let cwd = std::env::current_dir().map_err(|e| {
        ConfigError::Invalid(format!("cannot determine the current directory: {e}"))
    })?;
    discover_in(&cwd, space_dir, space_config.or(from_env.as_deref()))
}

/// `discover` with the current directory and the explicit file given (no environment access).
/// Relative paths are taken relative to `cwd`.
pub fn discover_in(
    cwd: &Path,
    space_dir: Option<&Path>,
    explicit: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    if let Some(file) = explicit {
        let file = cwd.join(file);
        return if file.is_file() {
            Ok(file)
        } else {
            Err(ConfigError::NotFound {
                checked: vec![file],
            })
        };
    }
    let dir = match space_dir {
        Some(d) => cwd.join(d),
        None => {
            return find_upwards(cwd).ok_or_else(|| ConfigError::NotFound {
                checked: candidates(cwd).to_vec(),
            })
        }
    };
    let candidates = candidates(&dir);
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ConfigError::NotFound {
            checked: candidates.to_vec(),
        })
}

/// The files that make `dir` a space directory, in order of preference.
fn candidates(dir: &Path) -> [PathBuf; 2] {
    [dir.join(".mew").join("space.yaml"), dir.join("space.yaml")]
}

/// The space.yaml of `start` or of its nearest parent that has one.
pub fn find_upwards(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find_map(|dir| candidates(dir).into_iter().find(|p| p.is_file()))
}

/// The space directory commands use without `--space-dir`: the one holding the nearest
/// space.yaml at or above `cwd`, else `cwd` itself (for spaces found by their label only).
pub fn space_dir_from(cwd: &Path) -> PathBuf {
    find_upwards(cwd)
        .map(|file| super::space_dir_of(&file))
        .unwrap_or_else(|| cwd.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_walks_up_to_the_nearest_space() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join(".mew")).unwrap();
        std::fs::write(root.join(".mew/space.yaml"), "space: {id: a}\n").unwrap();
        let deep = root.join("src/deeper");
        std::fs::create_dir_all(&deep).unwrap();
        let found = discover_in(&deep, None, None).unwrap();
        assert_eq!(found, root.join(".mew/space.yaml"));
        assert_eq!(space_dir_from(&deep), root);
        // A nearer plain space.yaml wins over the outer one.
        std::fs::write(root.join("src/space.yaml"), "space: {id: b}\n").unwrap();
        assert_eq!(
            discover_in(&deep, None, None).unwrap(),
            root.join("src/space.yaml")
        );
        assert_eq!(space_dir_from(&deep), root.join("src"));
        // An explicit --space-dir does not walk.
        assert!(discover_in(root, Some(Path::new("src/deeper")), None).is_err());
        // Nothing anywhere: the current directory is the space directory.
        let lone = tempfile::tempdir().unwrap();
        assert_eq!(space_dir_from(lone.path()), lone.path());
    }
}
