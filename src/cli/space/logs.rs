use crate::cli::space::status::SpaceSelect;
use crate::engine::inspect::select;
use crate::engine::logs::{merged, LogLine, LogOptions};
use crate::error::InvalidInput;
use crate::ops::logfmt::{timestamp_key, use_colour, Prefixer};
use clap::Args;
use futures_util::StreamExt;
use std::io::{IsTerminal, Write};

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub select: SpaceSelect,
    /// Participants to show (default: all).
    pub participants: Vec<String>,
    /// Keep following new output.
    #[arg(short, long)]
    pub follow: bool,
    /// Only output since this time: RFC 3339 (2024-05-01T10:00:00Z), a duration (10m, 1h) or unix seconds.
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of each participant's log (or `all`).
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Show the engine's timestamp on each line.
    #[arg(short, long)]
    pub timestamps: bool,
}

pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
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
    let (docker, _, all) = args.select.running().await?;
    let chosen = select(&all, &args.participants).map_err(InvalidInput::new)?;
    let pairs: Vec<(String, String)> = chosen
        .iter()
        .map(|m| (m.participant.clone(), m.name.clone()))
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
