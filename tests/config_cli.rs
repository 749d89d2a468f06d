//! space.yaml problems as `mew space up` reports them: warnings and input errors before the
//! engine is asked anything (the loader itself is tested in crates/mew-space/tests/config_load.rs).
use std::path::Path;

const MIB: i64 = 1024 * 1024;

/// `mew space up -c FILE` against an engine that does not exist: input errors exit 2 before
/// the engine is asked anything; a file that loads gets as far as the engine (exit 1).
fn up_without_engine(file: &Path) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["space", "up", "-c"])
        .arg(file)
        .env("DOCKER_HOST", "unix:///nonexistent/mew-config-test.sock")
        .env_remove("MEW_SPACE_ID")
        .output()
        .expect("run mew");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 9 defect 4: `auto_start: true` without `command` loaded silently at `up`.
#[test]
fn auto_start_without_command_warns_at_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("space.yaml");
    std::fs::write(
        &file,
        "space: {id: warn-demo}\nparticipants:\n  lonely:\n    auto_start: true\n    capabilities: [{kind: chat}]\n",
    )
    .unwrap();
    let (code, stderr) = up_without_engine(&file);
    assert_eq!(
        code,
        Some(1),
        "loads, then fails at the missing engine: {stderr}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("has `auto_start` but nothing to start"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("participant `lonely`"), "{stderr}");
    assert!(warnings[0].contains("space.yaml:3:3:"), "{stderr}");
}

/// `n` participants, each `pad` bytes of args and (with `unknown`) an unknown key.
fn big_space(n: usize, unknown: bool) -> String {
    let mut s = String::from("space:\n  id: big\nparticipants:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  agent-{i}:\n    auto_start: true\n    command: node\n    args: [./agent.js, --id, agent-{i}]\n    capabilities:\n      - kind: chat\n"
        ));
        if unknown {
            s.push_str("    colour: blue\n");
        }
    }
    s
}

/// Issue 13 defect 2: a 10 MB space.yaml took minutes (quadratic checks). Files over 4 MiB are
/// refused at once, exit 2, naming the limit.
#[test]
fn big_space_yaml_is_refused_over_4_mib() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("space.yaml");
    let mut text = big_space(60_000, true);
    while text.len() as u64 <= 4 * MIB as u64 {
        text.push_str("# padding\n");
    }
    std::fs::write(&file, &text).unwrap();
    let (code, stderr) = up_without_engine(&file);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("4 MiB"), "{stderr}");
}

/// Issue 9 (upstream surface): `--config` is the long form of `-c` for `up` and `export`, as
/// upstream spells it.
#[test]
fn config_is_the_long_form_of_c() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("elsewhere.yaml");
    std::fs::write(
        &file,
        "space: {id: long-form}\nparticipants:\n  bad: {colour: blue}\n",
    )
    .unwrap();
    for sub in ["up", "export"] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mew"))
            .args(["space", sub, "-d"])
            .arg(tmp.path())
            .arg("--config")
            .arg(&file)
            .env("DOCKER_HOST", "unix:///nonexistent/mew-config-test.sock")
            .env_remove("MEW_SPACE_ID")
            .env_remove("MEW_SPACE_CONFIG")
            .output()
            .expect("run mew");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{sub}: {stderr}");
        assert!(
            stderr.contains("elsewhere.yaml:3:9: unknown key `colour`"),
            "{sub}: {stderr}"
        );
    }
}
