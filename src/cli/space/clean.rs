use crate::ops::clean::{describe, files_to_clean, plan, remove_files, FileScope, Kind, Scope};
use crate::ops::target;
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "Without --logs or --fifos: logs, FIFOs and the space's stopped leftovers \
(containers, networks, volumes). A running space asks first (Continue? y/N) unless --force."
)]
pub(crate) struct CleanArgs {
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long)]
    pub(crate) space_dir: Option<PathBuf>,
    /// Space id (default: the containers started from the space directory).
    #[arg(long, env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Only the files in logs/ (no FIFOs, no engine objects).
    #[arg(long)]
    pub(crate) logs: bool,
    /// Only the FIFOs in fifos/ (a running client's are kept).
    #[arg(long)]
    pub(crate) fifos: bool,
    /// Everything: also .mew runtime state (tokens kept unless --tokens), the space's running
    /// containers (with --force), and leftovers of spaces whose directory no longer exists.
    #[arg(long)]
    pub(crate) all: bool,
    /// With --all: also the tokens in .mew/tokens (new ones are made at the next `up`).
    #[arg(long)]
    pub(crate) tokens: bool,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask; with --all also remove the space's running containers.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: CleanArgs) -> anyhow::Result<()> {
    let dir = target::space_dir(args.space_dir.as_deref())?;
    let docker = target::connect(args.host.as_deref()).await?;
    let objs = mew_engine::clean::labelled_objects(&docker).await?;
    let scope = Scope {
        space_id: args
            .space_id
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| target::from_config(&dir, None).map(|c| c.id)),
        dir: Some(dir.to_string_lossy().into_owned()),
        all: args.all,
        force: args.all && args.force,
    };
    let files_scope = FileScope::from_flags(args.logs, args.fifos, args.all, args.tokens);
    // This space's running containers (by participant): their FIFOs stay open and in use.
    let this = Scope {
        all: false,
        ..scope.clone()
    };
    let running: BTreeSet<String> = objs
        .iter()
        .filter(|o| o.kind == Kind::Container && o.running && this.covers(o, &|_| true))
        .map(|o| {
            o.name
                .strip_prefix(&format!("{}-", o.space))
                .unwrap_or(&o.name)
                .to_string()
        })
        .collect();
    let busy = if args.all && args.force {
        BTreeSet::new()
    } else {
        running.clone()
    };
    let files = files_to_clean(&dir, &files_scope, &busy);
    if !args.dry_run && !args.force {
        if !running.is_empty() && args.all {
            // Exit 1 as upstream: the space's state, not the command line, is in the way.
            anyhow::bail!(
                "Cannot clean .mew while the space is running: stop it with `mew space down`, \
                 or add --force to remove its containers too"
            );
        }
        let question = if !running.is_empty() {
            Some("The space is running. Continue? (y/N): ")
        } else if args.all {
            Some("This removes the space's logs, FIFOs and .mew runtime state. Are you sure? (y/N): ")
        } else {
            None
        };
        if let Some(q) = question {
            if !confirm(q)? {
                println!("Aborted.");
                return Ok(());
            }
        }
    }
    let mut p = if FileScope::files_only(args.logs, args.fifos, args.all) {
        Default::default()
    } else {
        plan(&objs, &scope, &|d| std::path::Path::new(d).exists())
    };
    // Hold each space's lock while removing its objects; a space that an `up`, `down` or
    // `restart` is working on right now is left alone (its network may be brand new).
    let mut locks = std::collections::BTreeMap::new();
    let mut busy = std::collections::BTreeSet::new();
    for o in &p.remove {
        if locks.contains_key(&o.space) || busy.contains(&o.space) {
            continue;
        }
        match mew_engine::lock::try_lock(&mew_engine::lock::space_lock_path(&o.space))? {
            Some(l) => {
                locks.insert(o.space.clone(), l);
            }
            None => {
                busy.insert(o.space.clone());
            }
        }
    }
    let (kept, remove): (Vec<_>, Vec<_>) =
        p.remove.into_iter().partition(|o| busy.contains(&o.space));
    p.remove = remove;
    for o in kept {
        p.skipped
            .push((o, "another mew command is working on this space".into()));
    }
    for (o, why) in &p.skipped {
        println!("Keeping {}: {why}", describe(o));
    }
    if p.remove.is_empty() && files.is_empty() {
        println!("Nothing to clean.");
        return Ok(());
    }
    let shown = |f: &PathBuf| f.strip_prefix(&dir).unwrap_or(f).display().to_string();
    if args.dry_run {
        println!("Would clean:");
        for o in &p.remove {
            println!("  {}", describe(o));
        }
        for f in &files {
            println!("  {}", shown(f));
        }
        return Ok(());
    }
    let failed = mew_engine::clean::remove(&docker, &p.remove).await;
    for o in &p.remove {
        if !failed.iter().any(|(f, _)| f.id == o.id && f.kind == o.kind) {
            println!("Removed {}", describe(o));
        }
    }
    let failed_files = remove_files(&files);
    for f in &files {
        if !failed_files.iter().any(|(p, _)| p == f) {
            println!("Removed {}", shown(f));
        }
    }
    for (f, e) in &failed_files {
        eprintln!("Could not remove {}: {e}", f.display());
    }
    if let Some((_, first)) = failed.first() {
        let first = mew_space::error_line(first);
        for (o, e) in &failed {
            eprintln!(
                "Could not remove {}: {}",
                describe(o),
                mew_space::error_line(e)
            );
        }
        anyhow::bail!(
            "{} object(s) could not be removed ({first}); check them with `mew space status` and retry",
            failed.len()
        );
    }
    if let Some((f, e)) = failed_files.first() {
        anyhow::bail!(
            "{} file(s) could not be removed ({}: {e}); check their permissions and retry",
            failed_files.len(),
            f.display()
        );
    }
    println!(
        "✓ Cleanup complete! Removed {} engine object(s) and {} file(s).",
        p.remove.len(),
        files.len()
    );
    Ok(())
}

/// Ask on the terminal (or read a line from piped input, as upstream does): `y`/`yes` goes on.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let a = answer.trim().to_ascii_lowercase();
    Ok(a == "y" || a == "yes")
}
