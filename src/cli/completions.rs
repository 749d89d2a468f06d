//! `mew completions <shell>`: shell completion scripts generated from the command-line
//! definition itself, so they never fall behind it. Values that depend on where you are
//! (templates, participants, space ids) come from the hidden `mew __complete` at TAB time.
use clap::{Args, CommandFactory, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    mew completions bash > ~/.local/share/bash-completion/completions/mew\n  \
    mew completions zsh > ~/.zfunc/_mew      # uses zsh's bash compatibility\n  \
    mew completions fish > ~/.config/fish/completions/mew.fish")]
pub(crate) struct CompletionsArgs {
    /// Shell to write the script for.
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

pub(crate) async fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    print!("{}", script(args.shell));
    Ok(())
}

/// What `mew __complete` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Candidates {
    /// Template names, as `mew init --list-templates` lists them.
    Templates,
    /// The gateway and the participants with a container, from space.yaml (no engine).
    Participants,
    /// Space ids on the engine, from its labels (nothing when it does not answer).
    Spaces,
}

impl Candidates {
    fn name(self) -> &'static str {
        match self {
            Candidates::Templates => "templates",
            Candidates::Participants => "participants",
            Candidates::Spaces => "spaces",
        }
    }
}

/// `mew __complete <what>`: called by the completion scripts; prints one candidate a line and
/// never fails (a TAB must not print errors on the terminal).
#[derive(Debug, Args)]
pub(crate) struct CompleteArgs {
    #[arg(value_enum)]
    pub(crate) what: Candidates,
    /// Space directory given on the command line being completed.
    #[arg(short = 'd', long)]
    pub(crate) space_dir: Option<PathBuf>,
}

pub(crate) async fn complete(args: CompleteArgs) -> anyhow::Result<()> {
    for c in candidates(&args).await {
        println!("{c}");
    }
    Ok(())
}

async fn candidates(args: &CompleteArgs) -> Vec<String> {
    match args.what {
        Candidates::Templates => std::env::current_dir()
            .map(|cwd| {
                super::init::templates_from(&cwd)
                    .into_iter()
                    .map(|t| t.name)
                    .collect()
            })
            .unwrap_or_default(),
        Candidates::Participants => {
            match mew_space::config::find_and_load(args.space_dir.as_deref(), None, None) {
                Ok(space) => std::iter::once("gateway".to_string())
                    .chain(
                        space
                            .participants
                            .into_iter()
                            .filter(|p| p.kind.has_container())
                            .map(|p| p.id),
                    )
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        Candidates::Spaces => {
            // Bounded: a TAB that hangs on an engine that does not answer is worse than none.
            let ask = async {
                let docker = crate::ops::target::connect(None).await.ok()?;
                mew_engine::inspect::all_space_containers(&docker)
                    .await
                    .ok()
            };
            match tokio::time::timeout(Duration::from_secs(2), ask).await {
                Ok(Some(containers)) => crate::ops::list::rows(&containers)
                    .into_iter()
                    .map(|r| r.id)
                    .collect(),
                _ => Vec::new(),
            }
        }
    }
}

/// One command of the tree: its path (`mew space up`), subcommands, flags and values.
struct Node {
    path: String,
    subcommands: Vec<(String, String)>,
    flags: Vec<Flag>,
    /// Values of positional arguments with a fixed set (`bash`, `zsh`, …).
    values: Vec<String>,
    /// Positional values that `mew __complete` lists.
    dynamic: Option<Candidates>,
}

struct Flag {
    /// `--port` or `-p`.
    name: String,
    help: String,
    takes_value: bool,
    dynamic: Option<Candidates>,
}

fn about(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string().lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// The values of a flag that `mew __complete` lists.
fn flag_candidates(long: &str) -> Option<Candidates> {
    match long {
        "space-id" => Some(Candidates::Spaces),
        "template-info" => Some(Candidates::Templates),
        _ => None,
    }
}

/// The positional values of a command that `mew __complete` lists.
fn positional_candidates(path: &str) -> Option<Candidates> {
    match path {
        "mew init" => Some(Candidates::Templates),
        "mew logs" | "mew exec" | "mew restart" | "mew space logs" | "mew space exec"
        | "mew space restart" => Some(Candidates::Participants),
        _ => None,
    }
}

fn walk(cmd: &clap::Command, path: String, out: &mut Vec<Node>) {
    let mut node = Node {
        dynamic: positional_candidates(&path),
        path: path.clone(),
        subcommands: Vec::new(),
        flags: Vec::new(),
        values: Vec::new(),
    };
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let help = about(arg.get_help());
        let takes_value = arg.get_action().takes_values();
        let dynamic = arg.get_long().and_then(flag_candidates);
        if let Some(long) = arg.get_long() {
            node.flags.push(Flag {
                name: format!("--{long}"),
                help: help.clone(),
                takes_value,
                dynamic,
            });
        }
        if let Some(short) = arg.get_short() {
            node.flags.push(Flag {
                name: format!("-{short}"),
                help,
                takes_value,
                dynamic,
            });
        }
        if arg.is_positional() {
            node.values.extend(
                arg.get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string()),
            );
        }
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        node.subcommands
            .push((sub.get_name().to_string(), about(sub.get_about())));
        walk(sub, format!("{path} {}", sub.get_name()), out);
    }
    out.push(node);
}

fn nodes() -> Vec<Node> {
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "mew".into(), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The mew that wrote the script: what completion runs when the command word is not one it can
/// run itself (an alias, `~/bin/mew`).
fn this_mew() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "mew".into())
}

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(&nodes(), &this_mew()),
        Shell::Zsh => format!(
            "#compdef mew\n# zsh completion for mew (through zsh's bash compatibility).\n\
             autoload -U +X bashcompinit && bashcompinit\n{}",
            bash(&nodes(), &this_mew())
        ),
        Shell::Fish => fish(&nodes(), &this_mew()),
    }
}

fn bash_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn bash(nodes: &[Node], mew: &str) -> String {
    let paths: Vec<String> = nodes
        .iter()
        .filter(|n| n.path != "mew")
        .map(|n| format!("\"{}\"", n.path))
        .collect();
    let mut s = format!(
        "# bash completion for mew (generated by `mew completions bash`)\n\
         _mew_ask() {{\n  local mew=\"${{COMP_WORDS[0]}}\"\n  \
         type -P \"$mew\" >/dev/null 2>&1 || mew={}\n  \
         \"$mew\" __complete \"$@\" 2>/dev/null </dev/null\n}}\n\
         _mew() {{\n  local cur prev path w i opts dyn=\"\" dir=()\n  \
         cur=\"${{COMP_WORDS[COMP_CWORD]}}\"\n  prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n  \
         path=mew\n  for ((i = 1; i < COMP_CWORD; i++)); do\n    w=\"${{COMP_WORDS[i]}}\"\n    \
         case \"$w\" in\n      -d|--space-dir) dir=(-d \"${{COMP_WORDS[i+1]}}\") ;;\n    esac\n    \
         case \"$path $w\" in\n      ",
        bash_quote(mew)
    );
    s.push_str(&paths.join("|"));
    s.push_str(") path=\"$path $w\" ;;\n    esac\n  done\n  case \"$prev\" in\n");
    let mut value_flags: Vec<(&str, Candidates)> = nodes
        .iter()
        .flat_map(|n| &n.flags)
        .filter_map(|f| Some((f.name.as_str(), f.dynamic?)))
        .filter(|(name, _)| name.starts_with("--"))
        .collect();
    value_flags.sort_by_key(|(name, _)| *name);
    value_flags.dedup();
    for (flag, what) in value_flags {
        s.push_str(&format!(
            "    {flag}) COMPREPLY=($(compgen -W \"$(_mew_ask {} \"${{dir[@]}}\")\" -- \"$cur\")); return ;;\n",
            what.name()
        ));
    }
    s.push_str("  esac\n  case \"$path\" in\n");
    for n in nodes {
        let mut words: Vec<&str> = n
            .subcommands
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        words.extend(n.values.iter().map(String::as_str));
        words.extend(n.flags.iter().map(|f| f.name.as_str()));
        let dynamic = match n.dynamic {
            Some(what) => format!(" dyn={}", what.name()),
            None => String::new(),
        };
        s.push_str(&format!(
            "    \"{}\") opts=\"{}\";{dynamic} ;;\n",
            n.path,
            words.join(" ")
        ));
    }
    s.push_str(
        "    *) opts=\"\" ;;\n  esac\n  \
         if [[ -n $dyn && $cur != -* ]]; then opts=\"$opts $(_mew_ask \"$dyn\" \"${dir[@]}\")\"; fi\n  \
         COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n}\ncomplete -o default -F _mew mew\n",
    );
    s
}

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish(nodes: &[Node], mew: &str) -> String {
    let paths: Vec<String> = nodes
        .iter()
        .filter(|n| n.path != "mew")
        .map(|n| fish_quote(&n.path))
        .collect();
    let mut s = format!(
        "# fish completion for mew (generated by `mew completions fish`)\n\
         set -g __mew_paths {}\n\
         function __mew_path\n    set -l path mew\n    for w in (commandline -opc)[2..-1]\n        \
         if contains -- \"$path $w\" $__mew_paths\n            set path \"$path $w\"\n        end\n    \
         end\n    echo $path\nend\n\
         function __mew_ask\n    set -l words (commandline -opc)\n    set -l mew $words[1]\n    \
         command -q -- $mew; or set mew {}\n    set -l dir\n    \
         for i in (seq 2 (math (count $words) - 1))\n        \
         if contains -- $words[$i] -d --space-dir\n            set dir -d $words[(math $i + 1)]\n        \
         end\n    end\n    $mew __complete $argv $dir 2>/dev/null </dev/null\nend\n",
        paths.join(" "),
        fish_quote(mew)
    );
    for n in nodes {
        let cond = fish_quote(&format!("test (__mew_path) = \"{}\"", n.path));
        for (name, help) in &n.subcommands {
            s.push_str(&format!(
                "complete -c mew -f -n {cond} -a {} -d {}\n",
                fish_quote(name),
                fish_quote(help)
            ));
        }
        for v in &n.values {
            s.push_str(&format!(
                "complete -c mew -f -n {cond} -a {}\n",
                fish_quote(v)
            ));
        }
        if let Some(what) = n.dynamic {
            s.push_str(&format!(
                "complete -c mew -f -n {cond} -a '(__mew_ask {})'\n",
                what.name()
            ));
        }
        for f in &n.flags {
            let opt = match f.name.strip_prefix("--") {
                Some(long) => format!("-l {}", fish_quote(long)),
                None => format!("-s {}", fish_quote(f.name.trim_start_matches('-'))),
            };
            let value = match (f.dynamic, f.takes_value) {
                (Some(what), _) => format!(" -x -a '(__mew_ask {})'", what.name()),
                (None, true) => " -r".to_string(),
                (None, false) => String::new(),
            };
            s.push_str(&format!(
                "complete -c mew -n {cond} {opt}{value} -d {}\n",
                fish_quote(&f.help)
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_cover_the_command_tree() {
        let b = script(Shell::Bash);
        assert!(b.contains("\"mew\") opts=\"init space up down"), "{b}");
        assert!(b.contains("\"mew space export\") opts=\""));
        assert!(b.contains("\"mew completions\") opts=\"bash zsh fish"));
        assert!(b.contains("\"mew init\") opts=\""));
        assert!(b.contains("--list-templates"));
        assert!(b.ends_with("complete -o default -F _mew mew\n"));
        let f = script(Shell::Fish);
        assert!(f.contains("-a 'connect' -d 'Join a running space"));
        assert!(f.contains("test (__mew_path) = \"mew init\"' -l 'template-info'"));
        assert!(b.contains("dyn=templates"), "{b}");
        assert!(b.contains("\"mew space exec\") opts=\""));
        assert!(b.contains("    --space-id) COMPREPLY=($(compgen -W \"$(_mew_ask spaces"));
        assert!(
            !b.contains("__complete\") opts"),
            "the hidden command is not offered"
        );
        assert!(
            f.contains("= \"mew logs\"' -a '(__mew_ask participants)'"),
            "{f}"
        );
        assert!(f.contains("-l 'space-id' -x -a '(__mew_ask spaces)'"));
        assert!(f.contains("-l 'since' -r -d"));
        assert!(script(Shell::Zsh).starts_with("#compdef mew\n"));
        assert_eq!(script(Shell::Bash), b, "stable");
    }
}
