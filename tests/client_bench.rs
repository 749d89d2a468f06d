//! `mew bench gateway` runs end to end (a functional check: it asserts counts, never timings).
use std::process::Command;

/// Run `mew bench gateway <args>`; its stdout, after checking it exited 0.
fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["bench", "gateway"])
        .args(args)
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn bench_spawns_its_gateway_and_counts_every_delivery() {
    let stdout = bench(&["--receivers", "3", "--messages", "25"]);
    assert!(stdout.contains("deliveries     75 / 75"), "{stdout}");
    assert!(stdout.contains("gateway RSS    idle"), "{stdout}");
    assert!(stdout.contains("p99"), "{stdout}");
}

#[test]
fn bench_runs_the_same_load_against_a_peer_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("space.yaml");
    std::fs::write(
        &config,
        "space:\n  id: peer-bench\n  allow_anonymous_joins: true\n",
    )
    .expect("write config");
    // mew's own gateway stands in as the peer: this checks the mechanics, not a comparison.
    let peer = format!(
        "{} gateway start --port {{port}} --bind 127.0.0.1 --space-config {}",
        env!("CARGO_BIN_EXE_mew"),
        config.display()
    );
    let stdout = bench(&[
        "--receivers",
        "2",
        "--messages",
        "10",
        "--rate",
        "500",
        "--peer-cmd",
        &peer,
    ]);
    assert_eq!(
        stdout.matches("deliveries     20 / 20").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("peer: "), "{stdout}");
    assert!(stdout.contains("comparison (mew ÷ peer)"), "{stdout}");
    assert!(stdout.contains("idle RSS"), "{stdout}");
}

#[test]
fn bench_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["bench", "gateway", "--receivers", "0"])
        .output()
        .expect("run bench");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_mew"))
        .args(["bench", "gateway", "--peer-cmd", "node gw.js"])
        .output()
        .expect("run bench");
    assert_eq!(out.status.code(), Some(2));
}
