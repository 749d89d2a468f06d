//! `mew mcp filesystem <root>`: file tools confined to one directory tree, so that a bridge can
//! give agents file access without node. Every path argument goes through `Root::resolve`,
//! which refuses anything that ends up outside the root: `..`, absolute paths elsewhere, and
//! symlinks (also dangling ones) that point out.
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};
use thiserror::Error;

use mew_client::mcp::{str_arg, tool, RpcError, ToolResult, ToolServer};

/// Stop walking a tree after this many entries: a model does not need more, and a huge tree
/// would make one answer megabytes long.
const WALK_LIMIT: usize = 10_000;

#[derive(Debug, Error)]
pub(crate) enum FsError {
    #[error("cannot serve `{path}`: {source}")]
    Root {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot serve `{0}`: not a directory")]
    RootNotDir(String),
}

/// The allowed directory, canonical (symlinks resolved), so prefix checks are meaningful.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    root: PathBuf,
}

impl Root {
    pub(crate) fn new(path: &Path) -> Result<Root, FsError> {
        let root = std::fs::canonicalize(path).map_err(|source| FsError::Root {
            path: path.display().to_string(),
            source,
        })?;
        if !root.is_dir() {
            return Err(FsError::RootNotDir(path.display().to_string()));
        }
        Ok(Root { root })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// The path `requested` names inside the root, or why it may not be used. Relative paths are
    /// relative to the root. The result may not exist yet (for writes), but its deepest existing
    /// ancestor, symlinks resolved, is inside the root, and so is every step below it.
    pub(crate) fn resolve(&self, requested: &str) -> Result<PathBuf, String> {
        let refuse = || format!("Access denied: `{requested}` is outside the allowed directory");
        let joined = self.root.join(requested);
        // Lexical first (`a/../..` must not climb out even when nothing exists).
        let mut clean = PathBuf::new();
        for comp in joined.components() {
            match comp {
                Component::ParentDir => {
                    if !clean.pop() {
                        return Err(refuse());
                    }
                }
                Component::CurDir => {}
                other => clean.push(other),
            }
        }
        if !clean.starts_with(&self.root) {
            return Err(refuse());
        }
        // Then the filesystem: find the deepest part that exists (a symlink counts, even a
        // dangling one) and resolve it. A dangling symlink cannot be resolved: refuse it, since
        // writing through it would create its target wherever that is.
        let mut existing = clean.as_path();
        let mut rest = Vec::new();
        while existing.symlink_metadata().is_err() {
            match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Err(refuse()),
            }
        }
        let mut real = std::fs::canonicalize(existing).map_err(|_| refuse())?;
        if !real.starts_with(&self.root) {
            return Err(refuse());
        }
        for name in rest.iter().rev() {
            real.push(name);
        }
        if holds_tokens(&real) {
            return Err(format!(
                "Access denied: `{requested}` holds the space's participant tokens"
            ));
        }
        Ok(real)
    }

    /// How `path` (inside the root) is shown to the client: relative to the root.
    fn show(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Whether `path` is a space's token directory (`.mew/tokens`) or inside it. The root is usually
/// a space directory, and a token read there would let an agent join as someone else (a human
/// with every capability), so no tool may open it.
fn holds_tokens(path: &Path) -> bool {
    let names: Vec<_> = path.components().map(|c| c.as_os_str()).collect();
    names.windows(2).any(|w| w[0] == ".mew" && w[1] == "tokens")
}

/// The MCP face of the confined filesystem.
#[derive(Debug)]
pub(crate) struct Filesystem {
    root: Root,
}

impl Filesystem {
    pub(crate) fn new(root: Root) -> Filesystem {
        Filesystem { root }
    }

    fn path(&self, args: &Value, key: &str) -> Result<Result<PathBuf, String>, RpcError> {
        Ok(self.root.resolve(str_arg(args, key)?))
    }
}

fn path_prop(what: &str) -> Value {
    json!({ "type": "string", "description": what })
}

impl ToolServer for Filesystem {
    fn name(&self) -> &str {
        "mew-filesystem"
    }

    fn tools(&self) -> Vec<Value> {
        let path_only = json!({ "path": path_prop("Path, relative to the allowed directory or absolute inside it") });
        let read = json!({
            "path": path_prop("File to read"),
            "head": { "type": "number", "description": "Only the first N lines" },
            "tail": { "type": "number", "description": "Only the last N lines" },
        });
        vec![
            tool(
                "read_text_file",
                "Read a UTF-8 text file.",
                read.clone(),
                &["path"],
            ),
            tool(
                "read_file",
                "Read a UTF-8 text file (same as read_text_file).",
                read,
                &["path"],
            ),
            tool(
                "read_multiple_files",
                "Read several UTF-8 text files at once; a file that cannot be read is reported \
                 in its place without failing the others.",
                json!({ "paths": { "type": "array", "items": { "type": "string" } } }),
                &["paths"],
            ),
            tool(
                "read_media_file",
                "Read an image or audio file (or any file) as base64 with its MIME type.",
                path_only.clone(),
                &["path"],
            ),
            tool(
                "edit_file",
                "Replace text in a file: each edit's oldText must occur (exactly, or line by \
                 line ignoring indentation); returns a unified diff. dryRun shows the diff \
                 without writing.",
                json!({
                    "path": path_prop("File to edit"),
                    "edits": { "type": "array", "items": { "type": "object", "properties": {
                        "oldText": { "type": "string" }, "newText": { "type": "string" } },
                        "required": ["oldText", "newText"] } },
                    "dryRun": { "type": "boolean", "default": false },
                }),
                &["path", "edits"],
            ),
            tool(
                "write_file",
                "Create or overwrite a file with the given text.",
                json!({ "path": path_prop("File to write"), "content": { "type": "string" } }),
                &["path", "content"],
            ),
            tool(
                "create_directory",
                "Create a directory, with missing parents; fine if it exists.",
                path_only.clone(),
                &["path"],
            ),
            tool(
                "list_directory",
                "List a directory: one entry per line, prefixed [DIR] or [FILE].",
                path_only.clone(),
                &["path"],
            ),
            tool(
                "list_directory_with_sizes",
                "List a directory with file sizes, sorted by name or size, and totals.",
                json!({
                    "path": path_prop("Directory"),
                    "sortBy": { "type": "string", "enum": ["name", "size"], "default": "name" },
                }),
                &["path"],
            ),
            tool(
                "directory_tree",
                "A directory's tree as JSON: [{name, type, children?}].",
                path_only.clone(),
                &["path"],
            ),
            tool(
                "search_files",
                "Find files and directories under a path whose name matches a pattern \
                 (glob with * and ?, otherwise a case-insensitive substring).",
                json!({ "path": path_prop("Where to search"), "pattern": { "type": "string" } }),
                &["path", "pattern"],
            ),
            tool(
                "get_file_info",
                "Size, type, modification time and permissions of a file or directory.",
                path_only,
                &["path"],
            ),
            tool(
                "move_file",
                "Move or rename a file or directory; the destination must not exist.",
                json!({ "source": path_prop("From"), "destination": path_prop("To") }),
                &["source", "destination"],
            ),
            tool(
                "list_allowed_directories",
                "The directory this server may access.",
                json!({}),
                &[],
            ),
        ]
    }

    fn call(&mut self, name: &str, args: &Value) -> Result<ToolResult, RpcError> {
        let outcome = match name {
            "read_file" | "read_text_file" => self.path(args, "path")?.and_then(|p| {
                let head = args.get("head").and_then(Value::as_u64);
                let tail = args.get("tail").and_then(Value::as_u64);
                read(&p, head, tail)
            }),
            "read_multiple_files" => {
                let paths = args.get("paths").and_then(Value::as_array).ok_or_else(|| {
                    RpcError::invalid_params("`paths` must be an array of strings")
                })?;
                let parts: Vec<String> = paths
                    .iter()
                    .map(|p| {
                        let shown = p.as_str().unwrap_or_default();
                        match self.root.resolve(shown).and_then(|f| read(&f, None, None)) {
                            Ok(text) => format!("{shown}:\n{text}\n"),
                            Err(e) => format!("{shown}: Error - {e}"),
                        }
                    })
                    .collect();
                Ok(parts.join("\n---\n"))
            }
            "read_media_file" => {
                let file = match self.path(args, "path")? {
                    Ok(f) => f,
                    Err(e) => return Ok(ToolResult::error(e)),
                };
                return Ok(match std::fs::read(&file) {
                    Ok(bytes) => {
                        use base64::Engine;
                        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                        ToolResult::media(data, mime_type(&file))
                    }
                    Err(e) => ToolResult::error(io_msg("read", &self.root.show(&file), e)),
                });
            }
            "edit_file" => {
                let edits = edits_arg(args)?;
                let dry_run = args.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
                self.path(args, "path")?.and_then(|p| {
                    let shown = self.root.show(&p);
                    let old = std::fs::read_to_string(&p).map_err(|e| io_msg("read", &shown, e))?;
                    let new = apply_edits(&old, &edits)?;
                    let diff = unified_diff(&old, &new, &shown);
                    if !dry_run {
                        std::fs::write(&p, &new).map_err(|e| io_msg("write", &shown, e))?;
                    }
                    Ok(diff)
                })
            }
            "list_directory_with_sizes" => {
                let by_size = args.get("sortBy").and_then(Value::as_str) == Some("size");
                self.path(args, "path")?
                    .and_then(|p| list_with_sizes(&self.root, &p, by_size))
            }
            "write_file" => {
                let content = str_arg(args, "content")?;
                self.path(args, "path")?.and_then(|p| {
                    std::fs::write(&p, content)
                        .map(|_| format!("Wrote {} bytes to {}", content.len(), self.root.show(&p)))
                        .map_err(|e| io_msg("write", &self.root.show(&p), e))
                })
            }
            "create_directory" => self.path(args, "path")?.and_then(|p| {
                std::fs::create_dir_all(&p)
                    .map(|_| format!("Created directory {}", self.root.show(&p)))
                    .map_err(|e| io_msg("create", &self.root.show(&p), e))
            }),
            "list_directory" => self.path(args, "path")?.and_then(|p| list(&self.root, &p)),
            "directory_tree" => self.path(args, "path")?.and_then(|p| {
                let mut budget = WALK_LIMIT;
                tree(&p, &mut budget)
                    .map(|t| serde_json::to_string_pretty(&t).unwrap_or_default())
                    .map_err(|e| io_msg("read", &self.root.show(&p), e))
            }),
            "search_files" => {
                let pattern = str_arg(args, "pattern")?.to_string();
                self.path(args, "path")?.and_then(|p| {
                    let mut found = Vec::new();
                    search(&self.root, &p, &pattern, &mut found)
                        .map_err(|e| io_msg("search", &self.root.show(&p), e))?;
                    Ok(if found.is_empty() {
                        "No matches found".to_string()
                    } else {
                        found.join("\n")
                    })
                })
            }
            "get_file_info" => self.path(args, "path")?.and_then(|p| info(&self.root, &p)),
            "move_file" => {
                let from = self.path(args, "source")?;
                let to = self.path(args, "destination")?;
                from.and_then(|f| to.map(|t| (f, t))).and_then(|(f, t)| {
                    if t.symlink_metadata().is_ok() {
                        return Err(format!("`{}` already exists", self.root.show(&t)));
                    }
                    std::fs::rename(&f, &t)
                        .map(|_| format!("Moved {} to {}", self.root.show(&f), self.root.show(&t)))
                        .map_err(|e| io_msg("move", &self.root.show(&f), e))
                })
            }
            "list_allowed_directories" => Ok(format!(
                "Allowed directories:\n{}",
                self.root.path().display()
            )),
            other => return Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
        };
        Ok(match outcome {
            Ok(text) => ToolResult::ok(text),
            Err(text) => ToolResult::error(text),
        })
    }
}

fn io_msg(what: &str, path: &str, e: std::io::Error) -> String {
    format!("Cannot {what} {path}: {e}")
}

fn read(path: &Path, head: Option<u64>, tail: Option<u64>) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io_msg("read", &path.display().to_string(), e))?;
    let lines = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok(match (head, tail) {
        (Some(h), _) => text.lines().take(lines(h)).collect::<Vec<_>>().join("\n"),
        (None, Some(t)) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines(t))..].join("\n")
        }
        (None, None) => text,
    })
}

fn list(root: &Root, dir: &Path) -> Result<String, String> {
    let shown = root.show(dir);
    let mut entries: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map_err(|e| io_msg("list", &shown, e))?
        .filter_map(Result::ok)
        .map(|e| {
            // `file_type` does not follow symlinks: a link to a directory lists as a file,
            // and nothing here descends through it.
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            (e.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect();
    entries.sort();
    let mut out = String::new();
    for (name, is_dir) in entries {
        let tag = if is_dir { "[DIR]" } else { "[FILE]" };
        let _ = writeln!(out, "{tag} {name}");
    }
    Ok(if out.is_empty() {
        format!("{shown} is empty")
    } else {
        out.trim_end().to_string()
    })
}

fn list_with_sizes(root: &Root, dir: &Path, by_size: bool) -> Result<String, String> {
    let shown = root.show(dir);
    let mut entries: Vec<(String, bool, u64)> = std::fs::read_dir(dir)
        .map_err(|e| io_msg("list", &shown, e))?
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata().ok();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let size = if is_dir {
                0
            } else {
                meta.map(|m| m.len()).unwrap_or(0)
            };
            (e.file_name().to_string_lossy().into_owned(), is_dir, size)
        })
        .collect();
    if by_size {
        entries.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    } else {
        entries.sort();
    }
    let mut out = String::new();
    for (name, is_dir, size) in &entries {
        if *is_dir {
            let _ = writeln!(out, "[DIR]  {name}");
        } else {
            let _ = writeln!(out, "[FILE] {name:<30} {:>10}", human_size(*size));
        }
    }
    let files = entries.iter().filter(|e| !e.1).count();
    let total: u64 = entries.iter().map(|e| e.2).sum();
    let _ = write!(
        out,
        "\nTotal: {files} files, {} directories\nCombined size: {}",
        entries.len() - files,
        human_size(total)
    );
    Ok(out)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    if bytes == 0 {
        return "0 B".into();
    }
    let i = ((bytes as f64).log(1024.0).floor() as usize).min(UNITS.len() - 1);
    if i == 0 {
        return format!("{bytes} B");
    }
    format!("{:.2} {}", bytes as f64 / 1024f64.powi(i as i32), UNITS[i])
}

/// The MIME type of a file from its extension (what MCP clients need to show it).
fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => "application/octet-stream",
    }
}

fn edits_arg(args: &Value) -> Result<Vec<(String, String)>, RpcError> {
    let bad = || RpcError::invalid_params("`edits` must be an array of {oldText, newText}");
    args.get("edits")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|e| {
            let old = e.get("oldText").and_then(Value::as_str).ok_or_else(bad)?;
            let new = e.get("newText").and_then(Value::as_str).ok_or_else(bad)?;
            Ok((old.to_string(), new.to_string()))
        })
        .collect()
}

/// Apply edits in order. An `oldText` found verbatim is replaced once; otherwise its lines are
/// matched against the file's ignoring leading and trailing whitespace, and the replacement
/// takes the indentation of the first matched line.
fn apply_edits(text: &str, edits: &[(String, String)]) -> Result<String, String> {
    let crlf = text.contains("\r\n");
    let mut content = text.replace("\r\n", "\n");
    for (old, new) in edits {
        let old = old.replace("\r\n", "\n");
        let new = new.replace("\r\n", "\n");
        if let Some(i) = content.find(&old) {
            content.replace_range(i..i + old.len(), &new);
            continue;
        }
        let old_lines: Vec<&str> = old.lines().collect();
        let lines: Vec<&str> = content.split('\n').collect();
        let found = (0..lines.len().saturating_sub(old_lines.len()) + 1).find(|&i| {
            !old_lines.is_empty()
                && old_lines
                    .iter()
                    .enumerate()
                    .all(|(j, o)| lines.get(i + j).is_some_and(|l| l.trim() == o.trim()))
        });
        let Some(i) = found else {
            return Err(format!("Could not find exact match for edit:\n{old}"));
        };
        let indent: String = lines[i].chars().take_while(|c| c.is_whitespace()).collect();
        let base: String = new
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        let replaced: Vec<String> = new
            .lines()
            .map(|l| format!("{indent}{}", l.strip_prefix(base.as_str()).unwrap_or(l)))
            .collect();
        let mut out: Vec<String> = lines[..i].iter().map(|s| s.to_string()).collect();
        out.extend(replaced);
        out.extend(lines[i + old_lines.len()..].iter().map(|s| s.to_string()));
        content = out.join("\n");
    }
    Ok(if crlf {
        content.replace('\n', "\r\n")
    } else {
        content
    })
}

/// A unified diff (3 lines of context) of a file's old and new text, fenced as a `diff` block
/// with enough backticks that the diff itself cannot close it.
fn unified_diff(old: &str, new: &str, shown: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(shown, shown)
        .to_string();
    let mut fence = "```".to_string();
    while diff.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}diff\n{diff}{fence}\n\n")
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn tree(dir: &Path, budget: &mut usize) -> std::io::Result<Value> {
    let mut out = Vec::new();
    for entry in sorted_entries(dir)? {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            let children = tree(&entry.path(), budget)?;
            out.push(json!({ "name": name, "type": "directory", "children": children }));
        } else {
            out.push(json!({ "name": name, "type": "file" }));
        }
    }
    Ok(Value::Array(out))
}

fn search(root: &Root, dir: &Path, pattern: &str, found: &mut Vec<String>) -> std::io::Result<()> {
    for entry in sorted_entries(dir)? {
        if found.len() >= WALK_LIMIT {
            break;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name_matches(pattern, &name) {
            found.push(root.show(&entry.path()));
        }
        if entry.file_type()?.is_dir() {
            search(root, &entry.path(), pattern, found)?;
        }
    }
    Ok(())
}

/// `*` and `?` make `pattern` a glob on the whole name; otherwise it is a case-insensitive
/// substring.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return name.to_lowercase().contains(&pattern.to_lowercase());
    }
    fn glob(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| glob(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && glob(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && glob(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n)
}

fn info(root: &Root, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = root.show(path);
    let meta = std::fs::metadata(path).map_err(|e| io_msg("stat", &shown, e))?;
    let kind = if meta.is_dir() { "directory" } else { "file" };
    let modified = meta
        .modified()
        .ok()
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|| "unknown".into());
    Ok(format!(
        "path: {shown}\ntype: {kind}\nsize: {}\nmodified: {modified}\npermissions: {:o}",
        meta.len(),
        meta.permissions().mode() & 0o7777
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Root) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        symlink(outside.path(), root.path().join("out-dir")).unwrap();
        symlink(outside.path().join("secret"), root.path().join("out-file")).unwrap();
        symlink(outside.path().join("new"), root.path().join("dangling")).unwrap();
        symlink("sub/a.txt", root.path().join("in-link")).unwrap();
        let r = Root::new(root.path()).unwrap();
        (root, outside, r)
    }

    #[test]
    fn resolves_inside_and_refuses_outside() {
        let (dir, outside, r) = setup();
        let canon = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(r.resolve("sub/a.txt").unwrap(), canon.join("sub/a.txt"));
        assert_eq!(
            r.resolve("./sub/../sub/a.txt").unwrap(),
            canon.join("sub/a.txt")
        );
        assert_eq!(r.resolve(".").unwrap(), canon);
        assert_eq!(
            r.resolve("new/deep/file").unwrap(),
            canon.join("new/deep/file")
        );
        let abs = canon.join("sub/a.txt");
        assert_eq!(r.resolve(abs.to_str().unwrap()).unwrap(), abs);
        assert_eq!(r.resolve("in-link").unwrap(), canon.join("sub/a.txt"));
        for bad in [
            "..",
            "../x",
            "sub/../../x",
            "/etc/passwd",
            "out-dir",
            "out-dir/secret",
            "out-dir/new-file",
            "out-file",
            "dangling",
            outside.path().to_str().unwrap(),
        ] {
            let err = r.resolve(bad).expect_err(bad);
            assert!(err.contains("outside the allowed directory"), "{err}");
        }
    }

    fn call(fs: &mut Filesystem, tool: &str, args: Value) -> ToolResult {
        fs.call(tool, &args).unwrap()
    }

    #[test]
    fn token_files_are_refused_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".mew/tokens")).unwrap();
        std::fs::write(dir.path().join(".mew/tokens/human.token"), "t").unwrap();
        std::fs::write(dir.path().join(".mew/space.yaml"), "space: {}").unwrap();
        let r = Root::new(dir.path()).unwrap();
        for p in [
            ".mew/tokens/human.token",
            ".mew/tokens",
            "./.mew/x/../tokens/new",
        ] {
            let err = r.resolve(p).unwrap_err();
            assert!(err.contains("tokens"), "{p}: {err}");
        }
        assert!(r.resolve(".mew/space.yaml").is_ok());
        assert!(r.resolve("tokens/mine.txt").is_ok());
    }

    #[test]
    fn tools_work_inside_and_refuse_outside() {
        let (dir, outside, r) = setup();
        let mut fs = Filesystem::new(r);
        let w = call(
            &mut fs,
            "write_file",
            json!({"path": "sub/b.txt", "content": "hi"}),
        );
        assert!(!w.is_error, "{}", w.text);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/b.txt")).unwrap(),
            "hi"
        );
        let rd = call(&mut fs, "read_file", json!({"path": "sub/b.txt"}));
        assert_eq!(rd.text, "hi");
        let rd = call(
            &mut fs,
            "read_text_file",
            json!({"path": "sub/a.txt", "tail": 2}),
        );
        assert_eq!(rd.text, "two\nthree");
        let ls = call(&mut fs, "list_directory", json!({"path": "."}));
        assert!(
            ls.text.contains("[DIR] sub") && ls.text.contains("[FILE] out-dir"),
            "{}",
            ls.text
        );
        let mk = call(&mut fs, "create_directory", json!({"path": "x/y"}));
        assert!(!mk.is_error && dir.path().join("x/y").is_dir());
        let found = call(
            &mut fs,
            "search_files",
            json!({"path": ".", "pattern": "*.txt"}),
        );
        assert_eq!(found.text, "sub/a.txt\nsub/b.txt");
        let t = call(&mut fs, "directory_tree", json!({"path": "sub"}));
        let t: Value = serde_json::from_str(&t.text).unwrap();
        assert_eq!(t[0]["name"], "a.txt");
        let i = call(&mut fs, "get_file_info", json!({"path": "sub/b.txt"}));
        assert!(
            i.text.contains("size: 2") && i.text.contains("type: file"),
            "{}",
            i.text
        );
        let mv = call(
            &mut fs,
            "move_file",
            json!({"source": "sub/b.txt", "destination": "c.txt"}),
        );
        assert!(
            !mv.is_error && dir.path().join("c.txt").is_file(),
            "{}",
            mv.text
        );

        for (tool, args) in [
            ("read_file", json!({"path": "../secret"})),
            ("read_file", json!({"path": "out-file"})),
            ("write_file", json!({"path": "dangling", "content": "x"})),
            (
                "write_file",
                json!({"path": "out-dir/evil", "content": "x"}),
            ),
            ("list_directory", json!({"path": "out-dir"})),
            (
                "move_file",
                json!({"source": "c.txt", "destination": "../c.txt"}),
            ),
        ] {
            let r = call(&mut fs, tool, args.clone());
            assert!(r.is_error, "{tool} {args} was allowed: {}", r.text);
        }
        assert!(!outside.path().join("new").exists());
        assert!(!outside.path().join("evil").exists());
        assert!(fs.call("rm_rf", &json!({})).is_err());
        assert!(fs.call("read_file", &json!({})).is_err());
    }

    /// Regression: coder-agent called the reference server's tools, which mew's did not have.
    #[test]
    fn reference_server_tools_read_many_media_edit_and_sizes() {
        let (dir, _outside, r) = setup();
        let mut fs = Filesystem::new(r);
        let names: Vec<String> = fs
            .tools()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        for tool in [
            "read_text_file",
            "read_file",
            "read_multiple_files",
            "read_media_file",
            "write_file",
            "edit_file",
            "create_directory",
            "list_directory",
            "list_directory_with_sizes",
            "directory_tree",
            "move_file",
            "search_files",
            "get_file_info",
            "list_allowed_directories",
        ] {
            assert!(names.iter().any(|n| n == tool), "{tool} missing");
        }

        let many = call(
            &mut fs,
            "read_multiple_files",
            json!({"paths": ["sub/a.txt", "../secret", "nope.txt"]}),
        );
        assert!(!many.is_error);
        assert!(
            many.text.starts_with("sub/a.txt:\none\ntwo\nthree"),
            "{}",
            many.text
        );
        assert_eq!(many.text.matches("\n---\n").count(), 2, "{}", many.text);
        assert!(many.text.contains("../secret: Error - "), "{}", many.text);

        std::fs::write(dir.path().join("p.png"), [0x89, b'P', b'N', b'G']).unwrap();
        let img = call(&mut fs, "read_media_file", json!({"path": "p.png"}));
        let json = img.to_json_for_test();
        assert_eq!(json["content"][0]["type"], "image");
        assert_eq!(json["content"][0]["mimeType"], "image/png");
        assert_eq!(json["content"][0]["data"], "iVBORw==");
        assert!(call(&mut fs, "read_media_file", json!({"path": "../secret"})).is_error);

        std::fs::write(
            dir.path().join("e.rs"),
            "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n",
        )
        .unwrap();
        let dry = call(
            &mut fs,
            "edit_file",
            json!({"path": "e.rs", "dryRun": true,
                   "edits": [{"oldText": "let x = 1;", "newText": "let x = 2;"}]}),
        );
        assert!(!dry.is_error, "{}", dry.text);
        assert!(
            dry.text
                .starts_with("```diff\n--- e.rs\n+++ e.rs\n@@ -1,4 +1,4 @@"),
            "{}",
            dry.text
        );
        assert!(
            dry.text.contains("\n-    let x = 1;\n+    let x = 2;\n"),
            "{}",
            dry.text
        );
        assert!(std::fs::read_to_string(dir.path().join("e.rs"))
            .unwrap()
            .contains("x = 1"));
        // Indentation-insensitive match, written for real this time.
        let wet = call(
            &mut fs,
            "edit_file",
            json!({"path": "e.rs",
                   "edits": [{"oldText": "let x = 1;\nprintln!(\"{x}\");", "newText": "let y = 3;\nprintln!(\"{y}\");"}]}),
        );
        assert!(!wet.is_error, "{}", wet.text);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("e.rs")).unwrap(),
            "fn main() {\n    let y = 3;\n    println!(\"{y}\");\n}\n"
        );
        let missing = call(
            &mut fs,
            "edit_file",
            json!({"path": "e.rs", "edits": [{"oldText": "not there", "newText": "x"}]}),
        );
        assert!(missing.is_error && missing.text.contains("Could not find exact match"));

        let sizes = call(
            &mut fs,
            "list_directory_with_sizes",
            json!({"path": "sub", "sortBy": "size"}),
        );
        assert!(!sizes.is_error, "{}", sizes.text);
        assert!(sizes.text.starts_with("[FILE] a.txt"), "{}", sizes.text);
        assert!(
            sizes
                .text
                .contains("Total: 1 files, 0 directories\nCombined size: 14 B"),
            "{}",
            sizes.text
        );
        assert!(
            call(
                &mut fs,
                "list_directory_with_sizes",
                json!({"path": "out-dir"})
            )
            .is_error
        );
    }

    #[test]
    fn glob_and_substring() {
        assert!(name_matches("*.rs", "main.rs"));
        assert!(!name_matches("*.rs", "main.rsx"));
        assert!(name_matches("a?c", "abc"));
        assert!(name_matches("READ", "readme.md"));
    }
}
