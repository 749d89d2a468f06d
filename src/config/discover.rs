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
/// else `<dir>/space.yaml`, with `<dir>` = `--space-dir` or the current directory.
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
        None => cwd.to_path_buf(),
    };
    let candidates = [dir.join(".mew").join("space.yaml"), dir.join("space.yaml")];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ConfigError::NotFound {
            checked: candidates.to_vec(),
        })
}
