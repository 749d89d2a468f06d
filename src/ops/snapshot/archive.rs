//! The snapshot archive format: a tar (gzip-compressed when the name ends in `.gz`/`.tgz`) whose
//! first entry is `manifest.json`, then `space/<path>` for the space's files and
//! `images/<id>.tar` for each image as the engine saves it. Entries are written in sorted order
//! with mtime 0, uid/gid 0 and no owner names, so the same inputs give the same bytes.
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path};

use crate::error::InvalidInput;

pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const FORMAT: &str = "mew-snapshot/1";
/// A manifest is a few KiB per participant; more than this is not one of ours.
const MANIFEST_LIMIT: u64 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    pub(crate) mew_version: String,
    pub(crate) space_id: String,
    /// The space.yaml inside `space/` (`space.yaml` or `.mew/space.yaml`).
    pub(crate) config: String,
    pub(crate) with_logs: bool,
    pub(crate) with_secrets: bool,
    /// Whether any of the space's containers existed when the snapshot was taken.
    pub(crate) running: bool,
    /// For a running space: whether space.yaml (or the environment it reads) now gives other
    /// containers than the ones that run (some config hash differs, or a container is an orphan).
    pub(crate) config_changed_since_up: Option<bool>,
    pub(crate) participants: Vec<ParticipantEntry>,
    pub(crate) images: Vec<ImageEntry>,
    /// sha256 (hex) of every other entry, by entry name.
    pub(crate) entries: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ParticipantEntry {
    pub(crate) id: String,
    pub(crate) role: String,
    /// The image reference the container runs (or would run).
    pub(crate) image: String,
    pub(crate) image_id: String,
    /// Engine state of its container (`running`, `exited`, …), `None` when there is none.
    pub(crate) state: Option<String>,
    /// The running container's config hash label.
    pub(crate) running_config_hash: Option<String>,
    /// What `up` would run now, tokens replaced by `${TOKEN:<id>}` and the space directory by
    /// `${SPACE_DIR}`. `None` for a container space.yaml no longer describes.
    pub(crate) spec: Option<serde_json::Value>,
    pub(crate) config_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageEntry {
    pub(crate) id: String,
    /// References the space uses for it (tagged again on restore).
    pub(crate) references: Vec<String>,
    pub(crate) repo_digests: Vec<String>,
    pub(crate) entry: String,
}

/// Entry name of an image's `docker save` tar.
pub(crate) fn image_entry(id: &str) -> String {
    format!("images/{}.tar", id.trim_start_matches("sha256:"))
}

pub(crate) fn is_gzip_name(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// The tar stream inside `path`, decompressing when it starts with gzip's magic bytes.
pub(crate) fn open(path: &Path) -> anyhow::Result<tar::Archive<Box<dyn Read + Send>>> {
    let mut file = BufReader::new(
        File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
    );
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic)?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let raw = head.chain(file);
    let reader: Box<dyn Read + Send> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    Ok(tar::Archive::new(reader))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A header for a regular file: mode, size, mtime 0, root-owned, no names.
pub(crate) fn header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// sha256 (hex) of everything `r` yields.
pub(crate) fn sha256_of(mut r: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut r, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// An entry name that stays inside the directory it is written to.
pub(crate) fn safe_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn bad(msg: String) -> anyhow::Error {
    InvalidInput::new(msg).into()
}

/// Read the whole archive and check it against its manifest: the manifest comes first, every
/// other entry is listed with its sha256 and matches it, none is missing. Errors (exit 2) name
/// the entry. Nothing is written.
pub(crate) fn verify(path: &Path) -> anyhow::Result<Manifest> {
    let shown = path.display();
    let mut archive = open(path)?;
    let mut entries = archive
        .entries()
        .map_err(|e| bad(format!("{shown} is not a mew snapshot ({e})")))?;
    let first = entries
        .next()
        .ok_or_else(|| bad(format!("{shown} is empty")))?
        .map_err(|e| bad(format!("{shown} is not a mew snapshot ({e})")))?;
    let name = entry_name(&first);
    if name != MANIFEST || first.size() > MANIFEST_LIMIT {
        return Err(bad(format!(
            "{shown} is not a mew snapshot: its first entry is `{name}`, not {MANIFEST}"
        )));
    }
    let mut text = Vec::new();
    first
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut text)
        .map_err(|e| {
            bad(format!(
                "{shown}: entry {MANIFEST} is truncated or corrupt ({e})"
            ))
        })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "{shown}: entry {MANIFEST} is not a valid manifest ({e})"
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "{shown}: snapshot format `{}` is not {FORMAT}",
            manifest.format
        )));
    }
    let mut seen = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            bad(format!(
                "{shown} is truncated or corrupt after entry {} ({e})",
                seen.keys().last().map(String::as_str).unwrap_or(MANIFEST)
            ))
        })?;
        let name = entry_name(&entry);
        let Some(want) = manifest.entries.get(&name) else {
            return Err(bad(format!(
                "{shown}: entry {name} is not listed in the manifest"
            )));
        };
        if !(name.starts_with("space/") || name.starts_with("images/")) || !safe_relative(&name) {
            return Err(bad(format!("{shown}: entry {name} has an unsafe path")));
        }
        let got = sha256_of(entry).map_err(|e| {
            bad(format!(
                "{shown}: entry {name} is truncated or corrupt ({e})"
            ))
        })?;
        if &got != want {
            return Err(bad(format!(
                "{shown}: entry {name} does not match its sha256 in the manifest (tampered or corrupt)"
            )));
        }
        if seen.insert(name.clone(), ()).is_some() {
            return Err(bad(format!("{shown}: entry {name} appears twice")));
        }
    }
    if let Some(missing) = manifest.entries.keys().find(|k| !seen.contains_key(*k)) {
        return Err(bad(format!(
            "{shown}: entry {missing} is missing (truncated archive?)"
        )));
    }
    for image in &manifest.images {
        if !manifest.entries.contains_key(&image.entry) {
            return Err(bad(format!(
                "{shown}: image {} has no entry in the archive",
                image.id
            )));
        }
    }
    Ok(manifest)
}

pub(crate) fn entry_name<R: Read>(entry: &tar::Entry<R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

/// Write `bytes` to a file created fresh (mode `mode`).
pub(crate) fn write_new(path: &Path, mut from: impl Read, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    io::copy(&mut from, &mut f).with_context(|| format!("cannot write {}", path.display()))?;
    f.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_must_stay_inside() {
        assert!(safe_relative("space/agents/a.js"));
        assert!(!safe_relative("space/../etc/passwd"));
        assert!(!safe_relative("/etc/passwd"));
        assert!(!safe_relative(""));
    }

    #[test]
    fn image_entries_are_named_by_id() {
        assert_eq!(image_entry("sha256:abc"), "images/abc.tar");
    }
}
