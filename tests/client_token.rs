//! `mew token create`: a 0600 token file under <space-dir>/.mew/tokens, reused, printed only when asked.
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn token_create(dir: &std::path::Path, id: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["token", "create", "--participant-id", id, "--space-dir"])
        .arg(dir)
        .env_remove(format!("MEW_TOKEN_{}", id.to_uppercase().replace('-', "_")))
        .output()
        .expect("run mew token create")
}

#[test]
fn creates_a_private_file_and_never_prints_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = token_create(dir.path(), "alice-agent");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let path = dir.path().join(".mew/tokens/alice-agent.token");
    let token = std::fs::read_to_string(&path).expect("token file");
    assert_eq!(token.len(), 43, "{token:?}");
    assert!(token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains(&path.display().to_string()), "{stdout}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // A second run keeps the same token.
    let again = token_create(dir.path(), "alice-agent");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).expect("token file"), token);
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&token));
}

#[test]
fn an_id_that_escapes_the_directory_is_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = token_create(dir.path(), "../evil");
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join(".mew/evil.token").exists());
}

/// Issue 9 (upstream surface): scripts run `TOKEN=$(mew token create -p ID -c JSON)`: with
/// `--capabilities` (or `--print`) standard output is the token alone, and it is the file's token.
#[test]
fn upstream_form_with_capabilities_prints_the_token_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["token", "create", "-p", "bob", "-c", r#"[{"kind":"chat"}]"#])
        .arg("--space-dir")
        .arg(dir.path())
        .env_remove("MEW_TOKEN_BOB")
        .output()
        .expect("run mew token create");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let file = std::fs::read_to_string(dir.path().join(".mew/tokens/bob.token")).expect("file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{file}\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bob.token"));

    let printed = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["token", "create", "-p", "bob", "--print", "--space-dir"])
        .arg(dir.path())
        .env_remove("MEW_TOKEN_BOB")
        .output()
        .expect("run mew token create --print");
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout),
        format!("{file}\n")
    );

    for bad in ["{not json", r#"{"kind":"chat"}"#, r#"[{"id":1}]"#] {
        let out = Command::new(env!("CARGO_BIN_EXE_mew"))
            .args(["token", "create", "-p", "carol", "-c", bad, "--space-dir"])
            .arg(dir.path())
            .output()
            .expect("run mew token create");
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid capabilities JSON"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(!dir.path().join(".mew/tokens/carol.token").exists());
    }
}
