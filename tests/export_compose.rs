//! `mew space export --format compose`: byte-stable, no secrets, the structure compose needs;
//! and compose-examples/*: every space validates and its compose.yaml is the current export
//! (`scripts/gen-compose-examples`, or `UPDATE_EXAMPLES=1 cargo test --test export_compose`,
//! rewrites them).
use serde_norway::Value;
use std::path::Path;
use std::process::{Command, Output};

fn export(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let config = dir.join("space.yaml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mew"));
    cmd.args(["space", "export", "-d"])
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .args(extra)
        .env_remove("MEW_SPACE_ID")
        .env_remove("MEW_SPACE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mew")
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn export_is_stable_portable_and_holds_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("space.yaml"),
        "space:\n  id: Exp.Test\ngateway:\n  restart_policy: \"no\"\nparticipants:\n  echo-agent:\n    command: mew\n    args: [agent, echo, --token, \"${TOKEN}\"]\n    auto_start: true\n    restart_policy: on-failure:2\n    resources: {memory: 64m, cpus: 0.5}\n  other:\n    image: busybox:latest\n    command: sh\n    args: [agent.sh, --token, \"${TOKEN}\"]\n    auto_start: true\n  you:\n    capabilities: [{kind: chat}]\n",
    )
    .unwrap();
    let tokens = dir.join(".mew/tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(tokens.join("echo-agent.token"), "file-secret-AAAA").unwrap();
    let env_file = dir.join("compose.env");
    let env_arg = env_file.to_string_lossy().into_owned();
    let secret_env = [("MEW_TOKEN_YOU", "env-secret-BBBB")];
    let a = stdout_ok(&export(
        dir,
        &[
            "--format",
            "compose",
            "--static-image",
            "--env-file",
            &env_arg,
        ],
        &secret_env,
    ));
    let b = stdout_ok(&export(dir, &["--static-image"], &[]));
    assert_eq!(a, b, "same input, same bytes");
    // The CLI prints what the library produces (the examples test relies on it).
    let space = mew_space::config::load(&dir.join("space.yaml"), &Default::default()).unwrap();
    let text = std::fs::read_to_string(&space.file).unwrap();
    let opts = mew_space::export::ComposeOptions::new(env!("CARGO_PKG_VERSION"));
    assert_eq!(mew_space::export::compose(&space, &text, &opts).unwrap(), a);
    for secret in ["file-secret-AAAA", "env-secret-BBBB"] {
        assert!(!a.contains(secret), "a token leaked into the export");
    }
    assert!(
        !a.contains(&*dir.to_string_lossy()),
        "no machine path in the export"
    );

    // The env file holds the tokens the compose file refers to, readable by the owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let env_text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env_text.starts_with("MEW_TOKEN_ECHO_AGENT=file-secret-AAAA\nMEW_TOKEN_OTHER="),
        "{env_text}"
    );

    let doc: Value = serde_norway::from_str(&a).expect("valid YAML");
    assert_eq!(doc["name"], "exp-test");
    let services = doc["services"].as_mapping().expect("services");
    let keys: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
    assert_eq!(
        keys,
        ["gateway", "echo-agent", "other"],
        "passive participants get no service"
    );
    let gw = &doc["services"]["gateway"];
    assert_eq!(gw["ports"][0], "127.0.0.1:8080:8080");
    // As space.yaml's `gateway.restart_policy` says (the default is `unless-stopped`).
    assert_eq!(gw["restart"], "no");
    assert!(
        a.contains("    restart: 'no'\n"),
        "quoted for YAML 1.1 readers"
    );
    assert_eq!(gw["networks"]["mew-Exp.Test"]["aliases"][0], "gateway");
    assert_eq!(gw["healthcheck"]["test"][0], "CMD");
    assert_eq!(gw["volumes"][0]["source"], ".");
    assert_eq!(gw["volumes"][0]["target"], "/space");
    // The gateway reads the token files from the bound space directory: no token variables.
    assert!(gw.get("environment").is_none(), "{:?}", gw["environment"]);
    assert!(gw.get("secrets").is_none());

    // Each participant gets its token file as the secret mew's roles read at
    // /run/secrets/mew-token, not as a variable.
    let agent = &doc["services"]["echo-agent"];
    assert!(agent["environment"].get("MEW_TOKEN").is_none());
    assert!(agent["environment"].get("MEW_TOKEN_ECHO_AGENT").is_none());
    assert_eq!(agent["secrets"][0]["source"], "mew-token-echo-agent");
    assert_eq!(agent["secrets"][0]["target"], "mew-token");
    assert_eq!(
        doc["secrets"]["mew-token-echo-agent"]["file"],
        "./.mew/tokens/echo-agent.token"
    );
    let secrets: Vec<&str> = doc["secrets"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        secrets,
        ["mew-token-echo-agent", "mew-token-other"],
        "only services get one"
    );
    // The export made the token files the secrets name, passive participants' included.
    assert!(tokens.join("you.token").is_file());
    assert_eq!(
        std::fs::read_to_string(tokens.join("echo-agent.token")).unwrap(),
        "file-secret-AAAA",
        "an existing token is kept"
    );
    // mew reads the secret, so `--token ${TOKEN}` is left out of its command; another program
    // gets the token through a reference compose fills from MEW_TOKEN_<ID>.
    let words = |service: &Value| -> Vec<String> {
        service["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    assert!(!words(agent).contains(&"--token".to_string()));
    let reference = "${MEW_TOKEN_OTHER:?set MEW_TOKEN_OTHER (mew space export --env-file)}";
    let other = words(&doc["services"]["other"]);
    assert!(
        other.ends_with(&["--token".to_string(), reference.to_string()]),
        "${{TOKEN}} in another program's args becomes the reference: {other:?}"
    );
    assert!(
        a.contains("# Some args or env spell out a token"),
        "the header says the reference needs the variables"
    );
    assert!(agent["entrypoint"][0]
        .as_str()
        .unwrap()
        .starts_with("/opt/mew/"));
    assert_eq!(
        agent["depends_on"]["gateway"]["condition"],
        "service_healthy"
    );
    assert_eq!(agent["mem_limit"], "64m");
    assert_eq!(agent["cpus"], "0.5");
    // compose v2 refuses a pids_limit that differs from deploy's (absent counts as 0).
    assert_eq!(
        agent["pids_limit"],
        agent["deploy"]["resources"]["limits"]["pids"]
    );
    assert_eq!(agent["deploy"]["resources"]["limits"]["cpus"], "0.5");
    assert_eq!(agent["restart"], "on-failure:2");
    assert_eq!(agent["deploy"]["resources"]["limits"]["memory"], "64m");
    assert_eq!(agent["deploy"]["restart_policy"]["condition"], "on-failure");
    assert_eq!(agent["deploy"]["restart_policy"]["max_attempts"], 2);
    assert_eq!(agent["labels"]["io.mew.participant"], "echo-agent");
    assert_eq!(agent["labels"]["io.mew.role"], "agent");
    assert_eq!(agent["cap_drop"][0], "ALL");
    assert_eq!(agent["security_opt"][0], "no-new-privileges:true");
    assert_eq!(agent["user"], "${MEW_UID:-1000}:${MEW_GID:-1000}");

    // The Swarm flavour: compose format 3.9 without the keys its schema refuses.
    let stack = stdout_ok(&export(dir, &["--format", "stack"], &[]));
    assert!(!stack.contains("file-secret-AAAA"));
    let st: Value = serde_norway::from_str(&stack).expect("valid YAML");
    assert_eq!(st["version"], "3.9");
    assert!(st.get("name").is_none());
    let agent = &st["services"]["echo-agent"];
    for key in [
        "mem_limit",
        "cpus",
        "pids_limit",
        "container_name",
        "restart",
        "security_opt",
    ] {
        assert!(agent.get(key).is_none(), "{key} is not for Swarm");
    }
    assert_eq!(agent["deploy"]["endpoint_mode"], "dnsrr");
    assert_eq!(agent["secrets"][0]["target"], "mew-token");
    assert_eq!(agent["depends_on"][0], "gateway");
    assert_eq!(agent["deploy"]["resources"]["limits"]["memory"], "64m");
    let port = &st["services"]["gateway"]["ports"][0];
    assert_eq!(port["target"], 8080);
    assert_eq!(port["published"], 8080);
    assert_eq!(port["mode"], "host");
    // A shared network namespace cannot be deployed on Swarm.
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(
        shared.join("space.yaml"),
        "space:\n  id: sh\n  network: {mode: shared}\nparticipants:\n  a: {command: mew, args: [agent, echo], auto_start: true}\n",
    )
    .unwrap();
    let out = export(&shared, &["--format", "stack"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let compose_shared = stdout_ok(&export(&shared, &[], &[]));
    assert!(compose_shared.contains("network_mode: service:gateway"));

    // --space-id changes the ids; a bad one is invalid input.
    let c = stdout_ok(&export(dir, &["--space-id", "other"], &[]));
    assert!(c.contains("name: other\n") && c.contains("container_name: other-echo-agent\n"));
    assert_eq!(
        export(dir, &["--space-id", "bad id"], &[]).status.code(),
        Some(2)
    );
}

/// Regression: `--env-file .mew/compose.env` failed in a space whose `.mew/` did not exist yet
/// (a root-level space.yaml), and tokens would have gone to `<dir>/tokens/`.
#[test]
fn env_file_in_a_fresh_space_creates_dot_mew() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("space.yaml"),
        "space:\n  id: fresh\nparticipants:\n  echo-agent:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n",
    )
    .unwrap();
    let env_file = dir.join(".mew/compose.env");
    let env_arg = env_file.to_string_lossy().into_owned();
    stdout_ok(&export(dir, &["--env-file", &env_arg], &[]));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(dir.join(".mew/tokens/echo-agent.token")).unwrap();
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env.contains(&format!("MEW_TOKEN_ECHO_AGENT={token}")),
        "{env}"
    );
    assert!(!dir.join("tokens").exists());
}

/// Regression: an export made by a dynamically linked mew named `mew:<version>` and
/// `/opt/mew/mew` as the entrypoint, which its runtime image cannot start (`exec /opt/mew/mew:
/// no such file or directory`: the loader is under /opt/mew/lib). The export names the image
/// this build's `mew image build` makes, and starts mew the way that image does.
#[test]
fn export_of_a_dynamic_build_names_its_own_image_and_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("space.yaml"),
        "space:\n  id: dyn\nparticipants:\n  echo-agent:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n",
    )
    .unwrap();
    let doc: Value = serde_norway::from_str(&stdout_ok(&export(dir, &[], &[]))).unwrap();
    // `cargo test` builds mew for the glibc host target: dynamic.
    let version = env!("CARGO_PKG_VERSION");
    for name in ["gateway", "echo-agent"] {
        let s = &doc["services"][name];
        let image = s["image"].as_str().unwrap();
        let hash = image
            .strip_prefix(&format!("mew:{version}-"))
            .unwrap_or_else(|| panic!("{name}: {image} is not this build's own tag"));
        assert!(hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()));
        let entry = s["entrypoint"][0].as_str().unwrap();
        assert!(entry.starts_with("/opt/mew/lib/ld-"), "{name}: {entry}");
        assert_eq!(s["command"][0], "--library-path");
    }
    let gw = &doc["services"]["gateway"];
    assert!(gw["healthcheck"]["test"][1]
        .as_str()
        .unwrap()
        .starts_with("/opt/mew/lib/ld-"));
    // --static-image names the image a static mew builds, whichever mew exports.
    let st: Value =
        serde_norway::from_str(&stdout_ok(&export(dir, &["--static-image"], &[]))).unwrap();
    assert_eq!(st["services"]["gateway"]["image"], format!("mew:{version}"));
    assert_eq!(st["services"]["gateway"]["entrypoint"][0], "/opt/mew/mew");
}

#[test]
fn volumes_are_exported_and_the_real_compose_accepts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    std::fs::create_dir_all(dir.join(".mew/tokens")).unwrap();
    std::fs::create_dir_all(tmp.path().join("agents")).unwrap();
    std::fs::write(dir.join(".mew/tokens/calc.token"), "t").unwrap();
    std::fs::write(
        dir.join("space.yaml"),
        "space:\n  id: vol-exp\nparticipants:\n  calc:\n    command: mew\n    args: [agent, echo]\n    auto_start: true\n    volumes:\n      - ../agents:/agents\n      - data:/data\n      - {type: bind, source: ./cache, target: /cache, read_only: false}\n",
    )
    .unwrap();
    let text = stdout_ok(&export(
        &dir,
        &["--format", "compose", "--static-image"],
        &[],
    ));
    let doc: Value = serde_norway::from_str(&text).expect("valid YAML");
    let mounts = doc["services"]["calc"]["volumes"].as_sequence().unwrap();
    let find = |target: &str| {
        mounts
            .iter()
            .find(|m| m["target"] == target)
            .unwrap_or_else(|| panic!("no mount at {target}: {mounts:?}"))
    };
    assert_eq!(find("/agents")["source"], "../agents");
    assert_eq!(find("/agents")["read_only"], true);
    assert_eq!(find("/cache")["source"], "./cache");
    assert!(find("/cache").get("read_only").is_none(), "writable");
    assert_eq!(find("/data")["type"], "volume");
    assert_eq!(find("/data")["source"], "data");
    assert_eq!(doc["volumes"]["data"]["name"], "vol-exp_data");
    assert_eq!(doc["volumes"]["data"]["labels"]["io.mew.space"], "vol-exp");
    let file = dir.join("compose.yaml");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("docker")
        .args(["compose", "-f"])
        .arg(&file)
        .args(["config", "--quiet"])
        .env("MEW_UID", "1000")
        .env("MEW_GID", "1000")
        .output()
        .expect("run docker compose");
    assert!(
        out.status.success(),
        "docker compose config refused the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
