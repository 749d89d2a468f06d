//! `mew init`: create a space from a template (spec/cli.md §3.1). Host-only: no containers.
//!
//! Everything is read, substituted and validated before anything is written; the new files are
//! written into a temporary directory next to `.mew/` and renamed into place, so a failure
//! leaves the directory as it was.
pub(crate) mod builtin;
pub(crate) mod template;
pub(crate) mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub(crate) use template::{discover, list_text, SearchPath, Template, Variable};
pub(crate) use vars::{Prompt, VarContext};

/// The template chosen when none is named and nobody can be asked: it needs nothing but mew.
pub(crate) const DEFAULT_TEMPLATE: &str = "echo";

/// Root `.gitignore` entries (`init` adds each one that is missing).
pub(crate) const GITIGNORE_ENTRIES: &[&str] = &[
    ".mew/node_modules/",
    ".mew/pm2/",
    ".mew/logs/",
    ".mew/fifos/",
    ".mew/tokens/",
    ".mew/.env",
    "logs/",
];

#[derive(Debug, Error)]
pub(crate) enum InitError {
    #[error("Space already initialized in {}. Use --force to overwrite.", .0.display())]
    AlreadyInitialized(PathBuf),
    #[error("Template '{name}' not found (available: {})", .available.join(", "))]
    TemplateNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error("invalid --name `{0}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")]
    InvalidName(String),
    #[error("{0}")]
    BadTemplate(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("No template selected")]
    NoneSelected,
}

impl InitError {
    /// Whether this is the user's input (exit 2) rather than the state of the directory (exit 1).
    pub(crate) fn is_invalid_input(&self) -> bool {
        !matches!(self, InitError::AlreadyInitialized(_))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct InitOptions {
    /// Directory to initialise (created if missing).
    pub(crate) dir: PathBuf,
    pub(crate) template: Option<String>,
    pub(crate) force: bool,
    pub(crate) vars: VarContext,
}

/// What `init` did, for the CLI to print.
#[derive(Debug, Clone)]
pub(crate) struct InitReport {
    pub(crate) template: String,
    /// What the template says it needs beyond mew (`template.json` `needs`).
    pub(crate) needs: Option<String>,
    pub(crate) config: PathBuf,
}

/// The config file of an existing space in `dir`, if any.
pub(crate) fn existing_config(dir: &Path) -> Option<PathBuf> {
    [dir.join(".mew").join("space.yaml"), dir.join("space.yaml")]
        .into_iter()
        .find(|p| p.exists())
}

/// Asks the user to pick one of the templates (a menu on a terminal).
pub(crate) type ChooseFn<'a> = dyn FnMut(&[Template]) -> Option<usize> + 'a;

/// Pick the template: the named one, else the only one, else ask `choose` (TTY), else the default.
pub(crate) fn select(
    templates: &[Template],
    name: Option<&str>,
    choose: Option<&mut ChooseFn>,
) -> Result<Template, InitError> {
    let find = |n: &str| templates.iter().find(|t| t.name == n).cloned();
    if let Some(n) = name {
        return find(n).ok_or_else(|| InitError::TemplateNotFound {
            name: n.to_string(),
            available: templates.iter().map(|t| t.name.clone()).collect(),
        });
    }
    match (templates, choose) {
        ([], _) => Err(InitError::BadTemplate("No templates found".into())),
        ([only], _) => Ok(only.clone()),
        (all, Some(choose)) => choose(all)
            .and_then(|i| all.get(i).cloned())
            .ok_or(InitError::NoneSelected),
        (all, None) => Ok(find(DEFAULT_TEMPLATE).unwrap_or_else(|| all[0].clone())),
    }
}

/// The files a template produces, ready to write.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) needs: Option<String>,
    pub(crate) space_yaml: String,
    pub(crate) agents: Vec<(String, Vec<u8>)>,
}

/// Read, substitute and validate the template (no writes).
pub(crate) fn render(
    t: &Template,
    dir: &Path,
    ctx: &VarContext,
    prompt: Option<Prompt>,
) -> Result<Rendered, InitError> {
    let meta = t.meta()?;
    if !meta.unused.is_empty() && crate::cli::verbosity() > 0 {
        eprintln!(
            "template '{}': template.json fields mew does not use (ignored): {}",
            t.name,
            meta.unused.join(", ")
        );
    }
    let text = t.read("space.yaml")?.ok_or_else(|| {
        InitError::BadTemplate(format!("template '{}' has no space.yaml", t.name))
    })?;
    let resolved = vars::resolve(&meta, ctx, prompt);
    let space_yaml = vars::substitute(&text, &resolved);
    let agents = t.agent_files()?;
    for rel in agents.iter().map(|(rel, _)| rel) {
        if rel.split(['/', '\\']).any(|part| part == "..") {
            return Err(InitError::BadTemplate(format!(
                "template '{}': agent file `{rel}` leaves agents/",
                t.name
            )));
        }
    }
    // What `up` will read: the generated file must load as a space.
    let file = dir.join(".mew").join("space.yaml");
    let opts = mew_space::config::LoadOptions {
        space_dir: Some(dir.to_path_buf()),
        space_id: None,
    };
    mew_space::config::parse_space(&file, &space_yaml, &opts).map_err(|e| {
        InitError::BadTemplate(format!(
            "template '{}' does not produce a valid space.yaml: {e}",
            t.name
        ))
    })?;
    Ok(Rendered {
        needs: meta.needs.clone(),
        space_yaml,
        agents,
    })
}

/// Write the space: `.mew/{space.yaml,agents/,tokens/,logs/}` and the root `.gitignore`.
/// With an existing `.mew/` (`--force`), tokens and logs are kept.
pub(crate) fn write(dir: &Path, r: &Rendered) -> Result<PathBuf, InitError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let mew = dir.join(".mew");
    let staging = dir.join(format!(".mew-init-{}", std::process::id()));
    let result = stage(&staging, r).and_then(|()| install(&staging, &mew));
    // Whatever happened, the staging directory goes (it is empty after a successful install).
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    ensure_tokens_dir(&mew.join("tokens")).map_err(werr(&mew.join("tokens")))?;
    std::fs::create_dir_all(mew.join("logs")).map_err(werr(&mew.join("logs")))?;
    update_gitignore(&dir.join(".gitignore")).map_err(werr(&dir.join(".gitignore")))?;
    Ok(mew.join("space.yaml"))
}

fn stage(staging: &Path, r: &Rendered) -> Result<(), InitError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir(staging).map_err(werr(staging))?;
    let yaml = staging.join("space.yaml");
    std::fs::write(&yaml, &r.space_yaml).map_err(werr(&yaml))?;
    let agents = staging.join("agents");
    std::fs::create_dir(&agents).map_err(werr(&agents))?;
    for (rel, bytes) in &r.agents {
        let path = agents.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(werr(parent))?;
        }
        std::fs::write(&path, bytes).map_err(werr(&path))?;
        if rel.ends_with(".js") || rel.ends_with(".cjs") || rel.ends_with(".mjs") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(werr(&path))?;
        }
    }
    Ok(())
}

/// Move the staged files into `.mew/`: the whole directory when it is new, else file by file.
fn install(staging: &Path, mew: &Path) -> Result<(), InitError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    if !mew.exists() {
        return std::fs::rename(staging, mew).map_err(werr(mew));
    }
    let old_agents = mew.join("agents");
    if old_agents.exists() {
        std::fs::remove_dir_all(&old_agents).map_err(werr(&old_agents))?;
    }
    std::fs::rename(staging.join("agents"), &old_agents).map_err(werr(&old_agents))?;
    let yaml = mew.join("space.yaml");
    std::fs::rename(staging.join("space.yaml"), &yaml).map_err(werr(&yaml))
}

/// `.mew/tokens/` (0700) with a `.gitignore` (0600) that ignores everything but itself.
fn ensure_tokens_dir(tokens: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(tokens)?;
    std::fs::set_permissions(tokens, std::fs::Permissions::from_mode(0o700))?;
    let ignore = tokens.join(".gitignore");
    std::fs::write(&ignore, "*\n!.gitignore\n")?;
    std::fs::set_permissions(&ignore, std::fs::Permissions::from_mode(0o600))
}

/// Append each missing entry on its own line (a missing file gets all of them).
fn update_gitignore(path: &Path) -> std::io::Result<()> {
    let current = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let missing: Vec<&str> = GITIGNORE_ENTRIES
        .iter()
        .copied()
        .filter(|e| !current.lines().any(|l| l.trim() == *e))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for e in missing {
        text.push_str(e);
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// The whole of `init` once the template is chosen: refuse to overwrite, render, write.
pub(crate) fn init(
    opts: &InitOptions,
    template: &Template,
    prompt: Option<Prompt>,
) -> Result<InitReport, InitError> {
    if let Some(name) = opts.vars.flags.get("SPACE_NAME") {
        if !mew_space::config::values::is_name_part(name) {
            return Err(InitError::InvalidName(name.clone()));
        }
    }
    if !opts.force {
        if let Some(existing) = existing_config(&opts.dir) {
            return Err(InitError::AlreadyInitialized(existing));
        }
    }
    let rendered = render(template, &opts.dir, &opts.vars, prompt)?;
    let config = write(&opts.dir, &rendered)?;
    Ok(InitReport {
        template: template.name.clone(),
        needs: rendered.needs.clone(),
        config,
    })
}

/// `${username}`: `$USER`, else `$USERNAME`, else `user`.
pub(crate) fn username(env: &BTreeMap<String, String>) -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|k| env.get(*k).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_else(|| "user".into())
}
