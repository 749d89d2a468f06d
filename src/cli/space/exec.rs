use crate::cli::space::status::SpaceSelect;
use crate::error::InvalidInput;
use clap::Args;
use mew_engine::exec::{exec, ExecRequest};
use mew_engine::inspect::select;
use std::io::{IsTerminal, Write};

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    pub(crate) select: SpaceSelect,
    /// Participant whose container runs the command.
    pub(crate) participant: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub(crate) cmd: Vec<String>,
}

pub(crate) async fn run(args: ExecArgs) -> anyhow::Result<()> {
    let (docker, _, all) = args.select.running().await?;
    let chosen =
        select(&all, std::slice::from_ref(&args.participant)).map_err(InvalidInput::new)?;
    let Some(member) = chosen.first() else {
        anyhow::bail!("no container for participant {}", args.participant);
    };
    if member.state != mew_space::model::ContainerState::Running {
        let participant = member.participant_id();
        anyhow::bail!(
            "{participant} is not running ({}); start it with `mew space restart {participant}`",
            member.state,
        );
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let req = ExecRequest {
        container: member.name.clone(),
        cmd: args.cmd,
        tty,
        terminal_size: Some(terminal_size),
    };
    let raw = if tty { RawMode::enable() } else { None };
    let code = exec(&docker, &req).await;
    drop(raw);
    let code = code?;
    let _ = std::io::stdout().flush();
    // The command's own exit code is ours (like `docker exec`); 255 caps what a process can return.
    std::process::exit(code.clamp(0, 255) as i32);
}

/// (columns, rows) of the terminal on stdout.
fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointer we pass, which lives on our stack.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some((ws.ws_col, ws.ws_row))
}

/// Puts the terminal in raw mode (keys go straight to the container's terminal) until dropped.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enable() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}
