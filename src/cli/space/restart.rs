use crate::cli::space::status::SpaceSelect;
use crate::engine::inspect::select;
use crate::error::InvalidInput;
use clap::Args;

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub select: SpaceSelect,
    /// Participants to restart (default: all, the gateway first).
    pub participants: Vec<String>,
}

pub async fn run(args: RestartArgs) -> anyhow::Result<()> {
    let (docker, id, all) = args.select.running().await?;
    // Not in the middle of an `up` or `down` of the same space.
    let _lock = crate::apply::space::lock_space(&id, &super::up::print_progress).await?;
    let chosen = select(&all, &args.participants).map_err(InvalidInput::new)?;
    let done = crate::engine::restart::restart(&docker, &id, &chosen).await?;
    println!("✓ Restarted {}", done.join(", "));
    Ok(())
}
