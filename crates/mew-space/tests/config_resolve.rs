//! Space + options → DesiredSpace: names, images, commands, substitution, URL rewriting, env,
//! mounts, limits, labels and hashes.
use mew_space::config::{self, ConfigError, LoadOptions, Space};
use mew_space::plan::{
    self, desired, ContainerSpec, DesiredSpace, MountKind, ResolveOptions, RestartPolicy, Role,
};
use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = "/spaces/demo/.mew/space.yaml";
const TOKEN_ECHO: &str = "tok-echo-0123456789";
const MIB: i64 = 1024 * 1024;

fn space(text: &str) -> Space {
    config::parse_space(Path::new(FILE), text, &LoadOptions::default()).expect("valid space.yaml")
}

fn opts() -> ResolveOptions {
    let mut o = ResolveOptions::new(
        8080,
        "mew-runtime:0.1.0",
        "mew-runtime-0.1.0",
        vec!["/opt/mew/mew".to_string()],
        "0.1.0",
    );
    o.user = Some("1000:1000".into());
    for id in ["echo", "calc", "fs", "piper", "bot", "a", "b"] {
        o.tokens
            .insert(id.to_string(), format!("tok-{id}-0123456789"));
    }
    o
}

fn resolve(text: &str, o: &ResolveOptions) -> DesiredSpace {
    desired(&space(text), o).expect("resolves")
}

fn part<'a>(d: &'a DesiredSpace, id: &str) -> &'a ContainerSpec {
    d.participants
        .iter()
        .find(|p| p.participant == id)
        .unwrap_or_else(|| panic!("no container for {id}"))
}

/// (kind, source, target, read-only) of each mount, in order.
fn mounts(c: &ContainerSpec) -> Vec<(MountKind, &str, &str, bool)> {
    c.mounts
        .iter()
        .map(|m| {
            (
                m.kind.clone(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only,
            )
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const AGENT: &str = r#"
space: {id: demo}
participants:
  echo:
    command: node
    args: ["./agent.js", "--gateway", "ws://localhost:${PORT}", "--space", "${SPACE}",
           "--token", "${TOKEN}", "${PORT}${PORT}", "${GATEWAY_URL}", "${HOME}"]
    auto_start: true
    env:
      API_KEY: "${OPENAI_API_KEY}"
      MISSING: "${NOT_SET_ANYWHERE}"
      URL: "http://127.0.0.1:8080/participants"
      OTHER_PORT: "ws://localhost:9999"
      SELF_TOKEN: "${TOKEN}"
      MEW_GATEWAY: "ws://localhost:${PORT}"
  human: {}
"#;

#[test]
fn gateway_container() {
    let d = resolve(AGENT, &opts());
    let g = &d.gateway;
    assert_eq!(g.name, "demo-gateway");
    assert_eq!(g.participant, "gateway");
    assert_eq!(g.role, Role::Gateway);
    assert_eq!(g.image, "mew-runtime:0.1.0");
    assert_eq!(
        g.cmd,
        strs(&[
            "/opt/mew/mew",
            "supervise",
            "--log",
            "/spaces/demo/logs/gateway.log",
            "--",
            "/opt/mew/mew",
            "gateway",
            "start",
            "--port",
            "8080",
            "--bind",
            "0.0.0.0",
            "--space-config",
            FILE,
            "--no-auto-start",
        ])
    );
    let hc = g.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        hc.test,
        strs(&["CMD", "/opt/mew/mew", "gateway", "health", "--port", "8080"])
    );
    assert_eq!(hc.interval_ms, 2000);
    assert_eq!(g.ports.len(), 1);
    assert_eq!(
        (
            g.ports[0].host_ip.as_str(),
            g.ports[0].host_port,
            g.ports[0].container_port
        ),
        ("127.0.0.1", 8080, 8080)
    );
    assert_eq!(g.network, "mew-demo");
    assert_eq!(g.aliases, strs(&["gateway"]));
    assert_eq!(g.resources.memory_bytes, Some(256 * MIB));
    assert_eq!(g.resources.pids_limit, Some(512));
    assert_eq!(g.resources.nano_cpus, None);
    // A crashed or OOM-killed gateway comes back by default.
    assert_eq!(g.restart, RestartPolicy::UnlessStopped);
    assert_eq!(g.stop_grace_secs, 5);
    // The gateway is trusted: the whole space directory, tokens and `.mew/logs` included.
    assert_eq!(
        mounts(g),
        vec![(MountKind::Bind, "/spaces/demo", "/spaces/demo", false)]
    );
    assert_eq!(g.log.driver, "json-file");
    assert_eq!(g.log.options["max-size"], "10m");
    assert_eq!(g.log.options["max-file"], "3");
    assert!(!g.init && g.cap_drop_all && g.no_new_privileges && g.read_only_rootfs);
    assert_eq!(g.working_dir.as_deref(), Some("/spaces/demo"));
    assert_eq!(g.user.as_deref(), Some("1000:1000"));
    assert_eq!(g.labels["io.mew.space"], "demo");
    assert_eq!(g.labels["io.mew.space.dir"], "/spaces/demo");
    assert_eq!(g.labels["io.mew.participant"], "gateway");
    assert_eq!(g.labels["io.mew.role"], "gateway");
    assert_eq!(g.labels["io.mew.version"], "0.1.0");
    assert_eq!(g.labels["io.mew.config-hash"], g.config_hash());
    assert_eq!(d.network.name, "mew-demo");
    assert_eq!(d.network.labels["io.mew.space"], "demo");
}

#[test]
fn agent_substitution_rewriting_and_env() {
    let mut o = opts();
    o.host_env.insert("OPENAI_API_KEY".into(), "sk-host".into());
    o.host_env.insert("HOME".into(), "/home/me".into());
    o.host_env.insert("PATH".into(), "/usr/bin".into());
    let d = resolve(AGENT, &o);
    assert_eq!(d.participants.len(), 1, "the human gets no container");
    let e = part(&d, "echo");
    assert_eq!(e.name, "demo-echo");
    assert_eq!(e.role, Role::Agent);
    assert_eq!(e.image, "node:22-slim");
    assert_eq!(
        e.cmd,
        strs(&[
            "/opt/mew/mew",
            "supervise",
            "--log",
            "/spaces/demo/logs/echo.log",
            "--",
            "node",
            "./agent.js",
            "--gateway",
            "ws://gateway:8080",
            "--space",
            "demo",
            "--token",
            mew_space::tokens::TOKEN_PLACEHOLDER,
            "80808080",
            "ws://gateway:8080",
            "${HOME}",
        ])
    );
    let env = &e.env;
    assert_eq!(env["API_KEY"], "sk-host");
    assert_eq!(env["MISSING"], "${NOT_SET_ANYWHERE}");
    assert_eq!(env["URL"], "http://gateway:8080/participants");
    assert_eq!(env["OTHER_PORT"], "ws://localhost:9999");
    // Under `up` the token is only in the mounted file; `mew supervise` fills it in.
    assert_eq!(env["SELF_TOKEN"], mew_space::tokens::TOKEN_PLACEHOLDER);
    assert_eq!(env["MEW_GATEWAY"], "ws://gateway:8080");
    assert_eq!(env["MEW_SPACE"], "demo");
    assert_eq!(env["MEW_PARTICIPANT_ID"], "echo");
    assert!(!env.contains_key("MEW_TOKEN") && !env.contains_key("MEW_TOKEN_ECHO"));
    assert_eq!(env["MEW_TOKEN_FILE"], "/run/secrets/mew-token");
    assert!(!serde_json::to_string(e).unwrap().contains(TOKEN_ECHO));
    assert_eq!(env["OPENAI_API_KEY"], "sk-host", "passthrough of OPENAI_*");
    assert_eq!(env["HOME"], "/tmp", "a writable home, not the host's");
    assert!(
        !env.contains_key("PATH"),
        "the host env is not forwarded wholesale"
    );
    assert_eq!(e.aliases, strs(&["echo"]));
    assert_eq!(e.network, "mew-demo");
    assert!(e.ports.is_empty());
    assert_eq!(e.resources.memory_bytes, Some(512 * MIB));
    assert_eq!(e.working_dir.as_deref(), Some("/spaces/demo"));
    assert!(!e.read_only_rootfs, "writable root for foreign images");
    assert!(e.cap_drop_all && e.no_new_privileges && !e.init);
    // Space dir at the same path, mew's volume read-only at /opt/mew, `.mew` read-only with the
    // tokens hidden, its own token only; parents before what is mounted inside them.
    assert_eq!(
        mounts(e),
        vec![
            (MountKind::Bind, "/spaces/demo", "/spaces/demo", false),
            (MountKind::Volume, "mew-runtime-0.1.0", "/opt/mew", true),
            (
                MountKind::Bind,
                "/spaces/demo/.mew",
                "/spaces/demo/.mew",
                true
            ),
            (
                MountKind::Bind,
                "/spaces/demo/.mew/tokens/echo.token",
                "/run/secrets/mew-token",
                true
            ),
            (
                MountKind::Bind,
                "/spaces/demo/.mew/empty",
                "/spaces/demo/.mew/tokens",
                true
            ),
        ]
    );
    assert_eq!(d.runtime_volume.as_deref(), Some("mew-runtime-0.1.0"));
    // Tokens never appear in labels.
    for spec in std::iter::once(&d.gateway).chain(&d.participants) {
        for v in spec.labels.values() {
            assert!(!v.contains("tok-"), "label leaks a token: {v}");
        }
    }
}

#[test]
fn mew_commands_use_the_runtime_image() {
    let d = resolve(
        "space: {id: demo}\nparticipants:\n  echo:\n    command: mew\n    args: [agent, echo, --gateway, \"ws://localhost:${PORT}\"]\n    auto_start: true\n",
        &opts(),
    );
    let e = part(&d, "echo");
    assert_eq!(e.image, "mew-runtime:0.1.0");
    assert_eq!(
        &e.cmd[5..],
        &strs(&[
            "/opt/mew/mew",
            "agent",
            "echo",
            "--gateway",
            "ws://gateway:8080"
        ])[..]
    );
    assert!(e.read_only_rootfs);
    assert!(!e.env.contains_key("HOME"));
    assert!(
        e.mounts.iter().all(|m| m.kind == MountKind::Bind),
        "no runtime volume needed"
    );
    assert_eq!(d.runtime_volume, None);
}

#[test]
fn image_selection_order() {
    let text = r#"
space: {id: demo}
defaults: {image: "team/base:1"}
participants:
  a: {command: node, auto_start: true, image: "own/node:1"}
  b: {command: node, auto_start: true}
"#;
    let d = resolve(text, &opts());
    assert_eq!(part(&d, "a").image, "own/node:1");
    assert_eq!(
        part(&d, "b").image,
        "team/base:1",
        "defaults.image beats per-command images"
    );

    let text = "space: {id: demo}\nparticipants:\n  a: {command: node, auto_start: true}\n  b: {command: /usr/bin/python3, auto_start: true}\n  bot: {command: npx, auto_start: true}\n";
    let d = resolve(text, &opts());
    assert_eq!(part(&d, "a").image, "node:22-slim");
    assert_eq!(part(&d, "b").image, "python:3.12-slim");
    assert_eq!(part(&d, "bot").image, "node:22-slim");

    let mut o = opts();
    let env = BTreeMap::from([
        ("MEW_IMAGE_NODE".to_string(), "env/node:22".to_string()),
        ("MEW_IMAGE_PYTHON3".to_string(), "env/py:3".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ]);
    o.image_overrides = plan::image_overrides(&["node=flag/node:22".to_string()], &env).unwrap();
    let d = resolve(text, &o);
    assert_eq!(
        part(&d, "a").image,
        "flag/node:22",
        "the flag beats the environment"
    );
    assert_eq!(part(&d, "b").image, "env/py:3");
}

#[test]
fn image_override_keys_and_bad_flags() {
    assert_eq!(plan::command_key("node"), "NODE");
    assert_eq!(plan::command_key("/usr/bin/python3.12"), "PYTHON3_12");
    assert_eq!(plan::command_key("my-tool"), "MY_TOOL");
    let o = plan::image_overrides(&["python3.12=p:1".into()], &BTreeMap::new()).unwrap();
    assert_eq!(o["PYTHON3_12"], "p:1");
    for bad in ["node", "=img", "node="] {
        let e = plan::image_overrides(&[bad.to_string()], &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid(_)), "{bad}: {e}");
    }
}

#[test]
fn unknown_command_without_image_is_an_error_at_the_command() {
    let e = desired(
        &space(
            "space: {id: demo}\nparticipants:\n  a:\n    command: ./run.sh\n    auto_start: true\n",
        ),
        &opts(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{FILE}:4:14: participant `a`: no image for command `./run.sh`; set `image:` for it (or `defaults.image`), or pass --image run.sh=IMAGE")
    );
}

#[test]
fn bridge_command() {
    let text = r#"
space: {id: demo}
participants:
  fs:
    type: mcp-bridge
    auto_start: true
    capabilities: [{kind: "mcp/response"}]
    env: {EXTRA: "1"}
    mcp_server:
      command: node
      args: [./server.js, ./files]
      env: {A: "1", B: "2"}
      cwd: ./files
    bridge_config: {init_timeout: 30000, reconnect: true, max_reconnects: 3}
"#;
    let d = resolve(text, &opts());
    let b = part(&d, "fs");
    assert_eq!(b.role, Role::Bridge);
    assert_eq!(
        b.image, "node:22-slim",
        "the MCP server's command picks the image"
    );
    assert_eq!(
        &b.cmd[5..],
        &strs(&[
            "/opt/mew/mew",
            "bridge",
            "start",
            "--gateway",
            "ws://gateway:8080",
            "--space",
            "demo",
            "--participant-id",
            "fs",
            "--mcp-command",
            "node",
            "--mcp-args",
            "./server.js,./files",
            "--mcp-env",
            "A=1,B=2",
            "--mcp-cwd",
            "/spaces/demo/files",
            "--init-timeout",
            "30000",
            "--reconnect",
            "true",
            "--max-reconnects",
            "3",
            "--capabilities",
            r#"[{"kind":"mcp/response"}]"#,
        ])[..]
    );
    assert_eq!(b.env["NODE_ENV"], "production");
    assert_eq!(b.env["EXTRA"], "1");
}

#[test]
fn fifo_client_virtual_and_passive() {
    let text = r#"
space: {id: demo}
participants:
  piper: {fifo: true, auto_connect: true, output_log: ./logs/piper.log}
  bot: {fifo: true, auto_connect: true}
  watcher: {output_log: ./logs/w.log, auto_connect: true, tokens: [w]}
  human: {capabilities: [{kind: chat}]}
"#;
    let d = resolve(text, &opts());
    let ids: Vec<_> = d
        .participants
        .iter()
        .map(|p| p.participant.as_str())
        .collect();
    assert_eq!(ids, ["piper", "bot"]);
    let c = part(&d, "piper");
    assert_eq!(c.role, Role::Client);
    assert_eq!(c.image, "mew-runtime:0.1.0");
    assert_eq!(
        &c.cmd[5..],
        &strs(&[
            "/opt/mew/mew",
            "client",
            "connect",
            "--gateway",
            "ws://gateway:8080",
            "--space",
            "demo",
            "--participant-id",
            "piper",
            "--fifo-in",
            "/spaces/demo/fifos/piper-in",
            "--output-file",
            "/spaces/demo/logs/piper.log",
        ])[..]
    );
    let b = part(&d, "bot");
    assert_eq!(
        &b.cmd[b.cmd.len() - 2..],
        &strs(&["--fifo-out", "/spaces/demo/fifos/bot-out"])[..]
    );
}

#[test]
fn limits_restart_logging_and_grace_from_config() {
    let text = r#"
space: {id: demo}
defaults: {restart_policy: on-failure:3, resources: {pids: 64}}
participants:
  a:
    command: mew
    auto_start: true
    resources: {memory: 1g, cpus: 1.5}
    stop_grace_period: 500ms
    logging: {driver: local, options: {max-size: 5m}}
  b: {command: mew, auto_start: true, restart_policy: always, stop_grace_period: 1m}
"#;
    let d = resolve(text, &opts());
    let a = part(&d, "a");
    assert_eq!(a.resources.memory_bytes, Some(1024 * MIB));
    assert_eq!(a.resources.nano_cpus, Some(1_500_000_000));
    assert_eq!(a.resources.pids_limit, Some(64));
    assert_eq!(a.restart, RestartPolicy::OnFailure(Some(3)));
    assert_eq!(a.stop_grace_secs, 1, "sub-second grace rounds up");
    assert_eq!(a.log.driver, "local");
    assert_eq!(
        a.log.options,
        BTreeMap::from([("max-size".to_string(), "5m".to_string())])
    );
    let b = part(&d, "b");
    assert_eq!(b.restart, RestartPolicy::Always);
    assert_eq!(b.stop_grace_secs, 60);
    assert_eq!(b.resources.memory_bytes, Some(512 * MIB));
}

#[test]
fn shared_network_mode_keeps_localhost() {
    let text = "space:\n  id: demo\n  network: {mode: shared}\nparticipants:\n  echo:\n    command: mew\n    args: [\"ws://localhost:${PORT}\", \"${GATEWAY_URL}\"]\n    auto_start: true\n";
    let d = resolve(text, &opts());
    let e = part(&d, "echo");
    assert_eq!(e.network, "container:demo-gateway");
    assert!(e.aliases.is_empty());
    assert_eq!(
        &e.cmd[e.cmd.len() - 2..],
        &strs(&["ws://localhost:8080", "ws://localhost:8080"])[..]
    );
    assert_eq!(e.env["MEW_GATEWAY"], "ws://localhost:8080");
}

#[test]
fn hashes_are_stable_and_cascade_from_the_gateway() {
    let base = "space: {id: demo}\nparticipants:\n  a: {command: mew, auto_start: true, args: [x], capabilities: [{kind: chat}]}\n  b: {command: mew, auto_start: true, args: [y]}\n";
    let d1 = resolve(base, &opts());
    let d2 = resolve(base, &opts());
    assert_eq!(d1, d2, "the same input gives the same output");

    // A change to one agent's args changes only that agent.
    let d3 = resolve(&base.replace("args: [x]", "args: [x2]"), &opts());
    assert_eq!(
        d3.gateway.labels["io.mew.config-hash"],
        d1.gateway.labels["io.mew.config-hash"]
    );
    assert_ne!(
        part(&d3, "a").labels["io.mew.config-hash"],
        part(&d1, "a").labels["io.mew.config-hash"]
    );
    assert_eq!(
        part(&d3, "b").labels["io.mew.config-hash"],
        part(&d1, "b").labels["io.mew.config-hash"]
    );

    // A change the gateway acts on (capabilities) restarts it, and with it every participant.
    let d4 = resolve(&base.replace("kind: chat", "kind: mcp/*"), &opts());
    assert_ne!(
        d4.gateway.labels["io.mew.config-hash"],
        d1.gateway.labels["io.mew.config-hash"]
    );
    assert_ne!(
        part(&d4, "b").labels["io.mew.config-hash"],
        part(&d1, "b").labels["io.mew.config-hash"]
    );

    // So does opening the space to anonymous joins (the gateway reads the key at start).
    let open = base.replace("{id: demo}", "{id: demo, allow_anonymous_joins: true}");
    let d5 = resolve(&open, &opts());
    assert_ne!(
        d5.gateway.labels["io.mew.gateway-view"],
        d1.gateway.labels["io.mew.gateway-view"]
    );
    // `false` is the default: the same gateway as a file without the key.
    let closed = base.replace("{id: demo}", "{id: demo, allow_anonymous_joins: false}");
    assert_eq!(
        resolve(&closed, &opts()).gateway.labels["io.mew.gateway-view"],
        d1.gateway.labels["io.mew.gateway-view"]
    );
}

#[test]
fn missing_token_is_an_error() {
    let mut o = opts();
    o.tokens.clear();
    let e = desired(&space(AGENT), &o).unwrap_err();
    assert!(
        e.to_string().contains("participant `echo` has no token"),
        "{e}"
    );
}

#[test]
fn gateway_env_and_bind() {
    let mut o = opts();
    o.bind = "0.0.0.0".into();
    o.host_env
        .insert("MEW_TOKEN_ECHO".into(), "override".into());
    o.host_env.insert("GATEWAY_LOGGING".into(), "false".into());
    o.host_env.insert("PATH".into(), "/usr/bin".into());
    let d = resolve(AGENT, &o);
    assert_eq!(d.gateway.ports[0].host_ip, "0.0.0.0");
    assert_eq!(d.gateway.env.len(), 2);
    assert_eq!(d.gateway.env["MEW_TOKEN_ECHO"], "override");
    assert_eq!(d.gateway.env["GATEWAY_LOGGING"], "false");
    assert_eq!(plan::token_env_name("my-agent.v2"), "MEW_TOKEN_MY_AGENT.V2");
}

#[test]
fn config_outside_the_space_dir_is_mounted_for_the_gateway() {
    let opts_load = LoadOptions {
        space_dir: Some("/spaces/demo".into()),
        space_id: None,
    };
    let s = config::parse_space(
        Path::new("/etc/mew/space.yaml"),
        "space: {id: demo}\nparticipants: {}\n",
        &opts_load,
    )
    .unwrap();
    let d = desired(&s, &opts()).unwrap();
    let m = &d.gateway.mounts;
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[1].source.as_str(), m[1].target.as_str(), m[1].read_only),
        ("/etc/mew", "/etc/mew", true)
    );
}

#[test]
fn gateway_restart_policy_from_space_yaml() {
    for (yaml, policy) in [
        ("no", RestartPolicy::No),
        ("always", RestartPolicy::Always),
        ("on-failure", RestartPolicy::OnFailure(None)),
        ("on-failure:4", RestartPolicy::OnFailure(Some(4))),
        ("unless-stopped", RestartPolicy::UnlessStopped),
    ] {
        let text = format!(
            "space: {{id: demo}}\ngateway: {{restart_policy: {yaml}}}\nparticipants:\n  echo: {{command: mew, auto_start: true}}\n"
        );
        let d = resolve(&text, &opts());
        assert_eq!(d.gateway.restart, policy, "{yaml}");
        // Participants do not inherit it.
        assert_eq!(part(&d, "echo").restart, RestartPolicy::No, "{yaml}");
    }
    // A bad value is a file:line:column error.
    let e = config::parse_space(
        Path::new(FILE),
        "space: {id: demo}\ngateway:\n  restart_policy: sometimes\n",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{FILE}:3:19")) && e.to_string().contains("sometimes"),
        "{e}"
    );
}

/// Each participant sees only its own token; `.mew` and a space.yaml at the space root are
/// read-only for it; an `MEW_TOKEN_<ID>` override comes from the file the runner names.
#[test]
fn participants_get_only_their_own_token_and_a_read_only_dot_mew() {
    let opts_load = LoadOptions {
        space_dir: None,
        space_id: None,
    };
    let s = config::parse_space(
        Path::new("/spaces/root/space.yaml"),
        "space: {id: demo}\nparticipants:\n  a: {command: mew, auto_start: true}\n  b: {command: mew, auto_start: true}\n",
        &opts_load,
    )
    .unwrap();
    let mut o = opts();
    o.token_files
        .insert("b".into(), "/spaces/root/.mew/tokens/env/b.token".into());
    let d = desired(&s, &o).unwrap();
    let b = part(&d, "b");
    assert_eq!(
        mounts(b),
        vec![
            (MountKind::Bind, "/spaces/root", "/spaces/root", false),
            (
                MountKind::Bind,
                "/spaces/root/space.yaml",
                "/spaces/root/space.yaml",
                true
            ),
            (
                MountKind::Bind,
                "/spaces/root/.mew",
                "/spaces/root/.mew",
                true
            ),
            (
                MountKind::Bind,
                "/spaces/root/.mew/tokens/env/b.token",
                "/run/secrets/mew-token",
                true
            ),
            (
                MountKind::Bind,
                "/spaces/root/.mew/empty",
                "/spaces/root/.mew/tokens",
                true
            ),
        ]
    );
    let a = part(&d, "a");
    assert!(a
        .mounts
        .iter()
        .any(|m| m.source == "/spaces/root/.mew/tokens/a.token"
            && m.target == plan::desired::TOKEN_SECRET_PATH
            && m.read_only));
    assert!(!a.mounts.iter().any(|m| m.source.contains("b.token")));
}

/// With space.yaml (and so the tokens) outside the space directory, a participant gets its token
/// file and nothing of the config's directory.
#[test]
fn config_outside_the_space_dir_is_not_mounted_for_participants() {
    let opts_load = LoadOptions {
        space_dir: Some("/spaces/demo".into()),
        space_id: None,
    };
    let s = config::parse_space(
        Path::new("/etc/mew/space.yaml"),
        "space: {id: demo}\nparticipants:\n  a: {command: mew, auto_start: true}\n",
        &opts_load,
    )
    .unwrap();
    let d = desired(&s, &opts()).unwrap();
    assert_eq!(
        mounts(part(&d, "a")),
        vec![
            (MountKind::Bind, "/spaces/demo", "/spaces/demo", false),
            (
                MountKind::Bind,
                "/etc/mew/.mew/tokens/a.token",
                "/run/secrets/mew-token",
                true
            ),
        ]
    );
}

/// The token is out of the container's configuration under `up`, yet a new token still
/// recreates the container (its digest is in the hash).
#[test]
fn a_new_token_changes_the_hash_without_being_in_the_spec() {
    let a = resolve(AGENT, &opts());
    let mut o = opts();
    o.tokens
        .insert("echo".into(), "tok-echo-rotated-0123".into());
    let b = resolve(AGENT, &o);
    let (ea, eb) = (part(&a, "echo"), part(&b, "echo"));
    assert_ne!(
        ea.labels["io.mew.config-hash"],
        eb.labels["io.mew.config-hash"]
    );
    assert_eq!(ea.env, eb.env);
    assert_eq!(ea.cmd, eb.cmd);
    let json = serde_json::to_string(eb).unwrap();
    assert!(!json.contains("tok-echo-rotated-0123"), "{json}");
}
