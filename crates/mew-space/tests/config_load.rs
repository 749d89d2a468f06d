//! space.yaml loading: discovery, validation errors with exact `file:line:column`, upstream-style
//! files loading unchanged, and mew's own keys.
use mew_space::config::{self, ConfigError, Kind, LoadOptions, NetworkMode, Space};
use mew_space::plan::RestartPolicy;
use std::path::{Path, PathBuf};

const FILE: &str = "/spaces/demo/.mew/space.yaml";

fn load(text: &str) -> Result<Space, ConfigError> {
    config::parse_space(Path::new(FILE), text, &LoadOptions::default())
}

fn load_ok(text: &str) -> Space {
    match load(text) {
        Ok(s) => s,
        Err(e) => panic!("expected the file to load, got: {e}"),
    }
}

/// The one-line error for `text`.
fn error(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

const MIB: i64 = 1024 * 1024;

// ---------------------------------------------------------------- discovery

#[test]
fn discovery_prefers_dot_mew_then_space_yaml() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let err = config::discover_in(dir, None, None).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.join(".mew/space.yaml").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains(&dir.join("space.yaml").display().to_string()),
        "{msg}"
    );

    std::fs::write(dir.join("space.yaml"), "x").unwrap();
    assert_eq!(
        config::discover_in(dir, None, None).unwrap(),
        dir.join("space.yaml")
    );

    std::fs::create_dir(dir.join(".mew")).unwrap();
    std::fs::write(dir.join(".mew/space.yaml"), "x").unwrap();
    assert_eq!(
        config::discover_in(dir, None, None).unwrap(),
        dir.join(".mew/space.yaml")
    );
}

#[test]
fn discovery_with_space_dir_and_explicit_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("a/.mew")).unwrap();
    std::fs::write(root.join("a/.mew/space.yaml"), "x").unwrap();
    std::fs::write(root.join("other.yaml"), "x").unwrap();
    // --space-dir relative to the current directory.
    assert_eq!(
        config::discover_in(root, Some(Path::new("a")), None).unwrap(),
        root.join("a/.mew/space.yaml")
    );
    // An explicit file wins over the directory.
    assert_eq!(
        config::discover_in(root, Some(Path::new("a")), Some(Path::new("other.yaml"))).unwrap(),
        root.join("other.yaml")
    );
    // A missing explicit file is reported as such.
    let err = config::discover_in(root, None, Some(Path::new("nope.yaml"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no space configuration found (looked for {})",
            root.join("nope.yaml").display()
        )
    );
}

#[test]
fn load_from_disk_resolves_space_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::create_dir(dir.join(".mew")).unwrap();
    let file = dir.join(".mew/space.yaml");
    std::fs::write(&file, "space: {id: disk}\nparticipants: {}\n").unwrap();
    let space = config::load(&file, &LoadOptions::default()).unwrap();
    assert_eq!(space.file, file);
    assert_eq!(space.dir, dir);
    assert_eq!(space.id, "disk");

    // --space-dir overrides, --space-id overrides.
    let other = tempfile::tempdir().expect("tempdir");
    let opts = LoadOptions {
        space_dir: Some(other.path().to_path_buf()),
        space_id: Some("ci-42".into()),
    };
    let space = config::load(&file, &opts).unwrap();
    assert_eq!(space.dir, std::fs::canonicalize(other.path()).unwrap());
    assert_eq!(space.id, "ci-42");

    let err = config::load(&dir.join("missing.yaml"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn find_and_load_uses_the_flags() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::write(
        dir.join("space.yaml"),
        "space: {id: legacy}\nparticipants: {}\n",
    )
    .unwrap();
    let s = config::find_and_load(Some(&dir), None, Some("flagged")).unwrap();
    assert_eq!(s.id, "flagged");
    assert_eq!(s.dir, dir);
    assert_eq!(s.file, dir.join("space.yaml"));
}

#[test]
fn space_dir_of_config_paths() {
    assert_eq!(
        config::space_dir_of(Path::new("/s/.mew/space.yaml")),
        PathBuf::from("/s")
    );
    assert_eq!(
        config::space_dir_of(Path::new("/s/space.yaml")),
        PathBuf::from("/s")
    );
    assert_eq!(
        config::space_dir_of(Path::new("/s/conf/x.yaml")),
        PathBuf::from("/s/conf")
    );
}

// ---------------------------------------------------------------- errors with positions

#[test]
fn unknown_key_with_suggestion() {
    let text =
        "space:\n  id: demo\nparticipants:\n  echo:\n    command: node\n    auto_strat: true\n";
    assert_eq!(
        error(text),
        "/spaces/demo/.mew/space.yaml:6:5: unknown key `auto_strat` in participant `echo` (did you mean `auto_start`?)"
    );
}

#[test]
fn allow_anonymous_joins_is_a_boolean_under_space() {
    assert!(!load_ok("space:\n  id: demo\nparticipants: {}\n").allow_anonymous_joins);
    let open = load_ok("space:\n  id: demo\n  allow_anonymous_joins: true\nparticipants: {}\n");
    assert!(open.allow_anonymous_joins);
    let e = error("space:\n  id: demo\n  allow_anonymous_joins: \"yes\"\nparticipants: {}\n");
    assert!(
        e.starts_with("/spaces/demo/.mew/space.yaml:3:26: `space.allow_anonymous_joins` must be"),
        "{e}"
    );
}

#[test]
fn unknown_keys_at_every_level() {
    assert_eq!(
        error("space:\n  id: demo\nparticipant: {}\n"),
        format!(
            "{FILE}:3:1: unknown key `participant` at the top level (did you mean `participants`?)"
        )
    );
    assert_eq!(
        error("space:\n  id: demo\n  nmae: x\nparticipants: {}\n"),
        format!("{FILE}:3:3: unknown key `nmae` in `space` (did you mean `name`?)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    resources:\n      memroy: 1g\n"),
        format!("{FILE}:5:7: unknown key `memroy` in `resources` of participant `a` (did you mean `memory`?)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants: {}\ndefaults:\n  restart: always\n"),
        format!("{FILE}:4:3: unknown key `restart` in `defaults`")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    capabilities:\n      - kind: chat\n        paylod: {}\n"),
        format!("{FILE}:6:9: unknown key `paylod` in a capability of `capabilities` (did you mean `payload`?)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants: {}\ngateway:\n  imgae: x\n"),
        format!("{FILE}:4:3: unknown key `imgae` in `gateway` (did you mean `image`?)")
    );
}

#[test]
fn extension_keys_are_free() {
    let s = load_ok(
        "x-common: &c {a: 1}\nspace:\n  id: demo\n  x-owner: me\nparticipants:\n  a:\n    x-notes: [1, 2]\n    resources: {x-why: because, memory: 64m}\n",
    );
    assert_eq!(s.participants[0].lifecycle.memory_bytes, Some(64 * MIB));

    // The compose idiom: shared settings under an `x-` key, merged where needed.
    let s = load_ok(
        "x-agent: &agent\n  command: node\n  auto_start: true\n  restart_policy: always\nspace: {id: demo}\nparticipants:\n  a:\n    <<: *agent\n    args: [a.js]\n  b:\n    <<: *agent\n    restart_policy: \"no\"\n",
    );
    let (a, b) = (&s.participants[0], &s.participants[1]);
    assert_eq!((a.kind, b.kind), (Kind::Agent, Kind::Agent));
    assert_eq!(a.args, ["a.js"]);
    assert_eq!(a.lifecycle.restart, Some(RestartPolicy::Always));
    assert_eq!(
        b.lifecycle.restart,
        Some(RestartPolicy::No),
        "explicit keys win over merged ones"
    );
}

#[test]
fn type_errors_point_at_the_value() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    command: node\n    auto_start: maybe\n"),
        format!("{FILE}:5:17: `auto_start` must be true or false, found a string (`maybe`)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    args: 3\n"),
        format!("{FILE}:4:11: `args` must be a list, found an integer (`3`)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    args: [x, [y]]\n"),
        format!("{FILE}:4:15: each item of `args` must be a string, found a list")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    env: [A=1]\n"),
        format!("{FILE}:4:10: `env` must be a mapping, found a list")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants: [a, b]\n"),
        format!("{FILE}:2:15: `participants` must be a mapping, found a list")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    command: [node]\n"),
        format!("{FILE}:4:14: `command` must be a string, found a list")
    );
}

#[test]
fn bad_memory_string() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    resources:\n      memory: lots\n"),
        format!(
            "{FILE}:5:15: invalid memory size `lots` (use e.g. `512m`, `1g` or a number of bytes)"
        )
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants: {}\ndefaults:\n  resources: {memory: 1k}\n"),
        format!("{FILE}:4:23: memory limit `1k` is too small (at least 6m)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    resources: {cpus: fast}\n"),
        format!("{FILE}:4:23: `cpus` must be a number such as 0.5 or 2, found a string (`fast`)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    resources: {pids: 0}\n"),
        format!("{FILE}:4:23: `pids` must be a positive whole number, found an integer (`0`)")
    );
}

#[test]
fn bad_restart_policy_and_duration() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    restart_policy: sometimes\n"),
        format!("{FILE}:4:21: invalid restart_policy `sometimes` (expected `no`, `on-failure`, `on-failure:N`, `always` or `unless-stopped`)")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a:\n    stop_grace_period: soon\n"),
        format!("{FILE}:4:24: invalid duration `soon` (use e.g. `5s`, `500ms` or `1m`)")
    );
}

#[test]
fn bad_ids() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  ../etc:\n    command: node\n"),
        format!("{FILE}:3:3: invalid participant id `../etc`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a/b: {}\n"),
        format!("{FILE}:3:3: invalid participant id `a/b`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  gateway: {}\n"),
        format!("{FILE}:3:3: participant id `gateway` is reserved for the gateway container")
    );
    assert_eq!(
        error("space:\n  id: \"my space\"\nparticipants: {}\n"),
        format!("{FILE}:2:7: invalid space id `my space`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")
    );
}

#[test]
fn ids_that_collide_in_the_engine() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  my-agent: {}\n  My_Agent: {}\n"),
        format!("{FILE}:4:3: participant id `My_Agent` clashes with `my-agent` (ids must differ in more than case, `-` and `_`)")
    );
}

#[test]
fn missing_space_id_asks_for_one() {
    let e = error("space:\n  name: demo\nparticipants: {}\n");
    assert!(
        e.starts_with(&format!("{FILE}:2:3: missing `space.id`")),
        "{e}"
    );
    assert!(e.contains("--space-id"), "{e}");
    // The override makes it fine, and is validated itself.
    let opts = LoadOptions {
        space_id: Some("ci-1".into()),
        ..Default::default()
    };
    let s = config::parse_space(Path::new(FILE), "participants: {}\n", &opts).unwrap();
    assert_eq!(s.id, "ci-1");
    let opts = LoadOptions {
        space_id: Some("bad/id".into()),
        ..Default::default()
    };
    let e = config::parse_space(Path::new(FILE), "participants: {}\n", &opts).unwrap_err();
    assert!(matches!(e, ConfigError::Invalid(_)), "{e}");
}

#[test]
fn missing_participants_empty_file_and_bad_yaml() {
    assert_eq!(
        error("space: {id: demo}\n"),
        format!("{FILE}:1:1: missing `participants`")
    );
    assert_eq!(error(""), format!("{FILE}:1:1: space.yaml is empty"));
    let e = error("space: {id: demo\nparticipants: {}\n");
    assert!(
        e.starts_with(&format!("{FILE}:")) && e.contains("invalid YAML"),
        "{e}"
    );
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  a: {}\n  a: {}\n"),
        format!("{FILE}:4:3: duplicate key `a`")
    );
}

#[test]
fn mcp_server_needs_a_command_and_network_mode_is_checked() {
    assert_eq!(
        error("space: {id: demo}\nparticipants:\n  fs:\n    type: mcp-bridge\n    mcp_server:\n      args: [x]\n"),
        format!("{FILE}:6:7: `mcp_server` of participant `fs` has no `command`")
    );
    assert_eq!(
        error("space:\n  id: demo\n  network:\n    mode: host\nparticipants: {}\n"),
        format!("{FILE}:4:11: invalid `space.network.mode` `host` (expected `bridge` or `shared`)")
    );
}

// ---------------------------------------------------------------- upstream files

/// Shaped like upstream's e2e scenarios: literal tokens, output_log virtual clients, a node agent.
const UPSTREAM_BASIC: &str = r#"
space:
  id: scenario-basic
  name: "Basic scenario"
  description: "An agent and a test client"

participants:
  echo-agent:
    type: local
    tokens: ["echo-token"]
    auto_start: true
    command: "node"
    args:
      - "./.mew/agents/echo.cjs"
      - "--gateway"
      - "ws://localhost:${PORT}"
      - "--space"
      - "scenario-basic"
      - "--token"
      - "echo-token"
    capabilities:
      - kind: "chat"
    env:
      MEW_AGENT_CONFIG: '{"mockLLM":true}'

  test-client:
    tokens: ["test-token"]
    capabilities:
      - kind: "mcp/request"
        payload:
          method: "tools/*"
      - kind: "system/*"
    output_log: "./logs/test-client-output.log"
    auto_connect: true

  watcher:
    capabilities:
      - kind: "chat"

defaults:
  capabilities:
    - kind: "chat"
"#;

#[test]
fn upstream_scenario_loads_and_classifies() {
    let s = load_ok(UPSTREAM_BASIC);
    assert_eq!(s.id, "scenario-basic");
    assert_eq!(s.name, "Basic scenario");
    assert_eq!(s.dir, PathBuf::from("/spaces/demo"));
    let ids: Vec<_> = s.participants.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["echo-agent", "test-client", "watcher"],
        "yaml order kept"
    );
    assert_eq!(s.participants[0].kind, Kind::Agent);
    assert_eq!(s.participants[1].kind, Kind::Virtual);
    assert_eq!(s.participants[2].kind, Kind::Passive);
    assert_eq!(s.participants[0].args[2], "ws://localhost:${PORT}");
    assert_eq!(
        s.participants[0].env["MEW_AGENT_CONFIG"],
        r#"{"mockLLM":true}"#
    );
    assert_eq!(
        s.participants[1].capabilities,
        Some(serde_json::json!([
            {"kind": "mcp/request", "payload": {"method": "tools/*"}},
            {"kind": "system/*"}
        ]))
    );
    // No capabilities of its own: the defaults.
    assert_eq!(
        s.participants[2].capabilities,
        Some(serde_json::json!([{"kind": "chat"}]))
    );
    assert_eq!(s.network_mode, NetworkMode::Bridge);
}

/// Every key spec/cli.md §1 lists, including those mew does not act on.
const UPSTREAM_ALL_KEYS: &str = r#"
space:
  id: everything
  name: Everything
  description: every documented key
  default_participant: human
  ui_theme: neon-pulse
gateway:
  port: 8080
  space: everything
gateway_logging:
  enabled: true
  envelope_history:
    enabled: false
  capability_decisions:
    enabled: true
cleanup:
  logs: true
  older_than: 7d
defaults:
  capabilities:
    - kind: chat
  routing:
    default_to:
      chat: [human]
participants:
  human:
    type: key
    default_to:
      chat: [coder]
    capabilities:
      - kind: "*"
    first_seen: 2024-01-01
    io: http
  fs:
    type: mcp-bridge
    auto_start: true
    tokens: [fs-token]
    mcp_server:
      command: node
      args: [./server.js, ./files]
      env: {DEBUG: "1"}
      cwd: ./files
    bridge_config:
      init_timeout: 30000
      reconnect: true
      max_reconnects: 3
  piper:
    fifo: true
    auto_connect: true
    output_log: ./logs/piper.log
    restart_policy: on-failure
  ship:
    type: local
    command: node
    args: [./ship.js]
    cwd: /somewhere/else
    mcp_server:
      command: unused
"#;

#[test]
fn every_documented_key_is_known() {
    let s = load_ok(UPSTREAM_ALL_KEYS);
    assert_eq!(s.default_participant.as_deref(), Some("human"));
    assert!(s.gateway_logging.enabled);
    assert!(!s.gateway_logging.envelope_history);
    assert!(s.gateway_logging.capability_decisions);
    let kinds: Vec<_> = s.participants.iter().map(|p| p.kind).collect();
    // `ship` has mcp_server but neither `type: mcp-bridge` nor auto_start: passive.
    assert_eq!(
        kinds,
        [Kind::Passive, Kind::Bridge, Kind::FifoClient, Kind::Passive]
    );
    let fs = &s.participants[1];
    let mcp = fs.mcp_server.as_ref().unwrap();
    assert_eq!(mcp.args, ["./server.js", "./files"]);
    assert_eq!(mcp.env["DEBUG"], "1");
    assert_eq!(fs.bridge_config.init_timeout, Some(30000));
    assert_eq!(
        s.participants[2].lifecycle.restart,
        Some(RestartPolicy::OnFailure(None))
    );
}

#[test]
fn warnings_for_ignored_settings() {
    let s = load_ok(
        "space: {id: d}\ngateway:\n  port: 9000\nparticipants:\n  a:\n    auto_start: true\n  b: {command: mew, auto_start: true, fifo: true, auto_connect: true}\n",
    );
    assert_eq!(
        s.warnings,
        [
            format!("{FILE}:3:3: `gateway.port` is ignored: the port comes from --port"),
            format!("{FILE}:5:3: participant `a` has `auto_start` but nothing to start (no `command`, or `type: mcp-bridge` without `mcp_server`)"),
            format!("{FILE}:7:3: participant `b` runs its own program; its FIFO client (`fifo` + `auto_connect`) is not started"),
        ]
    );
    assert!(load_ok(UPSTREAM_BASIC).warnings.is_empty());
}

#[test]
fn bridge_classification_needs_auto_start_and_mcp_server() {
    let s = load_ok(
        "space: {id: d}\nparticipants:\n  fs:\n    type: mcp-bridge\n    auto_start: true\n    mcp_server: {command: node}\n  agent:\n    type: mcp-bridge\n    auto_start: true\n    command: mew\n",
    );
    assert_eq!(s.participants[0].kind, Kind::Bridge);
    // Without mcp_server, auto_start + command makes a plain agent.
    assert_eq!(s.participants[1].kind, Kind::Agent);
}

#[test]
fn yaml_12_scalars_like_upstream() {
    // `no`, `yes`, `on` are strings (YAML 1.2 / js-yaml), numbers in args become text.
    let s = load_ok(
        "space: {id: d}\nparticipants:\n  a:\n    restart_policy: no\n    args: [--port, 8080, --fast, true, 1.5]\n    env: {A: yes, B: 3, C: ~}\n",
    );
    let a = &s.participants[0];
    assert_eq!(a.lifecycle.restart, Some(RestartPolicy::No));
    assert_eq!(a.args, ["--port", "8080", "--fast", "true", "1.5"]);
    assert_eq!(a.env["A"], "yes");
    assert_eq!(a.env["B"], "3");
    assert_eq!(a.env["C"], "");
}

// ---------------------------------------------------------------- mew's own keys

#[test]
fn lifecycle_keys_and_defaults_participant_wins() {
    let s = load_ok(
        r#"
space:
  id: d
  network: {mode: shared}
defaults:
  image: base:1
  resources: {memory: 1g, cpus: 0.5, pids: 100}
  restart_policy: unless-stopped
  stop_grace_period: 10s
  logging: {driver: local}
  env: {LEVEL: debug, KEEP: yes}
gateway:
  image: gw:1
  resources: {memory: 128m}
  logging: {driver: json-file, options: {max-size: 1m}}
participants:
  a:
    image: own:2
    resources: {memory: 256MiB}
    restart_policy: "on-failure:5"
    stop_grace_period: 500ms
    env: {LEVEL: info}
  b: {}
"#,
    );
    assert_eq!(s.network_mode, NetworkMode::Shared);
    let a = &s.participants[0].lifecycle;
    assert_eq!(a.image.as_deref(), Some("own:2"));
    assert_eq!(a.memory_bytes, Some(256 * MIB));
    assert_eq!(a.nano_cpus, Some(500_000_000), "from defaults");
    assert_eq!(a.pids_limit, Some(100));
    assert_eq!(a.restart, Some(RestartPolicy::OnFailure(Some(5))));
    assert_eq!(a.stop_grace_ms, Some(500));
    assert_eq!(a.logging.as_ref().unwrap().driver, "local");
    assert!(a.logging.as_ref().unwrap().options.is_empty());
    assert_eq!(s.participants[0].env["LEVEL"], "info");
    assert_eq!(s.participants[0].env["KEEP"], "yes");
    let b = &s.participants[1].lifecycle;
    assert_eq!(b.image.as_deref(), Some("base:1"));
    assert_eq!(b.memory_bytes, Some(1024 * MIB));
    assert_eq!(b.restart, Some(RestartPolicy::UnlessStopped));
    assert_eq!(b.stop_grace_ms, Some(10_000));
    assert_eq!(s.participants[1].env["LEVEL"], "debug");
    assert_eq!(s.gateway.image.as_deref(), Some("gw:1"));
    assert_eq!(s.gateway.memory_bytes, Some(128 * MIB));
    assert_eq!(
        s.gateway.logging.as_ref().unwrap().options["max-size"],
        "1m"
    );
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

/// Just under the limit, a file loads, or gives its first error with its place, quickly
/// (printed, not asserted: timing belongs to benchmarks).
#[test]
fn big_space_yaml_under_the_limit_loads_or_errors() {
    for unknown in [false, true] {
        // ~3.9 MB: as many participants as fit.
        let header = big_space(0, unknown).len();
        let each = (big_space(10_000, unknown).len() - header) / 10_000 + 2;
        let n = (3_900_000 - header) / each;
        let text = big_space(n, unknown);
        assert!((text.len() as u64) < 4 * MIB as u64);
        let start = std::time::Instant::now();
        let result = load(&text);
        eprintln!(
            "{} bytes, {n} participants, unknown keys: {unknown}: {:?}",
            text.len(),
            start.elapsed()
        );
        match result {
            Ok(space) => {
                assert!(!unknown);
                assert_eq!(space.participants.len(), n);
            }
            Err(e) => {
                assert!(unknown, "{e}");
                assert_eq!(
                    e.to_string(),
                    format!("{FILE}:10:5: unknown key `colour` in participant `agent-0`")
                );
            }
        }
    }
}

/// Issue 9 defect 4 (library half; `config_cli` runs `up`): `auto_start: true` without
/// `command` loads, with one warning.
#[test]
fn auto_start_without_command_loads_with_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("space.yaml");
    std::fs::write(
        &file,
        "space: {id: warn-demo}\nparticipants:\n  lonely:\n    auto_start: true\n    capabilities: [{kind: chat}]\n",
    )
    .unwrap();
    let space = config::load(&file, &LoadOptions::default()).expect("still loads");
    assert_eq!(space.warnings.len(), 1, "{:?}", space.warnings);
}

/// Issue 13 defect 2 (library half; `config_cli` runs `up`): files over 4 MiB are refused,
/// naming the limit.
#[test]
fn big_space_yaml_over_4_mib_is_refused_by_the_loader() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("space.yaml");
    let mut text = big_space(60_000, true);
    while text.len() as u64 <= 4 * MIB as u64 {
        text.push_str("# padding\n");
    }
    std::fs::write(&file, &text).unwrap();
    let e = config::load(&file, &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("over 4 MiB (4194304 bytes) are refused"),
        "{e}"
    );
}

/// Issue 9: `default_to` (per participant, else `defaults.routing.default_to`) reaches the model;
/// a single id may be written without a list; a wrong type is an error with its position.
#[test]
fn default_to_is_read_with_the_defaults_as_fallback() {
    let yaml = "space: {id: d}\ndefaults:\n  routing:\n    default_to:\n      chat: [human]\n\
                participants:\n  human:\n    default_to:\n      chat: coder\n  coder: {}\n";
    let space = load_ok(yaml);
    let human = space.participant("human").unwrap();
    assert_eq!(human.default_to["chat"], ["coder"]);
    let coder = space.participant("coder").unwrap();
    assert_eq!(coder.default_to["chat"], ["human"]);
    let err = error("space: {id: d}\nparticipants:\n  a:\n    default_to:\n      chat: {x: 1}\n");
    assert!(
        err.contains("5:13") && err.contains("default_to.chat"),
        "{err}"
    );
}

// ---------------------------------------------------------------- volumes

fn with_volumes(volumes: &str) -> String {
    format!("space: {{id: demo}}\nparticipants:\n  a:\n    command: node\n    auto_start: true\n    volumes:\n{volumes}")
}

#[test]
fn volumes_short_and_long_syntax_binds_read_only_by_default() {
    use config::VolumeSource;
    let s = load_ok(&format!(
        "defaults:\n  volumes: [\"../sdk:/sdk\", \"cache:/cache\"]\n{}",
        with_volumes(
            "      - ../agents:/agents\n      - /abs/x:/x:rw\n      - data:/data/:ro\n      - ./sdk:/sdk\n      - {type: bind, source: lib, target: /lib2, read_only: false}\n      - {type: volume, source: v1, target: /v1}\n"
        )
    ));
    let v = &s.participants[0].volumes;
    let short: Vec<String> = v.iter().map(|e| e.short()).collect();
    // Defaults first, where the participant mounts nothing at the same target (`/sdk` is its own).
    assert_eq!(
        short,
        [
            "cache:/cache",
            "../agents:/agents",
            "/abs/x:/x:rw",
            "data:/data:ro",
            "./sdk:/sdk",
            "lib:/lib2:rw",
            "v1:/v1"
        ]
    );
    assert_eq!(
        v[1].source,
        VolumeSource::Bind {
            path: PathBuf::from("/spaces/agents"),
            relative: Some("../agents".into())
        }
    );
    assert!(v[1].read_only, "a bind is read-only by default");
    assert!(!v[0].read_only, "a named volume is writable by default");
    assert_eq!(
        v[4].source,
        VolumeSource::Bind {
            path: PathBuf::from("/spaces/demo/sdk"),
            relative: Some("./sdk".into())
        }
    );
    assert_eq!(s.defaults.volumes.len(), 2);
}

#[test]
fn bad_volumes_point_at_the_entry() {
    let cases = [
        ("      - /data\n", "7:9", "has no source"),
        ("      - a:b:c:d\n", "7:9", "too many `:`"),
        ("      - ./x:/x:z\n", "7:9", "unknown mode `z`"),
        ("      - ./x:rel\n", "7:9", "must be an absolute path"),
        ("      - ./x:/\n", "7:9", "cannot be mounted at `/`"),
        ("      - ~/x:/x\n", "7:9", "`~`"),
        ("      - a/b:/x\n", "7:9", "invalid volume name `a/b`"),
        (
            "      - ./x:/x\n      - ./y:/x/\n",
            "8:9",
            "mounts /x twice",
        ),
        (
            "      - {type: tmpfs, source: a, target: /t}\n",
            "7:16",
            "volume type `tmpfs`",
        ),
        (
            "      - {type: bind, target: /t}\n",
            "7:9",
            "has no `source`",
        ),
        (
            "      - {type: bind, source: a, target: /t, mode: ro}\n",
            "7:45",
            "unknown key `mode`",
        ),
        (
            "      - {type: bind, source: a, target: /t, read_only: yes}\n",
            "7:56",
            "must be true or false",
        ),
        ("      - 12\n", "7:9", "each item of `volumes`"),
    ];
    for (entry, at, what) in cases {
        let e = error(&with_volumes(entry));
        assert!(e.starts_with(&format!("{FILE}:{at}: ")), "{entry}: {e}");
        assert!(e.contains(what), "{entry}: {e}");
    }
    let e = error("space: {id: demo}\nparticipants: {}\ngateway:\n  volumes: [\"./x:/x\"]\n");
    assert!(
        e.starts_with(&format!("{FILE}:4:3: unknown key `volumes` in `gateway`")),
        "{e}"
    );
    let e = error("space: {id: demo}\nparticipants:\n  a:\n    volumes: ./x:/x\n");
    assert!(
        e.starts_with(&format!(
            "{FILE}:4:14: `volumes` of participant `a` must be a list"
        )),
        "{e}"
    );
}

#[test]
fn paths_outside_the_space_directory_need_a_volume() {
    use config::paths::check_host_paths;
    let text = |args: &str, volumes: &str| {
        format!("space: {{id: demo}}\nparticipants:\n  a:\n    command: node\n    args: {args}\n    auto_start: true\n    volumes: {volumes}\n")
    };
    let host = |p: &Path| p.starts_with("/spaces") || p.starts_with("/home/u/sdk");
    let check = |args: &str, volumes: &str| check_host_paths(&load_ok(&text(args, volumes)), &host);
    // Inside the space directory, not paths, system directories, absolute paths the host lacks.
    check(
        "[./a.js, lib/b.js, --x=../y, \"ws://h/../x\", /usr/lib/node, /nope/x.js]",
        "[]",
    )
    .expect("fine");
    let e = check("[--flag, ../agents/a.js]", "[]")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("{FILE}:5:20: participant `a`: `../agents/a.js` is /spaces/agents/a.js, outside the space directory, and no volume mounts it in the container; add `volumes: [\"../agents:/spaces/agents\"]` to the participant (in `args`)")
    );
    check("[../agents/a.js]", "[\"../agents:/spaces/agents\"]").expect("mounted at its own path");
    // Mounted elsewhere, the agent would still look at /spaces/agents.
    check("[../agents/a.js]", "[\"../agents:/agents\"]").unwrap_err();
    check("[/agents/a.js]", "[\"../agents:/agents\"]").expect("the container's path");
    let e = check("[/home/u/sdk]", "[]").unwrap_err().to_string();
    assert!(
        e.contains("add `volumes: [\"/home/u/sdk:/home/u/sdk\"]`"),
        "{e}"
    );
    // A bind source that does not exist.
    let e = check("[]", "[\"/missing:/m\"]").unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{FILE}:7:15: participant `a`: the bind source /missing of `/missing:/m` does not exist (mew does not create it)")
    );
}
