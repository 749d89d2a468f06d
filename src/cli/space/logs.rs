use crate::cli::space::status::SpaceSelect;
use crate::error::InvalidInput;
use crate::ops::logfmt::{use_colour, Prefixer};
use clap::Args;
use futures_util::StreamExt;
use mew_engine::inspect::select;
use mew_engine::logs::timestamp_key;
use mew_engine::logs::{merged, LogLine, LogOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// Participants to show (default: all).
    pub(crate) participants: Vec<String>,
    /// Keep following new output.
    #[arg(short, long)]
    pub(crate) follow: bool,
    /// Only output since this time: RFC 3339 (2024-05-01T10:00:00Z), a duration (10m, 1h) or unix seconds.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Number of lines to show from the end of each participant's log (or `all`).
    #[arg(short = 'n', long)]
    pub(crate) tail: Option<String>,
    /// Show the engine's timestamp on each line.
    #[arg(short, long)]
    pub(crate) timestamps: bool,
}

pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let since = match &args.since {
        Some(s) => Some(crate::ops::since::parse_since(
            s,
            chrono::Utc::now().timestamp(),
        )?),
        None => None,
    };
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| {
            InvalidInput::new(format!("invalid --tail `{n}`: a number of lines or `all`"))
        })?),
    };
    let (docker, dir, found) = args.select.find().await?;
    let all = match &found {
        Some(f) => mew_engine::inspect::members(&docker, &f.id).await?,
        None => Vec::new(),
    };
    if all.is_empty() {
        // No containers (the space is down): what the participants wrote is still in the files.
        let logs_dir = saved_logs_dir(&args.select, &dir, found.as_ref());
        return print_files(&dir, &logs_dir, &args.participants, tail);
    }
    let chosen = select(&all, &args.participants).map_err(InvalidInput::new)?;
    let pairs: Vec<(String, String)> = chosen
        .iter()
        .map(|m| (m.participant_id().to_string(), m.name.clone()))
        .collect();
    let colour = use_colour(
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    let prefixer = Prefixer::new(pairs.iter().map(|(p, _)| p.as_str()), colour);
    let opts = LogOptions {
        follow: args.follow,
        since,
        tail,
    };
    let print = |out: &mut dyn Write, l: &LogLine| -> std::io::Result<()> {
        let ts = if args.timestamps {
            l.timestamp.as_deref()
        } else {
            None
        };
        writeln!(out, "{}", prefixer.line(&l.participant, ts, &l.text))
    };
    let mut stream = Box::pin(merged(&docker, &pairs, &opts));
    if args.follow {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                next = stream.next() => match next {
                    Some(line) => {
                        let mut out = std::io::stdout().lock();
                        if print(&mut out, &line?).and_then(|_| out.flush()).is_err() {
                            return Ok(()); // stdout closed (e.g. piped into head)
                        }
                    }
                    None => return Ok(()),
                },
            }
        }
    }
    // Everything is already written: gather, then order by the engine's timestamps so that
    // lines of different participants interleave as they happened.
    let mut lines = Vec::new();
    while let Some(line) = stream.next().await {
        lines.push(line?);
    }
    lines.sort_by_key(|l| timestamp_key(l.timestamp.as_deref()));
    let mut out = std::io::stdout().lock();
    for l in &lines {
        if print(&mut out, l).is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    Ok(())
}

/// Where a space's `<participant>.log` files are: as space.yaml (and the space id) decide, else
/// `logs/<id>/` when it exists for an explicit `--space-id`, else `logs/`.
fn saved_logs_dir(
    sel: &SpaceSelect,
    dir: &Path,
    found: Option<&crate::ops::target::Found>,
) -> PathBuf {
    if let Ok(space) = mew_space::config::find_and_load(
        sel.space_dir.as_deref(),
        sel.space_config.as_deref(),
        found.map(|f| f.id.as_str()),
    ) {
        return space.logs_dir();
    }
    let logs = dir.join("logs");
    match sel.space_id.as_deref() {
        Some(id) if logs.join(id).is_dir() => logs.join(id),
        _ => logs,
    }
}

/// Print the log files of a stopped space, one participant after the other (the files have no
/// timestamps to merge them by); `tail` lines of each.
fn print_files(
    dir: &Path,
    logs_dir: &Path,
    participants: &[String],
    tail: Option<u64>,
) -> anyhow::Result<()> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(logs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".log")?
                .to_string();
            path.is_file().then_some((name, path))
        })
        .collect();
    if files.is_empty() {
        anyhow::bail!("{}", crate::ops::target::not_running(dir));
    }
    files.sort();
    if let Some(unknown) = participants
        .iter()
        .find(|p| !files.iter().any(|(n, _)| n == *p))
    {
        return Err(InvalidInput::new(format!(
            "no container and no log file {}/{unknown}.log for participant {unknown}",
            logs_dir.display()
        ))
        .into());
    }
    files.retain(|(n, _)| participants.is_empty() || participants.contains(n));
    eprintln!(
        "The space has no containers; showing what its log files in {} hold.",
        logs_dir.display()
    );
    let colour = use_colour(
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    let prefixer = Prefixer::new(files.iter().map(|(n, _)| n.as_str()), colour);
    let mut out = std::io::stdout().lock();
    for (name, path) in &files {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n as usize));
        for line in &lines[skip..] {
            if writeln!(out, "{}", prefixer.line(name, None, line)).is_err() {
                return Ok(()); // stdout closed
            }
        }
    }
    let _ = out.flush();
    Ok(())
}
