//! `mew space snapshot` and `mew space restore`: a space's files, what its containers run, and
//! the images by id, in one reproducible archive (see `archive` for the format).
pub(crate) mod archive;

use anyhow::Context;
use archive::{ImageEntry, Manifest, ParticipantEntry};
use mew_engine::image::{self as engine_image, ImageIdentity};
use mew_engine::Engine;
use mew_space::config::Space;
use mew_space::plan::{labels, ContainerSpec};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::InvalidInput;
use crate::ops::space::{self, UpOptions};

#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotOptions {
    pub(crate) host: Option<String>,
    pub(crate) space_dir: Option<PathBuf>,
    pub(crate) space_config: Option<PathBuf>,
    pub(crate) space_id: Option<String>,
    pub(crate) output: PathBuf,
    pub(crate) with_logs: bool,
    pub(crate) with_secrets: bool,
}

#[derive(Debug)]
pub(crate) struct SnapshotReport {
    pub(crate) output: PathBuf,
    pub(crate) sha256: String,
    pub(crate) files: usize,
    pub(crate) images: usize,
    pub(crate) config_changed_since_up: Option<bool>,
}

/// One file of the space directory in the archive.
struct SpaceFile {
    rel: String,
    path: PathBuf,
    mode: u32,
}

/// Write the snapshot of a space (running or not) to `opts.output`.
pub(crate) async fn snapshot(opts: &SnapshotOptions) -> anyhow::Result<SnapshotReport> {
    let space = mew_space::config::find_and_load(
        opts.space_dir.as_deref(),
        opts.space_config.as_deref(),
        opts.space_id.as_deref(),
    )?;
    let engine = mew_engine::connect(opts.host.as_deref()).await?;
    let up_opts = UpOptions {
        host: opts.host.clone(),
        bind: "127.0.0.1".into(),
        ..UpOptions::default()
    };
    let (_, desired, observed) = space::desired_and_observed(&engine, &space, &up_opts).await?;
    let secrets = existing_tokens(&space);

    // What runs counts: a container's own image id and config hash, not what space.yaml says now.
    let mut participants = Vec::new();
    let mut images: BTreeMap<String, (BTreeSet<String>, ImageIdentity)> = BTreeMap::new();
    let specs: Vec<&ContainerSpec> = std::iter::once(&desired.gateway)
        .chain(&desired.participants)
        .collect();
    let mut changed = false;
    for c in &observed.containers {
        if !specs.iter().any(|s| s.name == c.name) {
            changed = true;
            let (image, image_id) = running_image(&engine, &c.id).await?;
            participants.push(ParticipantEntry {
                id: c.participant().unwrap_or(&c.name).to_string(),
                role: c.labels.get(labels::ROLE).cloned().unwrap_or_default(),
                image: image.clone(),
                image_id: image_id.clone(),
                state: Some(c.state.to_string()),
                running_config_hash: c.config_hash().map(str::to_string),
                spec: None,
                config_hash: None,
            });
            add_image(&engine, &mut images, &image, &image_id).await?;
        }
    }
    for spec in &specs {
        let container = observed.containers.iter().find(|c| c.name == spec.name);
        let desired_hash = spec.config_hash();
        let (image, image_id, state, running_hash) = match container {
            Some(c) => {
                let (image, id) = running_image(&engine, &c.id).await?;
                let hash = c.config_hash().map(str::to_string);
                changed |= hash.as_deref() != Some(desired_hash.as_str());
                (image, id, Some(c.state.to_string()), hash)
            }
            None => {
                if spec.image == desired.runtime_image {
                    // What `up` would do: the runtime image comes from this executable.
                    engine_image::ensure_runtime_image(&engine.docker, &|_| {}).await?;
                }
                let id = engine_image::image_identity(&engine.docker, &spec.image)
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "image `{}` of participant {} is not present; run `mew space up` (or pull or build it) first",
                            spec.image,
                            spec.participant
                        )
                    })?
                    .id;
                (spec.image.clone(), id, None, None)
            }
        };
        add_image(&engine, &mut images, &image, &image_id).await?;
        participants.push(ParticipantEntry {
            id: spec.participant.clone(),
            role: spec.role.as_str().to_string(),
            image,
            image_id,
            state,
            running_config_hash: running_hash,
            spec: Some(normalised_spec(spec, &space.dir, &secrets)?),
            config_hash: Some(desired_hash),
        });
    }
    participants.sort_by(|a, b| a.id.cmp(&b.id));
    let running = !observed.containers.is_empty();

    let output = absolute(&opts.output)?;
    let files = space_files(&space, opts, &output)?;
    let config = space
        .file
        .strip_prefix(&space.dir)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| {
            InvalidInput::new(format!(
                "{} is outside the space directory {}; a snapshot holds the space directory only",
                space.file.display(),
                space.dir.display()
            ))
        })?;

    // The tar header needs each entry's size before its bytes, and the engine streams an image
    // without saying how big it is: spool each image to a temporary file beside the output (same
    // filesystem, and never all in memory), which also gives its sha256 for the manifest.
    let out_dir = output.parent().unwrap_or(Path::new("/")).to_path_buf();
    let spool = tempfile::Builder::new()
        .prefix(".mew-snapshot-")
        .tempdir_in(&out_dir)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                out_dir.display()
            )
        })?;
    let mut entries = BTreeMap::new();
    let mut image_entries = Vec::new();
    let mut spooled = Vec::new();
    for (id, (refs, identity)) in &images {
        let entry = archive::image_entry(id);
        let path = spool.path().join(entry.trim_start_matches("images/"));
        // Saved by a reference that still names this id, so that the save carries the tag.
        let mut by = id.clone();
        for r in refs {
            if let Some(now) = engine_image::image_identity(&engine.docker, r).await? {
                if &now.id == id {
                    by = r.clone();
                    break;
                }
            }
        }
        let bar = progress_bar(&format!("saving image {by}"), None);
        let mut file = tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut hasher = sha2::Sha256::new();
        let mut on_chunk = |chunk: &[u8]| {
            hasher.update(chunk);
            bar.inc(chunk.len() as u64);
        };
        engine_image::save_image(&engine.docker, &by, &mut file, &mut on_chunk).await?;
        bar.finish_and_clear();
        drop(file);
        let sha = hex::encode(hasher.finalize());
        entries.insert(entry.clone(), sha);
        image_entries.push(ImageEntry {
            id: id.clone(),
            references: refs.iter().cloned().collect(),
            repo_digests: identity.repo_digests.clone(),
            entry: entry.clone(),
        });
        spooled.push((entry, path));
    }
    for f in &files {
        entries.insert(format!("space/{}", f.rel), hash_file(&f.path)?);
    }
    let manifest = Manifest {
        format: archive::FORMAT.into(),
        mew_version: engine_image::crate_version().into(),
        space_id: space.id.clone(),
        config,
        with_logs: opts.with_logs,
        with_secrets: opts.with_secrets,
        running,
        config_changed_since_up: running.then_some(changed),
        participants,
        images: image_entries,
        entries,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;

    // Written beside the output and renamed at the end: a failed snapshot leaves no half file.
    let partial = tempfile::NamedTempFile::new_in(&out_dir)
        .with_context(|| format!("cannot write in {}", out_dir.display()))?;
    let total: u64 = spooled
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = progress_bar("writing snapshot", Some(total));
    {
        let file = std::io::BufWriter::new(partial.as_file());
        let writer: Box<dyn Write> = if archive::is_gzip_name(&output) {
            // mtime 0 and no file name in the gzip header: the bytes depend on the content only.
            Box::new(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(file, flate2::Compression::default()),
            )
        } else {
            Box::new(file)
        };
        let mut tar = tar::Builder::new(writer);
        let mut h = archive::header(manifest_bytes.len() as u64, 0o644);
        tar.append_data(&mut h, archive::MANIFEST, manifest_bytes.as_slice())?;
        for f in &files {
            let file = std::fs::File::open(&f.path)
                .with_context(|| format!("cannot read {}", f.path.display()))?;
            let mut h = archive::header(file.metadata()?.len(), f.mode);
            tar.append_data(&mut h, format!("space/{}", f.rel), file)
                .with_context(|| format!("cannot add {} to the snapshot", f.path.display()))?;
        }
        for (entry, path) in &spooled {
            let file = std::fs::File::open(path)?;
            let mut h = archive::header(file.metadata()?.len(), 0o644);
            tar.append_data(&mut h, entry, bar.wrap_read(file))
                .with_context(|| format!("cannot add {entry} to the snapshot"))?;
        }
        tar.into_inner()?.flush()?;
    }
    bar.finish_and_clear();
    // A snapshot with tokens in it is as private as the token files.
    let mode = if opts.with_secrets { 0o600 } else { 0o644 };
    use std::os::unix::fs::PermissionsExt;
    partial
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .context("cannot write the snapshot")?;
    partial
        .as_file()
        .sync_all()
        .context("cannot write the snapshot")?;
    partial
        .persist(&output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(SnapshotReport {
        sha256: hash_file(&output)?,
        output,
        files: files.len(),
        images: images.len(),
        config_changed_since_up: manifest.config_changed_since_up,
    })
}

/// The image reference a container was created from and the image id it runs.
async fn running_image(engine: &Engine, container: &str) -> anyhow::Result<(String, String)> {
    let c = engine
        .docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(|e| mew_engine::EngineError::api(format!("cannot inspect {container}"), e))?;
    let id = c.image.unwrap_or_default();
    let reference = c.config.and_then(|c| c.image).unwrap_or_else(|| id.clone());
    Ok((reference, id))
}

async fn add_image(
    engine: &Engine,
    images: &mut BTreeMap<String, (BTreeSet<String>, ImageIdentity)>,
    reference: &str,
    id: &str,
) -> anyhow::Result<()> {
    if let Some((refs, _)) = images.get_mut(id) {
        refs.insert(reference.to_string());
        return Ok(());
    }
    let identity = engine_image::image_identity(&engine.docker, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("image {id} ({reference}) is no longer present"))?;
    let mut refs = BTreeSet::new();
    if reference != id {
        refs.insert(reference.to_string());
    }
    images.insert(id.to_string(), (refs, identity));
    Ok(())
}

/// Participants' tokens as they are on disk (to keep them out of the manifest).
fn existing_tokens(space: &Space) -> Vec<(String, String)> {
    let dir = mew_space::tokens::tokens_dir(&mew_space::tokens::mew_dir_for(&space.file));
    space
        .participants
        .iter()
        .filter_map(|p| {
            mew_space::tokens::load_existing(&dir, &p.id)
                .ok()
                .flatten()
                .filter(|t| !t.is_empty())
                .map(|t| (p.id.clone(), t))
        })
        .collect()
}

/// The container spec as JSON with secrets and the host's space path replaced by placeholders.
fn normalised_spec(
    spec: &ContainerSpec,
    dir: &Path,
    tokens: &[(String, String)],
) -> anyhow::Result<serde_json::Value> {
    let mut text = serde_json::to_string(spec)?;
    for (id, token) in tokens {
        text = text.replace(token.as_str(), &format!("${{TOKEN:{id}}}"));
    }
    let dir = serde_json::to_string(&dir.to_string_lossy())?;
    text = text.replace(dir.trim_matches('"'), "${SPACE_DIR}");
    Ok(serde_json::from_str(&text)?)
}

/// The space directory's files, sorted: everything but mew's runtime state (`.mew/` other than
/// the config, FIFOs, other non-regular files), logs only with `--with-logs`, tokens only with
/// `--with-secrets`, and never the snapshot itself.
fn space_files(
    space: &Space,
    opts: &SnapshotOptions,
    output: &Path,
) -> anyhow::Result<Vec<SpaceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![space.dir.clone()];
    while let Some(dir) = stack.pop() {
        let listing =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in listing {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(&space.dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if meta.is_dir() {
                if wanted_dir(&rel, opts) {
                    stack.push(path);
                }
            } else if meta.is_file()
                && path != output
                && !rel
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .starts_with(".mew-snapshot-")
                && wanted_file(&rel, &path, space, opts)
            {
                use std::os::unix::fs::PermissionsExt;
                let exec = meta.permissions().mode() & 0o111 != 0;
                let secret = rel.starts_with(".mew/tokens/");
                let mode = match (secret, exec) {
                    (true, _) => 0o600,
                    (false, true) => 0o755,
                    (false, false) => 0o644,
                };
                out.push(SpaceFile { rel, path, mode });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn wanted_dir(rel: &str, opts: &SnapshotOptions) -> bool {
    match rel {
        "fifos" | ".mew/empty" | ".mew/pm2" | ".mew/node_modules" | ".mew/fifos" => false,
        "logs" | ".mew/logs" => opts.with_logs,
        ".mew/tokens" => opts.with_secrets,
        _ => true,
    }
}

fn wanted_file(rel: &str, path: &Path, space: &Space, opts: &SnapshotOptions) -> bool {
    if path == space.file {
        return true;
    }
    if rel.starts_with(".mew/tokens/") {
        return opts.with_secrets;
    }
    // The pids file of upstream's layout describes processes of the machine it was taken on.
    rel != ".mew/pids.json"
}

fn hash_file(path: &Path) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    archive::sha256_of(std::io::BufReader::new(f))
        .with_context(|| format!("cannot read {}", path.display()))
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// A byte progress bar on stderr (a counter when the total is unknown); indicatif draws nothing
/// when stderr is not a terminal.
fn progress_bar(msg: &str, len: Option<u64>) -> indicatif::ProgressBar {
    let (bar, template) = match len {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} {bytes}/{total_bytes} {binary_bytes_per_sec} {wide_bar} {percent}%",
        ),
        None => (
            indicatif::ProgressBar::no_length(),
            "{spinner} {msg} {bytes} {binary_bytes_per_sec}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(msg.to_string());
    bar
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RestoreOptions {
    pub(crate) host: Option<String>,
    pub(crate) file: PathBuf,
    pub(crate) space_dir: Option<PathBuf>,
    pub(crate) space_id: Option<String>,
    pub(crate) force: bool,
}

#[derive(Debug)]
pub(crate) struct RestoreReport {
    pub(crate) space_dir: PathBuf,
    pub(crate) space_id: String,
    pub(crate) loaded: Vec<String>,
    pub(crate) files: usize,
    pub(crate) new_tokens: bool,
    /// Tags that named another image and now name the archived one.
    pub(crate) moved_tags: Vec<String>,
    /// `--space-id` was written into space.yaml.
    pub(crate) id_written: bool,
    /// (participant, image id) as the archive recorded them.
    pub(crate) archived_images: Vec<(String, String)>,
}

/// Participants whose container runs another image than the archive recorded, one line each
/// (a different mew builds its own runtime image, so its gateway and agents move to it).
pub(crate) async fn image_mismatches(
    host: Option<&str>,
    space_id: &str,
    archived: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let engine = mew_engine::connect(host).await?;
    let mut out = Vec::new();
    for (participant, id) in archived {
        let name = format!("{space_id}-{participant}");
        if let Ok((_, running)) = running_image(&engine, &name).await {
            if &running != id {
                out.push(format!(
                    "{participant} runs image {running}, not the archived {id}"
                ));
            }
        }
    }
    Ok(out)
}

/// Verify the archive, then load the missing images, write the files and make missing tokens.
pub(crate) async fn restore(opts: &RestoreOptions) -> anyhow::Result<RestoreReport> {
    if let Some(id) = &opts.space_id {
        mew_space::config::values::check_space_id(id).map_err(InvalidInput::new)?;
    }
    let file = opts.file.clone();
    let manifest = tokio::task::spawn_blocking(move || archive::verify(&file)).await??;
    let dir = absolute(
        &opts
            .space_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&manifest.space_id)),
    )?;
    let non_empty = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if (non_empty || dir.is_file()) && !opts.force {
        return Err(InvalidInput::new(format!(
            "{} exists and is not empty; restore into another directory (--space-dir) or overwrite it with --force",
            dir.display()
        ))
        .into());
    }
    let engine = mew_engine::connect(opts.host.as_deref()).await?;
    let mut loaded = Vec::new();
    let mut moved_tags = Vec::new();
    for image in &manifest.images {
        if engine_image::image_identity(&engine.docker, &image.id)
            .await?
            .is_none()
        {
            load_entry(&engine, &opts.file, &image.entry, &image.id).await?;
            if engine_image::image_identity(&engine.docker, &image.id)
                .await?
                .is_none()
            {
                anyhow::bail!(
                    "the engine loaded {} but has no image {} afterwards",
                    image.entry,
                    image.id
                );
            }
            loaded.push(image.id.clone());
        }
        // `up` finds images by reference: make each name the archived id again.
        for r in &image.references {
            let now = engine_image::image_identity(&engine.docker, r).await?;
            if now.as_ref().map(|n| &n.id) != Some(&image.id) {
                if now.is_some() {
                    moved_tags.push(r.clone());
                }
                engine_image::tag_image(&engine.docker, &image.id, r).await?;
            }
        }
    }

    let (file, target) = (opts.file.clone(), dir.clone());
    let files = tokio::task::spawn_blocking(move || write_space_files(&file, &target)).await??;
    let config = dir.join(&manifest.config);
    let mut id_written = false;
    if let Some(new_id) = opts.space_id.as_deref().filter(|i| *i != manifest.space_id) {
        // The gateway takes the space id from space.yaml: write the new one there, so that the
        // restored space is that id for every later command too.
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("cannot read {}", config.display()))?;
        if let Some(text) = rewrite_space_id(&text, &manifest.space_id, new_id) {
            std::fs::write(&config, text)
                .with_context(|| format!("cannot write {}", config.display()))?;
            id_written = true;
        }
    }
    let space =
        mew_space::config::find_and_load(Some(&dir), Some(&config), opts.space_id.as_deref())?;
    let mew_dir = mew_space::tokens::ensure_mew_dir(&space.file)
        .context("cannot create the space's .mew directory")?;
    let ids: Vec<String> = space.participants.iter().map(|p| p.id.clone()).collect();
    mew_space::tokens::resolve_all(&mew_dir, &ids)
        .context("cannot read or create the participants' tokens")?;
    Ok(RestoreReport {
        space_dir: dir,
        space_id: space.id,
        loaded,
        files,
        new_tokens: !manifest.with_secrets,
        moved_tags,
        id_written,
        archived_images: manifest
            .participants
            .iter()
            .map(|p| (p.id.clone(), p.image_id.clone()))
            .collect(),
    })
}

/// space.yaml with `space.id: old` (a plain or quoted scalar on its own line in the top-level
/// `space:` block) changed to `new`; `None` when the file does not spell it that way.
fn rewrite_space_id(text: &str, old: &str, new: &str) -> Option<String> {
    let mut in_space = false;
    let mut out = Vec::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if !body.starts_with([' ', '\t']) && !body.trim().is_empty() && !body.starts_with('#') {
            in_space = body.trim_end() == "space:";
        }
        let value = body.trim().strip_prefix("id:").map(str::trim);
        let is_old = value.is_some_and(|v| v.trim_matches(['"', '\'']) == old);
        if in_space && !done && is_old && body.starts_with(' ') {
            let indent = &body[..body.len() - body.trim_start().len()];
            out.push(format!("{indent}id: {new}{}", &line[body.len()..]));
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    done.then(|| out.concat())
}

/// Stream one image entry of the archive into the engine (`docker load`), never all in memory:
/// a blocking thread reads the tar and hands chunks to the upload.
async fn load_entry(engine: &Engine, file: &Path, entry: &str, id: &str) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let (file, wanted) = (file.to_path_buf(), entry.to_string());
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut archive = archive::open(&file)?;
        for e in archive.entries()? {
            let mut e = e?;
            if archive::entry_name(&e) != wanted {
                continue;
            }
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = e.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                if tx
                    .blocking_send(bytes::Bytes::copy_from_slice(&buf[..n]))
                    .is_err()
                {
                    anyhow::bail!("the engine stopped reading {wanted}");
                }
            }
        }
        anyhow::bail!("entry {wanted} is missing")
    });
    let chunks =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let load = engine_image::load_image(&engine.docker, id, chunks).await;
    let read = reader.await?;
    load?;
    read
}

/// Write the archive's `space/` entries under `dir`; returns how many.
fn write_space_files(file: &Path, dir: &Path) -> anyhow::Result<usize> {
    let mut archive = archive::open(file)?;
    let mut n = 0;
    for e in archive.entries()? {
        let e = e?;
        let name = archive::entry_name(&e);
        let Some(rel) = name.strip_prefix("space/") else {
            continue;
        };
        // verify() refused unsafe names already; checked again since the file could change.
        if !archive::safe_relative(rel) {
            anyhow::bail!("entry {name} has an unsafe path");
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o777;
        archive::write_new(&dir.join(rel), e, mode)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::rewrite_space_id;

    #[test]
    fn the_space_id_is_rewritten_in_the_space_block_only() {
        let text = "participants:\n  a:\n    id: demo\nspace:\n  id: \"demo\"\n  name: x\n";
        assert_eq!(
            rewrite_space_id(text, "demo", "copy").as_deref(),
            Some("participants:\n  a:\n    id: demo\nspace:\n  id: copy\n  name: x\n")
        );
        assert_eq!(
            rewrite_space_id("space: {id: demo}\n", "demo", "copy"),
            None
        );
    }
}
