//! `mew space restore`: a snapshot back into a space directory (and, with --up, running).
use clap::Args;
use std::path::PathBuf;

use crate::ops::snapshot::{self, RestoreOptions};
use crate::ops::space::{self, UpOptions};

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The archive `mew space snapshot` wrote.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Directory to restore into (default: ./<space id>); must be empty or missing unless --force.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub(crate) space_dir: Option<PathBuf>,
    /// Run the space under this id (written into the restored space.yaml).
    #[arg(long, value_name = "ID")]
    pub(crate) space_id: Option<String>,
    /// Start the space once restored, on the archived images.
    #[arg(long)]
    pub(crate) up: bool,
    /// With --up: gateway port (default: the first free of 8080-8089).
    #[arg(short, long, requires = "up", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: Option<u16>,
    /// Write into a directory that is not empty (files of the archive replace those there).
    #[arg(long)]
    pub(crate) force: bool,
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let opts = RestoreOptions {
        host: args.host.clone(),
        file: args.file,
        space_dir: args.space_dir,
        space_id: args.space_id.clone(),
        force: args.force,
    };
    let r = snapshot::restore(&opts).await?;
    for tag in &r.moved_tags {
        eprintln!("! {tag} now names the archived image again");
    }
    println!(
        "✓ Restored {} file(s) into {}; {} image(s) loaded{}",
        r.files,
        r.space_dir.display(),
        r.loaded.len(),
        if r.new_tokens {
            "; new tokens made"
        } else {
            ""
        }
    );
    let id_flag = match &args.space_id {
        Some(id) if !r.id_written => format!(" --space-id {id}"),
        _ => String::new(),
    };
    if !args.up {
        println!(
            "To start: mew space up -d {}{id_flag}",
            r.space_dir.display()
        );
        return Ok(());
    }
    let up = UpOptions {
        host: args.host,
        space_dir: Some(r.space_dir.clone()),
        space_id: Some(r.space_id.clone()),
        port: args.port,
        bind: "127.0.0.1".into(),
        join_timeout: Some(std::time::Duration::from_secs(20)),
        ..UpOptions::default()
    };
    let report = space::up(&up, &super::up::print_progress).await?;
    for line in
        snapshot::image_mismatches(up.host.as_deref(), &report.space_id, &r.archived_images).await?
    {
        eprintln!("! {line}");
    }
    super::up::print_summary(&report);
    Ok(())
}
