//! Bare `mew`: the newcomer's path (spec/cli.md §3.0). No space here → `init` (a template menu
//! on a terminal, else the echo template), then up and connect; a space that is not running →
//! up and connect; a running one → connect.
use crate::ops::space::{self as runner, UpOptions};
use std::io::IsTerminal;

use super::init::InitArgs;
use super::space::connect::{connect_to, running_gateway};

pub(crate) async fn run() -> anyhow::Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot determine the current directory: {e}"))?;
    // Inside a space's sub-folder, that space is meant, not a new nested one.
    if mew_space::config::discover::find_upwards(&cwd).is_none() {
        let args = InitArgs {
            template: None,
            name: None,
            description: None,
            model: None,
            port: None,
            force: false,
            list_templates: false,
            template_info: None,
            space_dir: None,
        };
        let report = super::init::init_here(args, std::io::stdin().is_terminal())?;
        if let Some(r) = report {
            println!("✓ Space initialized from template '{}'", r.template);
        }
        println!("Space initialized! Starting and connecting...");
        return up_and_connect().await;
    }
    let space = mew_space::config::find_and_load(None, None, None)?;
    match running_gateway(&space, None).await {
        Ok(url) => {
            println!("Connecting to running space...");
            connect_to(&space, None, Some(url), None).await
        }
        Err(_) => {
            println!("Starting space and connecting interactively...");
            up_and_connect().await
        }
    }
}

async fn up_and_connect() -> anyhow::Result<()> {
    let opts = UpOptions {
        host: None,
        space_dir: None,
        space_config: None,
        space_id: None,
        port: None,
        bind: "127.0.0.1".into(),
        images: Vec::new(),
        log_level: None,
        join_timeout: None,
        dry_run: false,
    };
    let report = runner::up(&opts, &super::space::up::print_progress).await?;
    let url = report.gateway_ws();
    println!("Gateway: {url} (stop the space with `mew space down`)");
    let space = mew_space::config::find_and_load(None, None, None)?;
    connect_to(&space, None, Some(url), None).await
}
