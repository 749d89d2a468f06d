use clap::Args;
use std::io::Write;
use std::path::PathBuf;

use crate::supervise::{self, SuperviseOptions};

#[derive(Debug, Args)]
pub(crate) struct SuperviseArgs {
    /// Also append the command's stdout and stderr, line by line, to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) log: Option<PathBuf>,
    /// The command to run, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
}

/// Exits the process with the child's exit code (the supervisor's status *is* the child's).
pub(crate) async fn run(args: SuperviseArgs) -> anyhow::Result<()> {
    let mut command = args.command.into_iter();
    let Some(program) = command.next() else {
        return Err(crate::error::InvalidInput::new("missing command after `--`").into());
    };
    // Exported spaces mount each participant's token as a secret file instead of setting
    // MEW_TOKEN; programs in any language keep finding it in MEW_TOKEN. (A missing or unreadable
    // secret leaves the variable unset: mew's roles then report the file themselves.)
    let env = match std::env::var("MEW_TOKEN") {
        Ok(t) if !t.is_empty() => Vec::new(),
        _ => mew_space::tokens::given_or_secret_file(None)
            .ok()
            .flatten()
            .map(|t| vec![("MEW_TOKEN".to_string(), t)])
            .unwrap_or_default(),
    };
    let opts = SuperviseOptions {
        program,
        args: command.collect(),
        log: args.log,
        env,
    };
    let code = match supervise::run(opts).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mew supervise: {e}");
            e.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}
