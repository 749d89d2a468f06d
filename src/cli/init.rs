//! `mew init [TEMPLATE]`: create `.mew/space.yaml` from a template.
use clap::Args;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::error::InvalidInput;
use crate::init::{self, InitError, InitOptions, SearchPath, Template, VarContext, Variable};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew init                      # the echo template (a menu on a terminal)\n  \
    mew init calculator --name calc-demo\n  \
    mew init --list-templates\n  \
    mew init --template-info coder-agent")]
pub(crate) struct InitArgs {
    /// Template name (built-in, ~/.mew/templates/<name> or ./templates/<name>).
    pub(crate) template: Option<String>,
    /// Space name, also its id (letters, digits, `_`, `.`, `-`).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Space description (available to templates as {{SPACE_DESCRIPTION}}).
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Model for templates with an AI agent ({{AGENT_MODEL}}).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Gateway port (accepted for compatibility; `mew space up --port` chooses it).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Overwrite an existing space (tokens and logs are kept).
    #[arg(long)]
    pub(crate) force: bool,
    /// List the available templates.
    #[arg(long)]
    pub(crate) list_templates: bool,
    /// Describe a template: what it contains and what it needs.
    #[arg(long, value_name = "NAME")]
    pub(crate) template_info: Option<String>,
    /// Directory to initialise (default: the current directory).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
}

pub(crate) async fn run(args: InitArgs) -> anyhow::Result<()> {
    let Some(report) = init_here(args, std::io::stdin().is_terminal())? else {
        return Ok(());
    };
    println!(
        "✓ Space initialized from template '{}' ({})",
        report.template,
        report.config.display()
    );
    if let Some(needs) = &report.needs {
        println!("Needs: {needs}");
    }
    println!("Try: mew");
    Ok(())
}

/// Run `init` from parsed arguments; `tty` says whether the user can be asked things.
/// `--list-templates` / `--template-info` print their answer and return `None`.
pub(crate) fn init_here(args: InitArgs, tty: bool) -> anyhow::Result<Option<init::InitReport>> {
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot determine the current directory: {e}"))?;
    let dir = match &args.space_dir {
        Some(d) => cwd.join(d),
        None => cwd.clone(),
    };
    let templates = templates_from(&cwd);
    if args.list_templates {
        print!("{}", init::list_text(&templates));
        return Ok(None);
    }
    if let Some(name) = &args.template_info {
        let t = init::select(&templates, Some(name), None).map_err(classify)?;
        print!("{}", t.info_text().map_err(classify)?);
        return Ok(None);
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut flags = BTreeMap::new();
    let pairs = [
        ("SPACE_NAME", args.name.clone()),
        ("AGENT_MODEL", args.model.clone()),
        ("SPACE_DESCRIPTION", args.description.clone()),
        ("PORT", args.port.map(|p| p.to_string())),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            flags.insert(k.to_string(), v);
        }
    }
    let dirname = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "space".into());
    let vars = VarContext {
        flags,
        username: init::username(&env),
        env,
        dirname,
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        ui_theme: "neon-pulse".into(),
    };
    let opts = InitOptions {
        dir,
        template: args.template.clone(),
        force: args.force,
        vars,
    };
    let mut choose = choose_on_terminal;
    let chooser: Option<&mut init::ChooseFn> = if tty { Some(&mut choose) } else { None };
    let template = init::select(&templates, opts.template.as_deref(), chooser).map_err(classify)?;
    let mut ask = ask_on_terminal;
    let prompt: Option<init::Prompt> = if tty { Some(&mut ask) } else { None };
    init::init(&opts, &template, prompt)
        .map(Some)
        .map_err(classify)
}

/// The templates `init` run in `cwd` can use (what `--list-templates` prints; shell completion too).
pub(crate) fn templates_from(cwd: &std::path::Path) -> Vec<Template> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    init::discover(&SearchPath::new(home.as_deref(), cwd))
}

fn classify(e: InitError) -> anyhow::Error {
    if e.is_invalid_input() {
        InvalidInput::new(e.to_string()).into()
    } else {
        e.into()
    }
}

fn read_answer() -> Option<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    let line = line.trim().to_string();
    (!line.is_empty()).then_some(line)
}

fn choose_on_terminal(templates: &[Template]) -> Option<usize> {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "Choose a template:");
    for (i, t) in templates.iter().enumerate() {
        let _ = writeln!(err, "  {}. {} ({})", i + 1, t.name, t.source.label());
    }
    let default = templates
        .iter()
        .position(|t| t.name == init::DEFAULT_TEMPLATE)
        .unwrap_or(0);
    let _ = write!(err, "Enter number [{}]: ", default + 1);
    let _ = err.flush();
    match read_answer() {
        None => Some(default),
        Some(s) => s.parse::<usize>().ok().and_then(|n| n.checked_sub(1)),
    }
}

fn ask_on_terminal(v: &Variable, default: &str) -> Option<String> {
    let mut err = std::io::stderr();
    let label = if v.description.is_empty() {
        &v.name
    } else {
        &v.description
    };
    let _ = write!(err, "{label} [{default}]: ");
    let _ = err.flush();
    read_answer()
}
