use crate::cli::space::status::SpaceSelect;
use crate::engine::inspect::{members, select};
use crate::error::InvalidInput;
use crate::ops::target;
use clap::Args;

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub select: SpaceSelect,
    /// Participants to restart (default: all, the gateway first).
    pub participants: Vec<String>,
}

pub async fn run(args: RestartArgs) -> anyhow::Result<()> {
    let (docker, dir, id) = args.select.resolve().await?;
    let Some(id) = id else {
        anyhow::bail!("{}", target::not_running(&dir));
    };
    let all = members(&docker, &id).await?;
    if all.is_empty() {
        anyhow::bail!("{}", target::not_running(&dir));
    }
    let chosen = select(&all, &args.participants).map_err(InvalidInput::new)?;
    let done = crate::engine::restart::restart(&docker, &id, &chosen).await?;
    println!("✓ Restarted {}", done.join(", "));
    Ok(())
}
