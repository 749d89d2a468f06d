//! `mew space snapshot`: the space (files, what runs, images by id) as one reproducible archive;
//! `--check FILE` verifies one.
use clap::Args;
use std::path::PathBuf;

use crate::error::InvalidInput;
use crate::ops::snapshot::{self, SnapshotOptions};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew space snapshot -o demo.tar.gz          # compressed (.tar.gz / .tgz), else a plain tar\n  \
    mew space snapshot --check demo.tar.gz     # verify every entry's sha256\n  \
    mew space restore demo.tar.gz --space-dir ../demo-copy --space-id demo2 --up\n\n\
    The same space and images give the same bytes. Logs are left out unless --with-logs,\n\
    tokens unless --with-secrets (restore then makes new ones).")]
pub(crate) struct SnapshotArgs {
    /// Archive to write (default: <space id>.snapshot.tar.gz in the current directory).
    #[arg(short, long, value_name = "FILE", conflicts_with = "check")]
    pub(crate) output: Option<PathBuf>,
    /// Also archive the participants' and the gateway's logs.
    #[arg(long)]
    pub(crate) with_logs: bool,
    /// Also archive the participants' tokens (.mew/tokens/).
    #[arg(long)]
    pub(crate) with_secrets: bool,
    /// Verify an archive's entries against its manifest instead of writing one.
    #[arg(long, value_name = "FILE")]
    pub(crate) check: Option<PathBuf>,
    /// Space directory (default: the current directory).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
    /// The space.yaml to read (default: <dir>/.mew/space.yaml, else <dir>/space.yaml).
    #[arg(short = 'c', long, visible_alias = "config", value_name = "FILE")]
    pub(crate) space_config: Option<PathBuf>,
    /// Override space.id (the id the space runs under).
    #[arg(long, value_name = "ID", env = "MEW_SPACE_ID")]
    pub(crate) space_id: Option<String>,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    if let Some(file) = args.check {
        let shown = file.display().to_string();
        let m = tokio::task::spawn_blocking(move || snapshot::archive::verify(&file)).await??;
        println!(
            "✓ {shown}: {} entries match the manifest (space {}, {} image(s), mew {})",
            m.entries.len() + 1,
            m.space_id,
            m.images.len(),
            m.mew_version
        );
        return Ok(());
    }
    if let Some(id) = &args.space_id {
        mew_space::config::values::check_space_id(id).map_err(InvalidInput::new)?;
    }
    let output = match args.output {
        Some(o) => o,
        None => {
            let space = mew_space::config::find_and_load(
                args.space_dir.as_deref(),
                args.space_config.as_deref(),
                args.space_id.as_deref(),
            )?;
            PathBuf::from(format!("{}.snapshot.tar.gz", space.id))
        }
    };
    let opts = SnapshotOptions {
        host: args.host,
        space_dir: Some(crate::ops::target::space_dir(args.space_dir.as_deref())?),
        space_config: args.space_config,
        space_id: args.space_id,
        output,
        with_logs: args.with_logs,
        with_secrets: args.with_secrets,
    };
    let r = snapshot::snapshot(&opts).await?;
    if r.config_changed_since_up == Some(true) {
        eprintln!("! space.yaml changed since `up`: the snapshot holds what runs (the manifest's participants say what differs)");
    }
    println!(
        "✓ Snapshot {}: {} file(s), {} image(s), sha256 {}",
        r.output.display(),
        r.files,
        r.images,
        r.sha256
    );
    Ok(())
}
