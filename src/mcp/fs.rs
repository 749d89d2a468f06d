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

    #[test]
    fn glob_and_substring() {
        assert!(name_matches("*.rs", "main.rs"));
        assert!(!name_matches("*.rs", "main.rsx"));
        assert!(name_matches("a?c", "abc"));
        assert!(name_matches("READ", "readme.md"));
    }
}
