use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(_args: DoctorArgs) -> anyhow::Result<()> {
    crate::cli::not_yet("mew doctor")
}
