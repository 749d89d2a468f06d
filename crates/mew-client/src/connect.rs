//! `mew client connect` (spec/cli.md §3.9): join a space and bridge it to files, FIFOs or a
//! terminal. Received messages become one compact JSON line each (output log / FIFO / stdout),
//! or readable lines on a terminal; input lines become envelopes.
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;
use tokio::sync::mpsc;

use super::io::{follow_lines, stdin_lines, LineSink, SinkTarget};
use super::participant::{normalize_url, Participant, ParticipantOptions, Sender, UrlError};
use super::render::render;
use super::run::{End, Handler};
use mew_protocol::envelope;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot open output {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where received messages are written.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Sink(SinkTarget),
    /// Compact JSON lines on stdout (scripts, container logs).
    JsonStdout,
    /// Readable lines on stdout (a person at a terminal).
    Readable,
}

/// Where lines to send come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A FIFO (or file) followed like `tail -F`; each line is a JSON envelope.
    Follow(PathBuf),
    /// Piped stdin; each line is a JSON envelope. Its end stops input, not the client.
    Stdin,
    /// A terminal: text is chat, `{…}` is an envelope, `/help`, `/exit`.
    Interactive,
    None,
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub participant: ParticipantOptions,
    pub output: Output,
    pub input: Input,
}

/// Pick output and input from the flags and whether stdin is a terminal.
pub fn choose_io(
    output_log: Option<PathBuf>,
    fifo_out: Option<PathBuf>,
    fifo_in: Option<PathBuf>,
    stdin_is_tty: bool,
) -> (Output, Input) {
    let any_flag = output_log.is_some() || fifo_out.is_some() || fifo_in.is_some();
    let interactive = stdin_is_tty && !any_flag;
    let output = match (output_log, fifo_out) {
        (Some(p), _) => Output::Sink(SinkTarget::AppendFile(p)),
        (None, Some(p)) => Output::Sink(SinkTarget::Fifo(p)),
        (None, None) if interactive => Output::Readable,
        (None, None) => Output::JsonStdout,
    };
    let input = match fifo_in {
        Some(p) => Input::Follow(p),
        None if interactive => Input::Interactive,
        None if !stdin_is_tty => Input::Stdin,
        None => Input::None,
    };
    (output, input)
}

/// What one input line asks for.
#[derive(Debug, PartialEq)]
pub enum LineAction {
    Send(Value),
    Help,
    Exit,
    Invalid(String),
    Nothing,
}

pub const HELP: &str = "Type text to send a chat message, or a JSON object to send it as an \
envelope (e.g. {\"kind\":\"chat\",\"payload\":{\"text\":\"hi\"}}). /help shows this, /exit leaves.";

/// Interpret one line. In interactive mode plain text is chat and `/` commands work; otherwise
/// every non-empty line must be a JSON object.
pub fn parse_line(line: &str, interactive: bool, me: &str) -> LineAction {
    let line = line.trim();
    if line.is_empty() {
        return LineAction::Nothing;
    }
    if interactive {
        match line {
            "/help" => return LineAction::Help,
            "/exit" | "/quit" => return LineAction::Exit,
            _ => {}
        }
        if !line.starts_with('{') {
            return LineAction::Send(envelope::chat(me, line));
        }
    }
    match serde_json::from_str::<Value>(line) {
        Ok(v @ Value::Object(_)) => LineAction::Send(v),
        Ok(_) => LineAction::Invalid("Invalid JSON: expected an object".into()),
        Err(e) => LineAction::Invalid(format!("Invalid JSON: {e}")),
    }
}

/// Run until `shutdown` resolves, `/exit`, or the end of a terminal's input.
pub async fn run(
    opts: ConnectOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ConnectError> {
    normalize_url(&opts.participant.gateway)?;
    let sink = match &opts.output {
        Output::Sink(target) => {
            let path = match target {
                SinkTarget::AppendFile(p) | SinkTarget::Fifo(p) => p.clone(),
            };
            Some(
                LineSink::start(target.clone())
                    .map_err(|source| ConnectError::Output { path, source })?,
            )
        }
        _ => None,
    };
    let interactive = opts.input == Input::Interactive;
    let lines = match &opts.input {
        Input::Follow(p) => Some(follow_lines(p.clone())),
        Input::Stdin | Input::Interactive => Some(stdin_lines()),
        Input::None => None,
    };

    let me = opts.participant.participant_id.clone();
    let url = opts.participant.gateway.clone();
    let space = opts.participant.space.clone();
    let participant = Participant::spawn(opts.participant);
    if interactive {
        println!("Connecting to {url} as {me} (space {space}). /help for help.");
    }
    let mut client = Client {
        sender: participant.sender(),
        sink,
        output: opts.output,
        lines,
        interactive,
        connected: false,
        me,
        url,
        space,
    };
    super::run::run(participant, &mut client, shutdown).await;
    if let Some(sink) = client.sink {
        sink.finish(Duration::from_millis(500));
    }
    Ok(())
}

/// The connected client: received messages go to the output, input lines to the space.
struct Client {
    sender: Sender,
    sink: Option<LineSink>,
    output: Output,
    /// `None` once input has ended (or when there is none).
    lines: Option<mpsc::UnboundedReceiver<String>>,
    interactive: bool,
    connected: bool,
    me: String,
    url: String,
    space: String,
}

impl Handler for Client {
    type Input = Option<String>;
    type Output = ();

    fn on_connected(&mut self) -> ControlFlow<()> {
        self.connected = true;
        eprintln!(
            "Connected to {} as {} (space {})",
            self.url, self.me, self.space
        );
        ControlFlow::Continue(())
    }

    fn on_disconnected(&mut self, reason: String) -> ControlFlow<()> {
        // Report the transition once, not every retry.
        if self.connected {
            eprintln!("Disconnected ({reason}); reconnecting");
        } else {
            tracing::debug!("{reason}");
        }
        self.connected = false;
        ControlFlow::Continue(())
    }

    fn on_envelope(&mut self, env: Value) -> ControlFlow<()> {
        match (&self.sink, &self.output) {
            (Some(sink), _) => sink.write_line(&env.to_string()),
            (None, Output::Readable) => println!("{}", render(&env)),
            (None, _) => println!("{env}"),
        }
        ControlFlow::Continue(())
    }

    fn on_text(&mut self, text: String) -> ControlFlow<()> {
        if self.sink.is_none() {
            println!("{text}");
        }
        ControlFlow::Continue(())
    }

    async fn next_input(&mut self) -> Option<String> {
        match &mut self.lines {
            Some(lines) => lines.recv().await,
            None => std::future::pending().await,
        }
    }

    fn on_input(&mut self, line: Option<String>) -> ControlFlow<()> {
        let Some(line) = line else {
            self.lines = None;
            // Ctrl-D leaves a terminal session; the end of piped input only stops input.
            return if self.interactive {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            };
        };
        match parse_line(&line, self.interactive, &self.me) {
            LineAction::Send(env) => {
                self.sender.send(&env);
            }
            LineAction::Help => println!("{HELP}"),
            LineAction::Exit => return ControlFlow::Break(()),
            LineAction::Invalid(msg) => eprintln!("{msg}"),
            LineAction::Nothing => {}
        }
        ControlFlow::Continue(())
    }

    fn on_end(&mut self, _end: End) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_mode_follows_flags_and_tty() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            choose_io(None, None, None, true),
            (Output::Readable, Input::Interactive)
        );
        assert_eq!(
            choose_io(None, None, None, false),
            (Output::JsonStdout, Input::Stdin)
        );
        assert_eq!(
            choose_io(p("o"), p("f"), p("i"), true),
            (
                Output::Sink(SinkTarget::AppendFile("o".into())),
                Input::Follow("i".into())
            )
        );
        assert_eq!(
            choose_io(None, p("f"), None, true),
            (Output::Sink(SinkTarget::Fifo("f".into())), Input::None)
        );
    }

    #[test]
    fn lines_are_interpreted() {
        assert_eq!(parse_line("  ", true, "me"), LineAction::Nothing);
        assert_eq!(parse_line("/help", true, "me"), LineAction::Help);
        assert_eq!(parse_line("/exit", true, "me"), LineAction::Exit);
        match parse_line("hello there", true, "me") {
            LineAction::Send(v) => {
                assert_eq!(v["kind"], "chat");
                assert_eq!(v["payload"]["text"], "hello there");
                assert_eq!(v["from"], "me");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_line(r#"{"kind":"x"}"#, false, "me"),
            LineAction::Send(serde_json::json!({"kind":"x"}))
        );
        assert!(
            matches!(parse_line("hello", false, "me"), LineAction::Invalid(m) if m.starts_with("Invalid JSON"))
        );
        assert!(matches!(
            parse_line("[1]", false, "me"),
            LineAction::Invalid(_)
        ));
        assert!(matches!(
            parse_line("{bad", true, "me"),
            LineAction::Invalid(_)
        ));
    }
}
