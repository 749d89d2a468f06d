//! `mew image build`: build the runtime image from this executable.
use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mew_engine::image::{self, BuildProgress, Runtime};
use std::io::IsTerminal;

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Build the mew runtime image from this executable (no registry, no base image).
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Build(args) => build(args).await,
    }
}

async fn build(args: BuildArgs) -> anyhow::Result<()> {
    let engine = mew_engine::connect(args.host.as_deref()).await?;
    let rt = Runtime::current()?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(3), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:20}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("building {}", rt.image_tag()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = |p: BuildProgress| match p {
        BuildProgress::Context(bytes) => {
            bar.set_message(format!("sending {} MB of context", bytes / 1_000_000))
        }
        BuildProgress::Step(step, of) => {
            bar.set_length(u64::from(of));
            bar.set_position(u64::from(step));
            bar.set_message(format!("building {}", rt.image_tag()));
        }
    };
    let tag = image::build_runtime_image(&engine.docker, &progress).await;
    bar.finish_and_clear();
    let tag = tag?;
    let size = engine
        .docker
        .inspect_image(&tag)
        .await
        .context("cannot inspect the new image")?
        .size
        .unwrap_or(0);
    println!(
        "Built {tag} (also tagged {}), {:.1} MB, {} executable",
        Runtime::version_tag(),
        size as f64 / 1_000_000.0,
        if rt.interpreter.is_some() {
            "dynamically linked"
        } else {
            "static"
        }
    );
    Ok(())
}
