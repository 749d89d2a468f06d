use crate::ops::clean::{describe, plan, Scope};
use crate::ops::target;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long)]
    pub(crate) space_dir: Option<PathBuf>,
    /// Space id (default: the containers started from the space directory).
    #[arg(long, env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Also clean every space whose directory no longer exists.
    #[arg(long)]
    pub(crate) all: bool,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also stop and remove running containers (and so their networks).
    #[arg(long)]
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
        force: args.force,
    };
    let mut p = plan(&objs, &scope, &|d| std::path::Path::new(d).exists());
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
    if p.remove.is_empty() {
        println!("Nothing to clean.");
        return Ok(());
    }
    if args.dry_run {
        println!("Would remove:");
        for o in &p.remove {
            println!("  {}", describe(o));
        }
        return Ok(());
    }
    let failed = mew_engine::clean::remove(&docker, &p.remove).await;
    for o in &p.remove {
        if !failed.iter().any(|(f, _)| f.id == o.id && f.kind == o.kind) {
            println!("Removed {}", describe(o));
        }
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
    println!("✓ Cleanup complete! Removed {} object(s).", p.remove.len());
    Ok(())
}
