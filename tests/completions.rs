//! Shell completion, for real: the script `mew completions bash|fish` writes is loaded into the
//! actual shell, completion is driven as at a TAB, and the candidates it offers are checked.
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::engine::{
    docker, engine_env, ensure_busybox, labels_for, mew_command, output_text, unique_space_id,
    SpaceGuard, BUSYBOX,
};
use mew_space::plan::Role;

/// The script for `shell`, written into `dir`.
fn script(dir: &Path, shell: &str) -> std::path::PathBuf {
    let out = mew_command()
        .args(["completions", shell])
        .output()
        .expect("run mew");
    assert!(out.status.success(), "{}", output_text(&out));
    let path = dir.join(format!("mew.{shell}"));
    std::fs::write(&path, &out.stdout).expect("write script");
    path
}

/// What bash offers for `line` (the cursor at its end) typed in `cwd`, and what it printed on
/// stderr. The command word is `mew`, which is not on PATH here: the script falls back to the
/// binary that wrote it.
fn bash_complete(script: &Path, cwd: &Path, line: &str, env: &[(&str, String)]) -> Completion {
    let driver = r#"source "$1"
read -ra COMP_WORDS <<< "$2"
if [[ "$2" == *" " ]]; then COMP_WORDS+=(""); fi
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$2"
COMP_POINT=${#COMP_LINE}
_mew
printf '%s\n' "${COMPREPLY[@]}""#;
    run_shell(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", driver, "bash"])
            .arg(script)
            .arg(line),
        cwd,
        env,
    )
}

struct Completion {
    words: Vec<String>,
    stderr: String,
    took: Duration,
}

impl Completion {
    /// The candidates that are not flags.
    fn values(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .words
            .iter()
            .map(String::as_str)
            .filter(|w| !w.starts_with('-'))
            .collect();
        v.sort();
        v
    }
}

fn run_shell(cmd: &mut Command, cwd: &Path, env: &[(&str, String)]) -> Completion {
    let home = tempfile::tempdir().expect("home");
    let started = Instant::now();
    let out = cmd
        .current_dir(cwd)
        // No user templates or shell configuration from the machine running the tests.
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG")
        .envs(engine_env())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run the shell");
    let took = started.elapsed();
    assert!(out.status.success(), "{}", output_text(&out));
    Completion {
        words: String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            // fish: `candidate<TAB>description`
            .map(|l| l.split('\t').next().unwrap_or(l).to_string())
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    }
}

/// The names `mew init --list-templates` prints in `cwd`.
fn listed_templates(cwd: &Path) -> Vec<String> {
    let out = mew_command()
        .args(["init", "--list-templates"])
        .current_dir(cwd)
        .env("HOME", cwd)
        .output()
        .expect("run mew");
    assert!(out.status.success(), "{}", output_text(&out));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() > 3, "{names:?}");
    names
}

/// A space directory: `.mew/space.yaml` with two agents (containers) and a human (only a
/// token), and a sub folder to complete from.
fn space_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".mew")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("src/deep")).expect("mkdir");
    std::fs::write(
        dir.path().join(".mew/space.yaml"),
        "space: {id: compl-test, name: Completion}\n\
         participants:\n  \
           worker:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n  \
           helper:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n  \
           human:\n    capabilities: [{kind: chat}]\n",
    )
    .expect("space.yaml");
    dir
}

#[test]
fn bash_completes_templates_like_list_templates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = script(tmp.path(), "bash");
    let cwd = tempfile::tempdir().expect("cwd");
    // A local template (./templates/<name>) is offered too: the same discovery as `init`.
    std::fs::create_dir_all(cwd.path().join("templates/my-own")).expect("mkdir");
    let listed = listed_templates(cwd.path());
    assert!(listed.iter().any(|t| t == "my-own"), "{listed:?}");

    let c = bash_complete(&s, cwd.path(), "mew init ", &[]);
    assert_eq!(c.values(), listed, "stderr: {}", c.stderr);
    assert!(c.words.iter().any(|w| w == "--list-templates"), "flags too");
    let c = bash_complete(&s, cwd.path(), "mew init --template-info ", &[]);
    assert_eq!(c.values(), listed);
    assert_eq!(
        c.words.len(),
        listed.len(),
        "only template names after --template-info"
    );
    let c = bash_complete(&s, cwd.path(), "mew init my", &[]);
    assert_eq!(c.words, ["my-own"]);
    assert_eq!(c.stderr, "");
}

#[test]
fn bash_completes_participants_from_space_yaml_without_the_engine() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = script(tmp.path(), "bash");
    let dir = space_dir();
    // No engine at all: participants come from space.yaml alone.
    let no_engine = [(
        "DOCKER_HOST",
        "unix:///nonexistent/mew-test.sock".to_string(),
    )];
    let want = ["gateway", "helper", "worker"];
    for line in [
        "mew space logs ",
        "mew space exec ",
        "mew space restart ",
        "mew logs -f ",
        "mew exec ",
        "mew restart ",
    ] {
        let c = bash_complete(&s, &dir.path().join("src/deep"), line, &no_engine);
        assert_eq!(c.values(), want, "{line}: {:?} {}", c.words, c.stderr);
        assert_eq!(c.stderr, "", "{line}");
    }
    let c = bash_complete(&s, &dir.path().join("src"), "mew logs w", &no_engine);
    assert_eq!(c.words, ["worker"]);
    // From elsewhere, the space named by -d.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let line = format!("mew space logs -d {} ", dir.path().display());
    let c = bash_complete(&s, elsewhere.path(), &line, &no_engine);
    assert_eq!(c.values(), want, "{:?} {}", c.words, c.stderr);
    // No space here: no participants, no error.
    let c = bash_complete(&s, elsewhere.path(), "mew logs ", &no_engine);
    assert_eq!(c.values(), Vec::<&str>::new(), "{:?}", c.words);
    assert_eq!(c.stderr, "");
}

#[test]
fn bash_space_ids_without_an_engine_are_none_quickly_and_silent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = script(tmp.path(), "bash");
    let no_engine = [(
        "DOCKER_HOST",
        "unix:///nonexistent/mew-test.sock".to_string(),
    )];
    for line in ["mew space status --space-id ", "mew logs --space-id "] {
        let c = bash_complete(&s, tmp.path(), line, &no_engine);
        assert_eq!(c.words, Vec::<String>::new(), "{line}");
        assert_eq!(c.stderr, "", "{line}");
        assert!(c.took < Duration::from_secs(3), "{line}: {:?}", c.took);
    }
}

#[tokio::test]
async fn bash_and_fish_complete_space_ids_from_the_engine() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let id = unique_space_id("compl");
    let _guard = SpaceGuard::new(&id);
    // One labelled container is a space to `mew space list`; created, never started.
    let body = ContainerCreateBody {
        image: Some(BUSYBOX.to_string()),
        cmd: Some(vec!["/bin/busybox".into(), "true".into()]),
        labels: Some(
            labels_for(&id, "gateway", Role::Gateway)
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    };
    let name = format!("{id}-gateway");
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .expect("create container");

    let tmp = tempfile::tempdir().expect("tempdir");
    let s = script(tmp.path(), "bash");
    let c = bash_complete(&s, tmp.path(), "mew space status --space-id ", &[]);
    assert!(
        c.words.contains(&id),
        "{id} not in {:?} {}",
        c.words,
        c.stderr
    );
    let prefix = &id[..id.len() - 1];
    let c = bash_complete(
        &s,
        tmp.path(),
        &format!("mew space status --space-id {prefix}"),
        &[],
    );
    assert!(c.words.contains(&id), "{:?}", c.words);
    assert!(
        c.words.iter().all(|w| w.starts_with(prefix)),
        "{:?}",
        c.words
    );
    if let Some(fish) = fish_script(tmp.path()) {
        let c = fish_complete(&fish, tmp.path(), "mew space status --space-id ", &[]);
        assert!(c.words.contains(&id), "fish: {:?} {}", c.words, c.stderr);
    }
}

/// The fish script, when fish is installed (scripts/ensure-engine.sh installs it for the tests).
fn fish_script(dir: &Path) -> Option<std::path::PathBuf> {
    let found = Command::new("fish").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("fish is not installed: its completion is not checked");
        return None;
    }
    Some(script(dir, "fish"))
}

/// What fish offers for `line` typed in `cwd` (`complete -C`).
fn fish_complete(script: &Path, cwd: &Path, line: &str, env: &[(&str, String)]) -> Completion {
    run_shell(
        Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(script)
            .arg(line),
        cwd,
        env,
    )
}

#[test]
fn fish_completes_templates_and_participants() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(s) = fish_script(tmp.path()) else {
        return;
    };
    let cwd = tempfile::tempdir().expect("cwd");
    let listed = listed_templates(cwd.path());
    let c = fish_complete(&s, cwd.path(), "mew init ", &[]);
    assert_eq!(c.values(), listed, "stderr: {}", c.stderr);
    let c = fish_complete(&s, cwd.path(), "mew init --template-info ", &[]);
    assert_eq!(c.values(), listed, "stderr: {}", c.stderr);

    let dir = space_dir();
    let no_engine = [(
        "DOCKER_HOST",
        "unix:///nonexistent/mew-test.sock".to_string(),
    )];
    for line in ["mew space exec ", "mew logs "] {
        let c = fish_complete(&s, &dir.path().join("src"), line, &no_engine);
        assert_eq!(
            c.values(),
            ["gateway", "helper", "worker"],
            "{line}: {}",
            c.stderr
        );
    }
    let line = format!("mew restart -d {} ", dir.path().display());
    let c = fish_complete(&s, cwd.path(), &line, &no_engine);
    assert_eq!(c.values(), ["gateway", "helper", "worker"], "{}", c.stderr);
    let started = Instant::now();
    let c = fish_complete(&s, cwd.path(), "mew status --space-id ", &no_engine);
    assert_eq!(c.words, Vec::<String>::new());
    assert_eq!(c.stderr, "");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// What zsh offers for `line` typed in `cwd`: an interactive zsh on a pseudo-terminal (zpty)
/// with compinit and the script loaded, TAB pressed, and `compadd` recording what it is given.
/// Waits for candidates (up to 10 s), so only for lines that have some.
fn zsh_complete(script: &Path, cwd: &Path, line: &str, env: &[(&str, String)]) -> Completion {
    let hits = tempfile::tempdir().expect("tempdir");
    let hits = hits.path().join("hits");
    let driver = r#"zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1=''; autoload -U compinit && compinit -u; source $1"
zpty -w z 'compadd () { local -a h; builtin compadd -O h "$@"; print -l -- $h >> '"$2"'; }'
zpty -w -n z "$3"$'\t'
for i in {1..100}; do [[ -s $2 ]] && break; sleep 0.1; done
sleep 0.5
zpty -d z"#;
    let mut c = run_shell(
        Command::new("zsh")
            .args(["-f", "-c", driver, "zsh"])
            .arg(script)
            .arg(&hits)
            .arg(line),
        cwd,
        env,
    );
    c.words = std::fs::read_to_string(&hits)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    c
}

#[test]
fn zsh_completes_templates_and_participants() {
    if !Command::new("zsh")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("zsh is not installed: its completion is not checked");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = script(tmp.path(), "zsh");
    let cwd = tempfile::tempdir().expect("cwd");
    let listed = listed_templates(cwd.path());
    let c = zsh_complete(&s, cwd.path(), "mew init ", &[]);
    assert_eq!(c.values(), listed, "stderr: {}", c.stderr);
    let dir = space_dir();
    let no_engine = [(
        "DOCKER_HOST",
        "unix:///nonexistent/mew-test.sock".to_string(),
    )];
    let c = zsh_complete(&s, &dir.path().join("src"), "mew space exec ", &no_engine);
    assert_eq!(c.values(), ["gateway", "helper", "worker"], "{}", c.stderr);
}
