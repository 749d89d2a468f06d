//! The mew runtime image (design.md §5), built from the running executable with no base image
//! and no registry: a tar context whose Dockerfile is `FROM scratch` plus mew under `/opt/mew/`.
//!
//! A static (musl) mew is just `/opt/mew/mew`. A dynamically linked mew (the glibc debug build
//! that `cargo test` uses) also carries the shared libraries it has loaded, the ELF interpreter
//! included, in `/opt/mew/lib/`, and is started through that interpreter (`mew_argv`), so the
//! same files run inside any image: the runtime image itself and, through the runtime volume
//! mounted at `/opt/mew`, node, python or busybox images.
use super::EngineError;
use bollard::query_parameters::{BuildImageOptions, ListImagesOptions, TagImageOptions};
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Label on the runtime image (and volume): sha256 of the mew executable inside.
pub const BINARY_LABEL: &str = "io.mew.binary-sha256";
/// Where mew lives inside containers.
pub use mew_space::plan::desired::RUNTIME_MOUNT as MEW_HOME;

/// How the running executable is laid out, read once from `/proc/self/exe`.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub exe: PathBuf,
    /// Hex sha256 of the executable.
    pub sha256: String,
    /// ELF interpreter file name (`ld-linux-x86-64.so.2`) when the executable is dynamic.
    pub interpreter: Option<String>,
    /// Its absolute PT_INTERP path (`/lib64/ld-linux-x86-64.so.2`), where the runtime image
    /// links it so that a plain `mew` runs there too.
    pub interpreter_path: Option<PathBuf>,
    /// Shared libraries to ship: (file on the host, name under `/opt/mew/lib/`).
    pub libs: Vec<(PathBuf, String)>,
}

impl Runtime {
    /// The running executable. Cached: hashing a debug build takes a moment.
    pub fn current() -> Result<&'static Runtime, EngineError> {
        static CELL: OnceLock<Result<Runtime, String>> = OnceLock::new();
        CELL.get_or_init(|| {
            Runtime::inspect(Path::new("/proc/self/exe")).map_err(|e| mew_space::error_line(&e))
        })
        .as_ref()
        .map_err(|e| EngineError::Build(e.clone()))
    }

    fn inspect(exe: &Path) -> Result<Runtime, EngineError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| EngineError::Io { what, source }
        };
        let mut file = std::fs::File::open(exe).map_err(io("cannot open the mew executable"))?;
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(io("cannot read the mew executable"))?;
            if n == 0 {
                break;
            }
            if head.len() < 64 * 1024 {
                head.extend_from_slice(&buf[..n.min(64 * 1024 - head.len())]);
            }
            hasher.update(&buf[..n]);
        }
        let interp_path = elf_interpreter(exe, &head)?;
        let interpreter_path = interp_path.clone();
        let (interpreter, libs) = match interp_path {
            None => (None, Vec::new()),
            Some(interp) => {
                let name = file_name(&interp)?;
                let mut libs = vec![(interp.clone(), name.clone())];
                for lib in loaded_libraries() {
                    let lib_name = file_name(&lib)?;
                    if lib_name != name && !libs.iter().any(|(_, n)| *n == lib_name) {
                        libs.push((lib, lib_name));
                    }
                }
                (Some(name), libs)
            }
        };
        Ok(Runtime {
            exe: exe.to_path_buf(),
            sha256: hex::encode(hasher.finalize()),
            interpreter,
            interpreter_path,
            libs,
        })
    }

    /// How to run mew inside any container that has `/opt/mew`.
    pub fn argv(&self) -> Vec<String> {
        match &self.interpreter {
            None => vec![format!("{MEW_HOME}/mew")],
            Some(interp) => vec![
                format!("{MEW_HOME}/lib/{interp}"),
                "--library-path".into(),
                format!("{MEW_HOME}/lib"),
                format!("{MEW_HOME}/mew"),
            ],
        }
    }

    /// Short form of the hash used in names.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }

    /// Image reference containers use: unique per executable, so several mew builds sharing
    /// one engine (CI, worktrees) never run each other's binary.
    pub fn image_tag(&self) -> String {
        format!("mew:{}-{}", crate_version(), self.short_hash())
    }

    /// Friendly alias, moved to the newest build (`docker run mew:0.1.0 --version`).
    pub fn version_tag() -> String {
        format!("mew:{}", crate_version())
    }

    /// Named volume carrying these files into non-mew images.
    pub fn volume_name(&self) -> String {
        format!("mew-runtime-{}-{}", crate_version(), self.short_hash())
    }

    /// The Dockerfile of the build context. `mew` is also on the PATH (`/usr/local/bin/mew`,
    /// a link), so `mew space exec P -- mew …` works; a dynamic build finds its loader at its
    /// PT_INTERP path (a link) and its libraries through LD_LIBRARY_PATH.
    pub fn dockerfile(&self) -> String {
        let entry = serde_json::to_string(&self.argv()).unwrap_or_default();
        let mut file = String::from(
            "FROM scratch\nCOPY opt/ /opt/\nCOPY usr/ /usr/\nENV PATH=/usr/local/bin:/usr/bin:/bin\n",
        );
        if let Some(top) = self.interpreter_top() {
            file.push_str(&format!(
                "COPY {top}/ /{top}/\nENV LD_LIBRARY_PATH={MEW_HOME}/lib\n"
            ));
        }
        file.push_str(&format!("ENTRYPOINT {entry}\n"));
        file
    }

    /// The first directory of the interpreter's path (`lib64`), copied into the image.
    fn interpreter_top(&self) -> Option<String> {
        let path = self.interpreter_path.as_ref()?;
        let top = path.strip_prefix("/").ok()?.components().next()?;
        Some(top.as_os_str().to_str()?.to_string())
    }

    /// The build context: Dockerfile, `opt/mew/mew` and `opt/mew/lib/*`. Fixed mtimes and
    /// modes, so the same executable gives the same bytes.
    pub fn context_tar(&self) -> Result<Vec<u8>, EngineError> {
        let io = |what: String| move |source| EngineError::Io { what, source };
        let mut tar = tar::Builder::new(Vec::new());
        let dockerfile = self.dockerfile();
        append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes())
            .map_err(io("cannot write the build context".into()))?;
        let exe = std::fs::read(&self.exe).map_err(io("cannot read the mew executable".into()))?;
        append(&mut tar, "opt/mew/mew", 0o755, &exe)
            .map_err(io("cannot write the build context".into()))?;
        for (path, name) in &self.libs {
            let data =
                std::fs::read(path).map_err(io(format!("cannot read {}", path.display())))?;
            append(&mut tar, &format!("opt/mew/lib/{name}"), 0o755, &data)
                .map_err(io("cannot write the build context".into()))?;
        }
        let mut links = vec![("usr/local/bin/mew".to_string(), format!("{MEW_HOME}/mew"))];
        if let (Some(path), Some(name)) = (&self.interpreter_path, &self.interpreter) {
            let rel = path.strip_prefix("/").unwrap_or(path).display().to_string();
            links.push((rel, format!("{MEW_HOME}/lib/{name}")));
        }
        for (path, target) in links {
            append_link(&mut tar, &path, &target)
                .map_err(io("cannot write the build context".into()))?;
        }
        tar.into_inner()
            .map_err(io("cannot write the build context".into()))
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (BINARY_LABEL.to_string(), self.sha256.clone()),
            (
                mew_space::plan::labels::VERSION.to_string(),
                crate_version().to_string(),
            ),
        ])
    }
}

pub fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `mew_argv()` for the running executable (falls back to the static layout if it cannot be read,
/// in which case building the image reports the real problem).
pub fn mew_argv() -> Vec<String> {
    Runtime::current()
        .map(Runtime::argv)
        .unwrap_or_else(|_| vec![format!("{MEW_HOME}/mew")])
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)
}

fn append_link(tar: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o777);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Symlink);
    tar.append_link(&mut header, path, target)
}

fn file_name(p: &Path) -> Result<String, EngineError> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| EngineError::Build(format!("odd library path {}", p.display())))
}

/// The PT_INTERP path of a 64-bit little-endian ELF file, or `None` for a static executable.
fn elf_interpreter(exe: &Path, head: &[u8]) -> Result<Option<PathBuf>, EngineError> {
    let bad = || EngineError::Build(format!("{} is not a 64-bit ELF executable", exe.display()));
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let u64_at = |o: usize| -> Option<usize> {
        let b: [u8; 8] = head.get(o..o + 8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(b)).ok()
    };
    let phoff = u64_at(0x20).ok_or_else(bad)?;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = head
            .get(ph..ph + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(bad)?;
        if p_type == 3 {
            // PT_INTERP: a NUL-terminated path.
            let off = u64_at(ph + 8).ok_or_else(bad)?;
            let len = u64_at(ph + 0x20).ok_or_else(bad)?;
            let f = std::fs::File::open(exe).map_err(|source| EngineError::Io {
                what: "cannot read the mew executable".into(),
                source,
            })?;
            let mut raw = vec![0u8; len.min(4096)];
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut raw, off as u64).map_err(
                |source| EngineError::Io {
                    what: "cannot read the mew executable".into(),
                    source,
                },
            )?;
            let s = String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or_default());
            return Ok(Some(PathBuf::from(s.as_ref())));
        }
    }
    Ok(None)
}

/// Shared objects loaded into this process, by the path the dynamic loader used to open them
/// (`dl_iterate_phdr`): that path ends in the name the executable asks for (its DT_NEEDED entry),
/// which `/proc/self/maps` would not give when the file is a symlink to a versioned name.
fn loaded_libraries() -> Vec<PathBuf> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader hands us a valid entry for the duration of the call, and `data` is
        // the `&mut Vec` passed to `dl_iterate_phdr` below.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<PathBuf>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by the loader.
            let name = unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) };
            if let Ok(s) = name.to_str() {
                if s.starts_with('/') && Path::new(s).is_file() {
                    out.push(PathBuf::from(s));
                }
            }
        }
        0
    }
    let mut out: Vec<PathBuf> = Vec::new();
    // SAFETY: `visit` only reads the entries and writes to `out`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            &mut out as *mut Vec<PathBuf> as *mut libc::c_void,
        );
    }
    out
}

/// State of the runtime image for this executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    /// Present, with a matching binary label.
    Current,
    /// Missing, or its label names another binary.
    Missing,
}

/// Whether the runtime image for the running executable is present.
pub async fn runtime_image_state(docker: &Docker) -> Result<ImageState, EngineError> {
    let rt = Runtime::current()?;
    image_state(docker, &rt.image_tag(), &rt.sha256).await
}

async fn image_state(docker: &Docker, tag: &str, sha: &str) -> Result<ImageState, EngineError> {
    match docker.inspect_image(tag).await {
        Ok(img) => {
            let label = img
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get(BINARY_LABEL).cloned());
            Ok(if label.as_deref() == Some(sha) {
                ImageState::Current
            } else {
                ImageState::Missing
            })
        }
        Err(e) if super::is_not_found(&e) => Ok(ImageState::Missing),
        Err(e) => Err(EngineError::api(format!("cannot inspect image {tag}"), e)),
    }
}

/// Whether an image is present locally (any image, not only the runtime image).
pub async fn image_present(docker: &Docker, image: &str) -> Result<bool, EngineError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if super::is_not_found(&e) => Ok(false),
        Err(e) => Err(EngineError::api(format!("cannot inspect image {image}"), e)),
    }
}

/// Progress of a build, for a progress bar or log lines.
#[derive(Debug, Clone)]
pub enum BuildProgress {
    /// The context is ready to send (bytes).
    Context(u64),
    /// A Dockerfile step started: (step, of).
    Step(u32, u32),
}

/// Build the runtime image for the running executable, tag it with its unique tag and
/// `mew:<version>`, and return the unique tag.
pub async fn build_runtime_image(
    docker: &Docker,
    progress: &(dyn Fn(BuildProgress) + Send + Sync),
) -> Result<String, EngineError> {
    let rt = Runtime::current()?;
    let _lock = crate::lock::host_lock(&rt.image_tag().replace(':', "-")).await?;
    build_locked(docker, rt, progress).await
}

/// Build the runtime image unless the one for this executable is already there. Parallel `up`s
/// of one executable build it once: the others wait on a host-wide lock, then find it.
pub async fn ensure_runtime_image(
    docker: &Docker,
    progress: &(dyn Fn(BuildProgress) + Send + Sync),
) -> Result<String, EngineError> {
    let rt = Runtime::current()?;
    let _lock = crate::lock::host_lock(&rt.image_tag().replace(':', "-")).await?;
    if runtime_image_state(docker).await? == ImageState::Current {
        return Ok(rt.image_tag());
    }
    build_locked(docker, rt, progress).await
}

async fn build_locked(
    docker: &Docker,
    rt: &'static Runtime,
    progress: &(dyn Fn(BuildProgress) + Send + Sync),
) -> Result<String, EngineError> {
    let tag = rt.image_tag();
    let context = tokio::task::spawn_blocking(move || rt.context_tar())
        .await
        .map_err(|e| EngineError::Build(e.to_string()))??;
    progress(BuildProgress::Context(context.len() as u64));
    let options = BuildImageOptions {
        t: Some(tag.clone()),
        labels: Some(rt.labels()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| EngineError::Build(e.to_string()))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(EngineError::Build(err.trim().to_string()));
        }
        if let Some((step, of)) = info.stream.as_deref().and_then(parse_step) {
            progress(BuildProgress::Step(step, of));
        }
    }
    // The engine may report success in the stream yet have nothing: check.
    if image_state(docker, &tag, &rt.sha256).await? != ImageState::Current {
        return Err(EngineError::Build(format!(
            "the engine finished the build but has no image {tag}"
        )));
    }
    let alias = Runtime::version_tag();
    let (repo, version) = alias.split_once(':').unwrap_or((alias.as_str(), "latest"));
    docker
        .tag_image(
            &tag,
            Some(TagImageOptions {
                repo: Some(repo.to_string()),
                tag: Some(version.to_string()),
            }),
        )
        .await
        .map_err(|e| EngineError::api(format!("cannot tag {tag} as {alias}"), e))?;
    let pruned = prune_stale_images(docker).await;
    if pruned > 0 {
        tracing::info!("removed {pruned} runtime images of older mew builds");
    }
    Ok(tag)
}

/// Age after which runtime images and volumes of other mew builds are removed (when unused).
/// Generous, so that another mew build that is between "image ready" and "container created"
/// on the same engine (CI, worktrees) never loses its image.
pub const STALE_AFTER_SECS: i64 = 3600;

/// Best-effort cleanup after a build: untagged runtime images, and runtime images of *other* mew
/// executables older than an hour; never what containers use (the engine refuses). Returns how
/// many were removed. (`volume::prune_stale_volumes` does the same for runtime volumes.)
pub async fn prune_stale_images(docker: &Docker) -> usize {
    let Ok(rt) = Runtime::current() else {
        return 0;
    };
    let now = chrono::Utc::now().timestamp();
    let filters = HashMap::from([("label".to_string(), vec![BINARY_LABEL.to_string()])]);
    let mut removed = 0;
    if let Ok(images) = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
    {
        for img in images {
            let other = img.labels.get(BINARY_LABEL) != Some(&rt.sha256);
            // Untagged ones are never referenced by name again: no need to wait.
            let dangling = img.repo_tags.iter().all(|t| t == "<none>:<none>");
            if dangling || (other && now - img.created > STALE_AFTER_SECS) {
                let options = bollard::query_parameters::RemoveImageOptions {
                    force: false,
                    noprune: false,
                    platforms: None,
                };
                if docker
                    .remove_image(&img.id, Some(options), None)
                    .await
                    .is_ok()
                {
                    removed += 1;
                }
            }
        }
    }
    removed
}

/// "Step 2/3 : COPY …" → (2, 3).
fn parse_step(line: &str) -> Option<(u32, u32)> {
    let rest = line.trim_start().strip_prefix("Step ")?;
    let (nums, _) = rest.split_once(' ')?;
    let (a, b) = nums.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_is_dynamic_and_ships_its_loader() {
        // `cargo test` builds for the glibc host target: dynamic, with an ELF interpreter.
        let rt = Runtime::current().expect("inspect /proc/self/exe");
        let interp = rt.interpreter.clone().expect("a glibc build has PT_INTERP");
        assert!(interp.starts_with("ld-"), "{interp}");
        assert!(rt.libs.iter().any(|(_, n)| n == &interp));
        assert!(
            rt.libs.iter().any(|(_, n)| n.starts_with("libc.so")),
            "{:?}",
            rt.libs
        );
        assert_eq!(rt.argv()[0], format!("/opt/mew/lib/{interp}"));
        assert_eq!(rt.argv().last().map(String::as_str), Some("/opt/mew/mew"));
        assert_eq!(rt.sha256.len(), 64);
    }

    #[test]
    fn context_holds_dockerfile_binary_and_libraries() {
        let rt = Runtime::current().expect("inspect /proc/self/exe");
        let bytes = rt.context_tar().expect("context");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names[0], "Dockerfile");
        assert!(names.contains(&"opt/mew/mew".to_string()));
        assert!(names.iter().any(|n| n.starts_with("opt/mew/lib/libc.so")));
        assert!(names.contains(&"usr/local/bin/mew".to_string()));
        assert!(rt.dockerfile().starts_with("FROM scratch\n"));
    }

    #[test]
    fn static_executables_have_no_interpreter() {
        // A minimal ELF64 header with no program headers: static.
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = 2;
        head[5] = 1;
        assert_eq!(elf_interpreter(Path::new("x"), &head).expect("parse"), None);
        assert!(elf_interpreter(Path::new("x"), b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn build_steps_are_parsed() {
        assert_eq!(parse_step("Step 2/3 : COPY opt/ /opt/"), Some((2, 3)));
        assert_eq!(parse_step(" ---> abc"), None);
    }
}

/// An image's identity for a snapshot manifest.
#[derive(Debug, Clone)]
pub struct ImageIdentity {
    /// `sha256:…`
    pub id: String,
    /// `repo@sha256:…` for images that came from a registry (empty for local builds).
    pub repo_digests: Vec<String>,
}

/// Id and repo digests of a local image; `None` when it is not present.
pub async fn image_identity(
    docker: &Docker,
    image: &str,
) -> Result<Option<ImageIdentity>, EngineError> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(Some(ImageIdentity {
            id: i.id.unwrap_or_default(),
            repo_digests: i.repo_digests.unwrap_or_default(),
        })),
        Err(e) if super::is_not_found(&e) => Ok(None),
        Err(e) => Err(EngineError::api(format!("cannot inspect image {image}"), e)),
    }
}

/// Write `image` as the engine exports it (`docker save` format) to `out`, chunk by chunk, showing
/// each chunk to `on_chunk` (a hash, a progress bar). Returns the bytes written.
pub async fn save_image(
    docker: &Docker,
    image: &str,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
    on_chunk: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<u64, EngineError> {
    use tokio::io::AsyncWriteExt;
    let mut stream = docker.export_image(image);
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| EngineError::api(format!("cannot export image {image}"), e))?;
        out.write_all(&chunk)
            .await
            .map_err(|source| EngineError::Io {
                what: format!("cannot write the export of image {image}"),
                source,
            })?;
        total += chunk.len() as u64;
        on_chunk(&chunk);
    }
    out.flush().await.map_err(|source| EngineError::Io {
        what: format!("cannot write the export of image {image}"),
        source,
    })?;
    Ok(total)
}

/// Load a `docker save` tar streamed as `chunks` (`docker load`). `what` names it in errors.
pub async fn load_image(
    docker: &Docker,
    what: &str,
    chunks: impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
) -> Result<(), EngineError> {
    let mut stream = docker.import_image_stream(
        bollard::query_parameters::ImportImageOptions::default(),
        chunks.map(Ok::<_, std::io::Error>),
        None,
    );
    while let Some(msg) = stream.next().await {
        msg.map_err(|e| EngineError::api(format!("cannot load image {what}"), e))?;
    }
    Ok(())
}

/// Tag the image `id` as `reference` (`repo:tag`).
pub async fn tag_image(docker: &Docker, id: &str, reference: &str) -> Result<(), EngineError> {
    let (repo, tag) = match reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r, t),
        None => (reference, "latest"),
    };
    docker
        .tag_image(
            id,
            Some(TagImageOptions {
                repo: Some(repo.to_string()),
                tag: Some(tag.to_string()),
            }),
        )
        .await
        .map_err(|e| EngineError::api(format!("cannot tag image {id} as {reference}"), e))
}
