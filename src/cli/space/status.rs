use crate::ops::status::{build, render_table, StatusContext};
use crate::ops::target;
use clap::Args;
use mew_engine::inspect::inspect_space;
use mew_space::model::StatsSample;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// Which space: shared by status, logs, restart, exec, clean and events.
#[derive(Debug, Clone, Args)]
pub(crate) struct SpaceSelect {
    /// Space directory (default: the nearest directory at or above the current one with a
    /// .mew/space.yaml or space.yaml, else the current directory).
    #[arg(short = 'd', long)]
    pub(crate) space_dir: Option<PathBuf>,
    /// Space id (default: space.yaml's, else the containers started from the space directory).
    #[arg(long, env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Space configuration file (default: <space-dir>/.mew/space.yaml, then <space-dir>/space.yaml).
    #[arg(
        short = 'c',
        long = "space-config",
        visible_alias = "config",
        env = "MEW_SPACE_CONFIG"
    )]
    pub(crate) space_config: Option<PathBuf>,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

impl SpaceSelect {
    /// Connect, and find the space id (`None`: nothing here). Also returns the absolute dir.
    pub(crate) async fn resolve(
        &self,
    ) -> anyhow::Result<(bollard::Docker, PathBuf, Option<String>)> {
        let (docker, dir, found) = self.find().await?;
        Ok((docker, dir, found.map(|f| f.id)))
    }

    /// The running space's containers (with the engine and the space id), or the
    /// "No running space found" error when this directory or id has none.
    pub(crate) async fn running(
        &self,
    ) -> anyhow::Result<(
        bollard::Docker,
        String,
        Vec<mew_space::model::ObservedContainer>,
    )> {
        let (docker, dir, id) = self.resolve().await?;
        let Some(id) = id else {
            anyhow::bail!("{}", target::not_running(&dir));
        };
        let all = mew_engine::inspect::members(&docker, &id).await?;
        if all.is_empty() {
            anyhow::bail!("{}", target::not_running(&dir));
        }
        Ok((docker, id, all))
    }

    /// `resolve`, keeping space.yaml's name when there is one.
    pub(crate) async fn find(
        &self,
    ) -> anyhow::Result<(bollard::Docker, PathBuf, Option<target::Found>)> {
        // An explicit config file names the space; otherwise look upwards like compose.
        let dir = match (&self.space_dir, &self.space_config) {
            (None, Some(_)) => target::absolute_dir(None)?,
            (d, _) => target::space_dir(d.as_deref())?,
        };
        let docker = target::connect(self.host.as_deref()).await?;
        let found = target::resolve(
            &docker,
            &dir,
            self.space_id.as_deref(),
            self.space_config.as_deref(),
        )
        .await?;
        Ok((docker, dir, found))
    }
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// Print JSON instead of the table (schema: `mew space status --help`).
    #[arg(long, long_help = crate::ops::status::JSON_SCHEMA)]
    pub(crate) json: bool,
    /// Redraw whenever the space's containers change (and every 2 s), until Ctrl-C. With --json:
    /// one compact JSON document per line and frame.
    #[arg(long)]
    pub(crate) watch: bool,
}

pub(crate) async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let format = match (args.json, args.watch) {
        (false, _) => Format::Table,
        (true, false) => Format::Json,
        (true, true) => Format::JsonLine,
    };
    let (docker, dir, found) = args.select.find().await?;
    let Some(found) = found else {
        print!("{}", not_running(&dir, None, format)?);
        // No space named and none here: every space on the engine, as `docker compose ls`.
        let s = &args.select;
        if format == Format::Table
            && !args.watch
            && s.space_dir.is_none()
            && s.space_id.is_none()
            && s.space_config.is_none()
        {
            print!("\n{}", super::list::listing(&docker, false).await?);
        }
        return Ok(());
    };
    if args.watch {
        return watch(&docker, &dir, &found, format).await;
    }
    let (text, _) = snapshot(&docker, &dir, &found, format, &HashMap::new()).await?;
    print!("{text}");
    Ok(())
}

/// Upstream's sentence (or, for a space space.yaml names, that it is stopped), or for JSON a
/// document without participants (exit code 0 either way).
fn not_running(
    dir: &std::path::Path,
    found: Option<&target::Found>,
    format: Format,
) -> anyhow::Result<String> {
    if format == Format::Table {
        return Ok(match found {
            Some(f) => format!(
                "Space {} is stopped (no containers in {}); start it with `mew up`.\n",
                f.name
                    .as_ref()
                    .map_or_else(|| f.id.clone(), |n| format!("{n} ({})", f.id)),
                dir.display()
            ),
            None => format!("{}\n", target::not_running(dir)),
        });
    }
    let empty = build(
        &[],
        &StatusContext {
            space_id: found.map(|f| f.id.clone()).unwrap_or_default(),
            ..Default::default()
        },
    );
    to_json(&empty, format)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    /// Pretty-printed.
    Json,
    /// One line per document (`--watch --json`).
    JsonLine,
}

fn to_json(status: &crate::ops::status::SpaceStatus, format: Format) -> anyhow::Result<String> {
    Ok(if format == Format::JsonLine {
        format!("{}\n", serde_json::to_string(status)?)
    } else {
        format!("{}\n", serde_json::to_string_pretty(status)?)
    })
}

/// One rendering of the space, and the stats it used (for the next frame's CPU figures).
async fn snapshot(
    docker: &bollard::Docker,
    dir: &std::path::Path,
    found: &target::Found,
    format: Format,
    previous: &HashMap<String, StatsSample>,
) -> anyhow::Result<(String, HashMap<String, StatsSample>)> {
    let id = found.id.as_str();
    let facts = inspect_space(docker, id).await?;
    if facts.is_empty() {
        let text = not_running(dir, Some(found), format)?;
        return Ok((text, HashMap::new()));
    }
    let connected = crate::ops::gateway_http::connected_ids(&facts, id).await;
    let ctx = StatusContext {
        space_id: id.to_string(),
        space_name: found.name.clone(),
        now_rfc3339: chrono::Utc::now().to_rfc3339(),
        connected,
        previous: previous.clone(),
    };
    let status = build(&facts, &ctx);
    let text = if format != Format::Table {
        to_json(&status, format)?
    } else {
        render_table(&status)
    };
    let samples = facts
        .into_iter()
        .filter_map(|f| Some((f.container.id, f.stats?)))
        .collect();
    Ok((text, samples))
}

async fn watch(
    docker: &bollard::Docker,
    dir: &std::path::Path,
    found: &target::Found,
    format: Format,
) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use std::io::IsTerminal;
    let clear = std::io::stdout().is_terminal() && format == Format::Table;
    let mut events = Box::pin(mew_engine::events::follow(docker, &found.id));
    let mut previous = HashMap::new();
    loop {
        let (text, samples) = snapshot(docker, dir, found, format, &previous).await?;
        previous = samples;
        let mut out = std::io::stdout().lock();
        if clear {
            // Home + clear screen, then the new frame.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        drop(out);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            ev = events.next() => match ev {
                // Several events usually come together (die, stop, …): let them settle.
                Some(Ok(_)) => tokio::time::sleep(std::time::Duration::from_millis(150)).await,
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the container engine stopped sending events; run the command again"),
            },
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
}
