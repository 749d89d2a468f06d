//! `mew space export`: a space as a file for other tools (compose, Swarm stacks, Kubernetes).
pub mod compose;
pub mod kubernetes;

pub use compose::{
    compose, env_file_text, export, ComposeOptions, ExportError, Flavour, CONTAINER_DIR,
};

/// Write a file only its owner can read (0600, also when it already existed).
pub fn write_private(path: &std::path::Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    f.write_all(content)
}
