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
    // Under `mew space up` and in exports the token is only in the mounted secret file
    // (`MEW_TOKEN_FILE`), never in the container's configuration: the program gets it in
    // MEW_TOKEN and MEW_TOKEN_<ID> (upstream agents read the latter), and in place of `${TOKEN}`
    // in its args. (A missing or unreadable secret leaves them unset: mew's roles then report
    // the file themselves.)
    let given = std::env::var("MEW_TOKEN").ok().filter(|t| !t.is_empty());
    let token = given
        .clone()
        .or_else(|| mew_space::tokens::given_or_secret_file(None).ok().flatten());
    let mut env = Vec::new();
    if let Some(t) = &token {
        if given.is_none() {
            env.push(("MEW_TOKEN".to_string(), t.clone()));
            if let Ok(id) = std::env::var("MEW_PARTICIPANT_ID") {
                env.push((mew_space::tokens::env_var_name(&id), t.clone()));
            }
        }
        // `${TOKEN}` in space.yaml's `env` values.
        for (k, v) in std::env::vars() {
            if v.contains(mew_space::tokens::TOKEN_PLACEHOLDER) {
                env.push((k, v.replace(mew_space::tokens::TOKEN_PLACEHOLDER, t)));
            }
        }
    }
    let opts = SuperviseOptions {
        program,
        args: command
            .map(|a| match &token {
                Some(t) => a.replace(mew_space::tokens::TOKEN_PLACEHOLDER, t),
                None => a,
            })
            .collect(),
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
