//! `mew image build` and `mew doctor` through the binary.
use std::process::{Command, Output};

fn mew(args: &[&str], docker_host: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mew"));
    c.args(args);
    match docker_host {
        Some(h) => c.env("DOCKER_HOST", h),
        None => c.env_remove("DOCKER_HOST"),
    };
    c.output().expect("run mew")
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn image_build_then_doctor_reports_the_runtime_image_present() {
    let build = mew(&["image", "build"], None);
    let (stdout, stderr) = out(&build);
    assert!(build.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("Built mew:"), "{stdout}");
    assert!(stdout.contains("also tagged mew:"), "{stdout}");

    let doctor = mew(&["doctor"], None);
    let (stdout, stderr) = out(&doctor);
    assert!(doctor.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Engine:") && stdout.contains("API version:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Socket:          unix:///var/run/docker.sock"),
        "{stdout}"
    );
    let image_line = stdout
        .lines()
        .find(|l| l.starts_with("Runtime image:"))
        .expect("runtime image line");
    assert!(image_line.ends_with("present"), "{image_line}");
}

#[test]
fn no_engine_is_one_sentence_and_exit_1() {
    for args in [
        &["doctor"][..],
        &["image", "build"][..],
        &["space", "down"][..],
    ] {
        let o = mew(args, Some("unix:///nonexistent/mew.sock"));
        let (stdout, stderr) = out(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("unix:///nonexistent/mew.sock"), "{stderr}");
        assert!(stderr.contains("DOCKER_HOST"), "{stderr}");
    }
}

/// `mew --help` listed only `up` and `down` beside `space`, and `mew space --help` hid `ps`.
#[test]
fn help_lists_the_shorthands_and_space_ps() {
    let (top, _) = out(&mew(&["--help"], None));
    for cmd in ["status", "logs", "connect", "restart", "exec"] {
        assert!(
            top.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "{cmd} missing from:\n{top}"
        );
    }
    assert!(top.contains("[alias: ps]"), "{top}");
    let (space, _) = out(&mew(&["space", "--help"], None));
    assert!(space.contains("[alias: ps]"), "{space}");
    // The shorthands take the same flags as the `mew space` forms.
    for cmd in ["status", "logs", "exec", "restart", "connect"] {
        let (short, _) = out(&mew(&[cmd, "--help"], None));
        let (long, _) = out(&mew(&["space", cmd, "--help"], None));
        let flags = |h: &str| -> Vec<String> {
            h.lines()
                .filter(|l| l.trim_start().starts_with('-'))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(flags(&short), flags(&long), "{cmd}");
    }
}

/// #13.20: unknown, missing, out-of-range and conflicting flags get clap's error (with a usage
/// line) and exit 2, before any engine is asked (the engine address here answers nothing).
#[test]
fn cli_misuse_gets_clap_errors_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["bogus"],
        &["space", "up", "--bogus"],
        &["space", "up", "--port"],
        &["space", "up", "--port", "0"],
        &["space", "up", "--port", "65536"],
        &["space", "up", "-i", "--detach"],
        &["space", "down", "--volumes", "--volumes"],
        &["space", "status", "--json", "--bogus"],
        &["space", "connect", "--participant"],
        &["space", "snapshot", "-o", "a.tar", "--check", "b.tar"],
        &["token", "create"],
        &["gateway", "start", "--port", "x"],
        &["space", "logs", "--tail", "abc"],
    ];
    for args in cases {
        let o = mew(args, Some("unix:///nonexistent/mew-test.sock"));
        let (stdout, stderr) = out(&o);
        assert_eq!(o.status.code(), Some(2), "mew {args:?}: {stdout}{stderr}");
        assert!(stderr.starts_with("error: "), "mew {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "mew {args:?}: {stderr}");
        assert!(
            !stderr.contains("engine") && !stderr.contains("mew-test.sock"),
            "mew {args:?} asked the engine: {stderr}"
        );
    }
}
