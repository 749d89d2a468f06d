//! `mew init`: every built-in template initialises without a terminal and yields a valid space;
//! bad input exits 2 (an existing space 1) and leaves nothing half-written.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BUILTINS: &[&str] = &[
    "calculator",
    "cat-maze",
    "coder-agent",
    "echo",
    "note-taker",
];

fn mew(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        // A private HOME, so ~/.mew/templates of the machine never leak in.
        .env("HOME", cwd)
        .env_remove("OPENAI_API_KEY")
        .env_remove("MEW_SPACE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mew")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn load(dir: &Path) -> mew_space::config::Space {
    let file = dir.join(".mew/space.yaml");
    mew_space::config::load(&file, &mew_space::config::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{} does not load: {e}", file.display()))
}

#[test]
fn every_builtin_template_initialises_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    for name in BUILTINS {
        let out = mew(tmp.path(), &["init", name, "-d", name], &[]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let dir = tmp.path().join(name);
        let space = load(&dir);
        assert_eq!(space.id, *name, "space.id derives from the directory name");
        assert!(!space.participants.is_empty());
        let mew_dir = dir.join(".mew");
        for sub in ["agents", "logs", "tokens"] {
            assert!(mew_dir.join(sub).is_dir(), "{name}: .mew/{sub}");
        }
        let mode = std::fs::metadata(mew_dir.join("tokens"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let ignore = std::fs::read_to_string(mew_dir.join("tokens/.gitignore")).unwrap();
        assert_eq!(ignore, "*\n!.gitignore\n");
        let root_ignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
        assert!(root_ignore.lines().any(|l| l == ".mew/tokens/"));
        let yaml = std::fs::read_to_string(mew_dir.join("space.yaml")).unwrap();
        assert!(
            !yaml.contains("{{"),
            "{name}: unsubstituted placeholder in\n{yaml}"
        );
        // Nothing left over from staging.
        assert_eq!(entries(&dir), [".gitignore", ".mew"]);
    }
    let agent = tmp.path().join("note-taker/.mew/agents/assistant.cjs");
    let mode = std::fs::metadata(&agent).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "agent scripts are executable");
}

#[test]
fn default_template_without_terminal_is_echo_and_name_sets_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mew(tmp.path(), &["init", "--name", "my-space.1"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("'echo'"));
    let space = load(tmp.path());
    assert_eq!(space.id, "my-space.1");
    assert!(space.participant("echo").is_some());
}

#[test]
fn list_and_info() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mew(tmp.path(), &["init", "--list-templates"], &[]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let mut lines = listing.lines();
    assert_eq!(lines.next(), Some("Available templates:"));
    assert_eq!(lines.next(), Some("  coder-agent (built-in)"));
    let rest: Vec<&str> = lines.collect();
    let mut sorted = rest.clone();
    sorted.sort();
    assert_eq!(rest, sorted, "alphabetical after coder-agent");
    assert_eq!(rest.len(), BUILTINS.len() - 1);
    for name in BUILTINS {
        let out = mew(tmp.path(), &["init", "--template-info", name], &[]);
        assert!(out.status.success());
        let info = text(&out.stdout);
        assert!(info.starts_with(&format!("Template: {name}\n")), "{info}");
        assert!(info.contains("\nNeeds: "), "{name} says what it needs");
        assert!(info.contains("--- README ---"));
    }
    let out = mew(tmp.path(), &["init", "--template-info", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["init", "nope"],
        &["init", "echo", "--name", "bad name"],
        &["init", "echo", "--name=-x"],
        &["init", "echo", "--name", "a/../b"],
    ];
    for args in cases {
        let out = mew(tmp.path(), args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(entries(tmp.path()).is_empty(), "{args:?} wrote something");
    }
    let err = text(&mew(tmp.path(), &["init", "nope"], &[]).stderr);
    assert!(
        err.contains("echo") && err.contains("calculator"),
        "lists templates: {err}"
    );

    // A directory that cannot be created (below a regular file).
    std::fs::write(tmp.path().join("file"), "x").unwrap();
    let out = mew(tmp.path(), &["init", "echo", "-d", "file/sub"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(entries(tmp.path()), ["file"]);
}

#[test]
fn existing_space_needs_force_which_keeps_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(mew(tmp.path(), &["init", "echo"], &[]).status.success());
    let token = tmp.path().join(".mew/tokens/human.token");
    std::fs::write(&token, "secret-token").unwrap();
    let before = std::fs::read_to_string(tmp.path().join(".mew/space.yaml")).unwrap();

    let out = mew(tmp.path(), &["init", "calculator"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--force"));
    let after = std::fs::read_to_string(tmp.path().join(".mew/space.yaml")).unwrap();
    assert_eq!(before, after);

    for _ in 0..2 {
        let out = mew(tmp.path(), &["init", "calculator", "--force"], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(load(tmp.path()).participant("calculator").is_some());
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "secret-token");
    let ignore = std::fs::read_to_string(tmp.path().join(".gitignore")).unwrap();
    assert_eq!(ignore.lines().filter(|l| *l == ".mew/tokens/").count(), 1);
    assert_eq!(entries(tmp.path()), [".gitignore", ".mew"]);

    // A legacy ./space.yaml counts as a space too.
    let other = tmp.path().join("legacy");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("space.yaml"),
        "space: {id: x}\nparticipants: {}\n",
    )
    .unwrap();
    let out = mew(&other, &["init", "echo"], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn local_templates_variables_and_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("templates/mine");
    std::fs::create_dir_all(t.join("agents/lib")).unwrap();
    std::fs::write(
        t.join("template.json"),
        r#"{"name": "mine", "description": "d", "variables": [
            {"name": "SPACE_NAME", "default": "${dirname}"},
            {"name": "GREETING", "env_sources": ["MY_GREETING"], "default": "hello"},
            {"name": "WHO", "default": "${username}"},
            {"name": "DB_PASSWORD", "env_sources": ["DB_PW"], "sensitive": true}
        ]}"#,
    )
    .unwrap();
    std::fs::write(
        t.join("space.yaml"),
        "space:\n  id: \"{{SPACE_ID}}\"\n  name: \"{{SPACE_NAME}} $& {{GREETING}} {{WHO}}\"\n\
         participants:\n  human:\n    env:\n      PW: \"{{DB_PASSWORD}}\"\n      K: \"{{OPENAI_API_KEY}}\"\n",
    )
    .unwrap();
    std::fs::write(t.join("agents/lib/a.txt"), "agent file").unwrap();
    // The local template is listed after the built-ins.
    let listing = text(&mew(tmp.path(), &["init", "--list-templates"], &[]).stdout);
    assert!(listing.contains("  mine (local)\n"), "{listing}");

    let out = mew(
        tmp.path(),
        &["init", "mine", "-d", "sp"],
        &[
            ("MY_GREETING", "hi there"),
            ("DB_PW", "hunter2"),
            ("USER", "ann"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = std::fs::read_to_string(tmp.path().join("sp/.mew/space.yaml")).unwrap();
    assert!(yaml.contains("name: \"sp $& hi there ann\""), "{yaml}");
    assert!(!yaml.contains("hunter2") && !yaml.contains("{{"), "{yaml}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("sp/.mew/agents/lib/a.txt")).unwrap(),
        "agent file"
    );

    // A template.json with a missing or mistyped field is refused before anything is written.
    let bad = tmp.path().join("templates/broken");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(t.join("space.yaml"), bad.join("space.yaml")).unwrap();
    for json in [
        r#"{"description": "no name"}"#,
        r#"{"name": "b", "variables": [{"default": "x"}]}"#,
        r#"{"name": "b", "tags": "not-a-list"}"#,
        "not json",
    ] {
        std::fs::write(bad.join("template.json"), json).unwrap();
        let out = mew(tmp.path(), &["init", "broken", "-d", "b"], &[]);
        assert_eq!(out.status.code(), Some(2), "{json}");
        assert!(
            text(&out.stderr).contains("template.json"),
            "{}",
            text(&out.stderr)
        );
        assert!(!tmp.path().join("b").exists());
    }
    // A template whose space.yaml does not validate.
    std::fs::write(bad.join("template.json"), r#"{"name": "broken"}"#).unwrap();
    std::fs::write(
        bad.join("space.yaml"),
        "space: {id: x}\nparticipants:\n  a: {bogus_key: 1}\n",
    )
    .unwrap();
    let out = mew(tmp.path(), &["init", "broken", "-d", "b"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("b").exists());
}

/// On a terminal, `init` offers a menu of templates and asks for the variables that prompt.
#[test]
fn on_a_terminal_init_asks() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = pty.slave;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mew"))
        .arg("init")
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut reader = master.try_clone().unwrap();
    let s2 = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            s2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !screen.lock().unwrap().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {needle:?}:\n{}",
                screen.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for("Choose a template:");
    // The menu lists templates as --list-templates orders them: coder-agent, calculator, …
    wait_for("  2. calculator (built-in)");
    master.write_all(b"2\n").unwrap();
    wait_for("Name of your space [");
    master.write_all(b"tty-space\n").unwrap();
    assert!(
        child.wait().unwrap().success(),
        "{}",
        screen.lock().unwrap()
    );
    let space = load(tmp.path());
    assert_eq!(space.id, "tty-space");
    assert!(space.participant("calculator").is_some());
}

/// Upstream ignores template.json fields it does not use; mew refused them (`unknown field
/// license`). They are accepted, named at `-v`, and a known field of the wrong type still fails
/// with its position.
#[test]
fn template_json_with_extra_fields_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("templates/extra");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("template.json"),
        r#"{"name": "extra", "description": "d", "license": "MIT", "keywords": ["a"],
            "repository": {"type": "git", "url": "x"}, "homepage": "h",
            "variables": [{"name": "GREETING", "default": "hi", "type": "string"}]}"#,
    )
    .unwrap();
    std::fs::write(
        t.join("space.yaml"),
        "space:\n  id: extra\n  name: \"{{GREETING}}\"\nparticipants:\n  human: {}\n",
    )
    .unwrap();
    let out = mew(tmp.path(), &["init", "extra", "-d", "sp"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("license"),
        "{}",
        text(&out.stderr)
    );
    let yaml = std::fs::read_to_string(tmp.path().join("sp/.mew/space.yaml")).unwrap();
    assert!(yaml.contains("name: \"hi\""), "{yaml}");

    let out = mew(tmp.path(), &["-v", "init", "extra", "-d", "sp2"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("license") && err.contains("keywords") && err.contains("homepage"),
        "{err}"
    );

    std::fs::write(
        t.join("template.json"),
        "{\"name\": \"extra\",\n \"license\": \"MIT\",\n \"tags\": 7}",
    )
    .unwrap();
    let out = mew(tmp.path(), &["init", "extra", "-d", "sp3"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert!(!tmp.path().join("sp3").exists());
}

/// Templates written for the upstream CLI, kept under `tests/fixtures/upstream-templates/`
/// (template.json fields mew does not use, a BOM and CRLF, flow sequences over several lines,
/// anchors and a merge key, block scalars, `x-` keys, agents in sub-folders), initialise
/// unchanged and yield spaces that load.
#[test]
fn upstream_style_template_fixtures_initialise_and_load() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-templates");
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        copy_tree(&entry.path(), &templates.join(&name));
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["helper-duo", "note-pad", "tool-space"]);

    for name in &names {
        let dir = tmp.path().join(format!("sp-{name}"));
        let out = mew(
            tmp.path(),
            &["init", name, "-d", dir.to_str().unwrap()],
            &[("HELPER_MODEL", "tiny")],
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let space = load(&dir);
        let ids: Vec<&str> = space.participants.iter().map(|p| p.id.as_str()).collect();
        let find = |id: &str| space.participants.iter().find(|p| p.id == id).unwrap();
        match name.as_str() {
            "helper-duo" => {
                assert_eq!(ids, ["human", "helper-a", "helper-b"]);
                // helper-b has helper-a's program through the merge key, and its own token.
                assert_eq!(find("helper-b").args, find("helper-a").args);
                assert_eq!(find("helper-b").args[0], "./agents/helper.js");
                assert_eq!(find("helper-b").tokens, ["helper-b-token"]);
                assert_eq!(find("helper-a").env.get("HELPER_MODEL").unwrap(), "tiny");
                assert!(dir.join(".mew/agents/helper.js").is_file());
            }
            "tool-space" => {
                assert_eq!(ids, ["human", "fs", "caller"]);
                let server = find("fs").mcp_server.clone().unwrap();
                assert_eq!(server.args, ["mcp", "filesystem", "./"]);
                assert!(dir.join(".mew/agents/lib/caller.js").is_file());
            }
            "note-pad" => {
                assert_eq!(ids, ["human", "notes"]);
                assert_eq!(
                    space.description.as_deref(),
                    Some("A folded description over two lines.\n")
                );
            }
            other => panic!("unexpected fixture {other}"),
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
