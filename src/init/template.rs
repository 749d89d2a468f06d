//! Finding templates (built-in, `~/.mew/templates`, `./templates`) and reading their metadata.
use super::builtin::BUILTINS;
use super::InitError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a template comes from, in discovery order (the first name match wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    BuiltIn,
    User,
    Local,
}

impl Source {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Source::BuiltIn => "built-in",
            Source::User => "user",
            Source::Local => "local",
        }
    }
}

/// `template.json` (spec/cli.md §1.8). `needs` is mew's own addition: what the space requires
/// beyond mew (an API key, an image), shown by `--template-info`. Fields mew does not use
/// (`license`, `keywords`, …) are ignored, as upstream ignores them; they are listed in `unused`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub(crate) struct TemplateMeta {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) author: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    #[serde(default)]
    pub(crate) needs: Option<String>,
    #[serde(default)]
    pub(crate) variables: Vec<Variable>,
    /// [SPEC] fields, accepted and unused.
    #[serde(default)]
    pub(crate) mcp_servers: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) agent_dependencies: Option<serde_json::Value>,
    /// Top-level fields of template.json that mew does not know (shown at `-v`).
    #[serde(skip)]
    pub(crate) unused: Vec<String>,
}

/// The fields `TemplateMeta` reads, to name the others.
const KNOWN_FIELDS: &[&str] = &[
    "name",
    "description",
    "author",
    "version",
    "tags",
    "needs",
    "variables",
    "mcp_servers",
    "agent_dependencies",
];

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub(crate) struct Variable {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) default: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) prompt: bool,
    #[serde(default)]
    pub(crate) env_sources: Vec<String>,
    #[serde(default)]
    pub(crate) sensitive: bool,
    /// Not enforced (as upstream).
    #[serde(default)]
    pub(crate) required: bool,
}

/// A template's files: embedded in the binary or a directory on disk.
#[derive(Debug, Clone)]
pub(crate) enum Files {
    Embedded(&'static [super::builtin::EmbeddedFile]),
    Dir(PathBuf),
}

/// A discovered template (metadata not yet read).
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) name: String,
    pub(crate) source: Source,
    pub(crate) files: Files,
}

/// Template directories outside the binary: `~/.mew/templates`, then `./templates`.
#[derive(Debug, Clone)]
pub(crate) struct SearchPath {
    pub(crate) user: Option<PathBuf>,
    pub(crate) local: PathBuf,
}

impl SearchPath {
    /// The usual places, given the home directory (if any) and the directory `init` runs in.
    pub(crate) fn new(home: Option<&Path>, cwd: &Path) -> SearchPath {
        SearchPath {
            user: home.map(|h| h.join(".mew").join("templates")),
            local: cwd.join("templates"),
        }
    }
}

/// Every template, first name match winning: built-in, user, local. Sorted for listing:
/// `coder-agent` first (upstream's default), then by name.
pub(crate) fn discover(search: &SearchPath) -> Vec<Template> {
    let mut out: Vec<Template> = BUILTINS
        .iter()
        .map(|b| Template {
            name: b.name.to_string(),
            source: Source::BuiltIn,
            files: Files::Embedded(b.files),
        })
        .collect();
    let dirs = [
        (search.user.as_deref(), Source::User),
        (Some(search.local.as_path()), Source::Local),
    ];
    for (dir, source) in dirs {
        let Some(dir) = dir else { continue };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        found.sort();
        for (name, path) in found {
            if !out.iter().any(|t| t.name == name) {
                out.push(Template {
                    name,
                    source,
                    files: Files::Dir(path),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.name != "coder-agent", &a.name).cmp(&(b.name != "coder-agent", &b.name)));
    out
}

/// `Available templates:` and one `  <name> (<source>)` line each.
pub(crate) fn list_text(templates: &[Template]) -> String {
    let mut s = String::from("Available templates:\n");
    for t in templates {
        s.push_str(&format!("  {} ({})\n", t.name, t.source.label()));
    }
    s
}

impl Template {
    /// A file of the template, `None` when it does not exist.
    pub(crate) fn read(&self, rel: &str) -> Result<Option<String>, InitError> {
        match &self.files {
            Files::Embedded(files) => Ok(files
                .iter()
                .find(|f| f.path == rel)
                .map(|f| f.text.to_string())),
            Files::Dir(dir) => {
                let path = dir.join(rel);
                if !path.is_file() {
                    return Ok(None);
                }
                std::fs::read_to_string(&path).map(Some).map_err(|e| {
                    InitError::BadTemplate(format!("cannot read {}: {e}", path.display()))
                })
            }
        }
    }

    /// `template.json`, or just the name when there is none (as upstream).
    pub(crate) fn meta(&self) -> Result<TemplateMeta, InitError> {
        match self.read("template.json")? {
            None => Ok(TemplateMeta {
                name: self.name.clone(),
                ..Default::default()
            }),
            Some(text) => {
                // Typed first, so a known field of the wrong type is reported at its position.
                let mut meta: TemplateMeta = serde_json::from_str(&text).map_err(|e| {
                    InitError::BadTemplate(format!(
                        "template '{}': invalid template.json: {e}",
                        self.name
                    ))
                })?;
                if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(&text) {
                    meta.unused = fields
                        .keys()
                        .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
                        .cloned()
                        .collect();
                }
                for v in &meta.variables {
                    if v.name.is_empty()
                        || !v
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(InitError::BadTemplate(format!(
                            "template '{}': invalid variable name `{}` in template.json",
                            self.name, v.name
                        )));
                    }
                }
                Ok(meta)
            }
        }
    }

    /// The files under `agents/`, as (path relative to `agents/`, bytes), sorted.
    pub(crate) fn agent_files(&self) -> Result<Vec<(String, Vec<u8>)>, InitError> {
        match &self.files {
            Files::Embedded(files) => Ok(files
                .iter()
                .filter_map(|f| {
                    f.path
                        .strip_prefix("agents/")
                        .map(|rel| (rel.to_string(), f.text.as_bytes().to_vec()))
                })
                .collect()),
            Files::Dir(dir) => {
                let root = dir.join("agents");
                let mut out = Vec::new();
                if root.is_dir() {
                    collect(&root, &root, &mut out)?;
                }
                out.sort();
                Ok(out)
            }
        }
    }

    /// `--template-info`: the metadata, then the README.
    pub(crate) fn info_text(&self) -> Result<String, InitError> {
        let meta = self.meta()?;
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut s = format!(
            "Template: {}\nDescription: {}\nVersion: {}\nAuthor: {}\nSource: {}\n",
            meta.name,
            meta.description,
            or_dash(&meta.version),
            or_dash(&meta.author),
            self.source.label()
        );
        if !meta.tags.is_empty() {
            s.push_str(&format!("Tags: {}\n", meta.tags.join(", ")));
        }
        if let Some(needs) = &meta.needs {
            s.push_str(&format!("Needs: {needs}\n"));
        }
        if !meta.variables.is_empty() {
            s.push_str("Variables:\n");
            for v in &meta.variables {
                s.push_str(&format!("  {}: {}\n", v.name, v.description));
            }
        }
        if let Some(readme) = self.read("README.md")? {
            s.push_str("\n--- README ---\n");
            s.push_str(&readme);
            if !readme.ends_with('\n') {
                s.push('\n');
            }
        }
        Ok(s)
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), InitError> {
    let err = |p: &Path, e: std::io::Error| {
        InitError::BadTemplate(format!("cannot read {}: {e}", p.display()))
    };
    for entry in std::fs::read_dir(dir).map_err(|e| err(dir, e))? {
        let path = entry.map_err(|e| err(dir, e))?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).map_err(|e| err(&path, e))?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}
