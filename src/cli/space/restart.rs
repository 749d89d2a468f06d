use crate::cli::space::status::SpaceSelect;
use crate::error::InvalidInput;
use clap::Args;
use mew_engine::inspect::select;

#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// Participants to restart (default: all, the gateway first).
    pub(crate) participants: Vec<String>,
}

pub(crate) async fn run(args: RestartArgs) -> anyhow::Result<()> {
    let (docker, id, all) = args.select.running().await?;
    // Not in the middle of an `up` or `down` of the same space.
    let _lock = crate::ops::space::lock_space(&id, &super::up::print_progress).await?;
    let chosen = select(&all, &args.participants).map_err(InvalidInput::new)?;
    let done = crate::ops::restart::restart(&docker, &chosen).await?;
    println!("✓ Restarted {}", done.join(", "));
    Ok(())
}
