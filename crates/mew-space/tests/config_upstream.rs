//! Upstream-style space.yaml files (tests/fixtures/upstream/): mew's reader gives the same tree as
//! a second reader (PyYAML, vendored as <name>.json by regen.py), every file loads, and the
//! gateway's view of each file agrees with that tree.
use mew_space::config::lenient::GatewayConfig;
use mew_space::config::{self, parse, LoadOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn expected(yaml: &Path) -> Value {
    let json = yaml.with_extension("json");
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("{}: {e} (run regen.py)", json.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).expect("fixture is UTF-8")
}

#[test]
fn the_corpus_covers_what_upstream_files_use() {
    let files = fixtures();
    assert!(files.len() >= 30, "only {} fixtures", files.len());
    let texts: Vec<String> = files.iter().map(|f| text_of(f)).collect();
    let any = |pred: &dyn Fn(&str) -> bool| texts.iter().any(|t| pred(t));
    assert!(any(&|t| t.contains("\r\n")), "a CRLF file");
    assert!(any(&|t| t.starts_with('\u{feff}')), "a file with a BOM");
    assert!(any(&|t| t.contains("<<: *")), "merge keys");
    assert!(
        any(&|t| t.contains(": |") || t.contains(": >")),
        "block scalars"
    );
    assert!(
        any(&|t| t.contains("args: [\n")),
        "a flow sequence over lines"
    );
}

/// Issue 9 defect 1: a flow sequence closed at its key's indentation was refused with
/// `invalid indentation`.
#[test]
fn flow_sequence_across_lines_is_accepted() {
    let text = "space:\n  id: demo\nparticipants:\n  echo-agent:\n    auto_start: true\n    command: node\n    args: [\n      \"./agent.cjs\",\n      \"--gateway\", \"ws://localhost:${PORT}\"\n    ]\n";
    let space = config::parse_space(Path::new("/s/space.yaml"), text, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        space.participants[0].args,
        ["./agent.cjs", "--gateway", "ws://localhost:${PORT}"]
    );
    let gw = GatewayConfig::parse(text).unwrap();
    assert_eq!(gw.participants["echo-agent"].args.len(), 3);
}

#[test]
fn mew_reads_every_fixture_as_pyyaml_does() {
    let mut failures = Vec::new();
    for f in fixtures() {
        let tree = match parse::parse(&f, &text_of(&f)) {
            Ok(n) => n.to_json(),
            Err(e) => {
                failures.push(format!("{e}"));
                continue;
            }
        };
        let want = expected(&f);
        if tree != want {
            failures.push(format!(
                "{}: mew read\n{}\nPyYAML read\n{}",
                f.display(),
                serde_json::to_string_pretty(&tree).unwrap(),
                serde_json::to_string_pretty(&want).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_loads_as_a_space() {
    let mut failures = Vec::new();
    for f in fixtures() {
        if let Err(e) = config::parse_space(&f, &text_of(&f), &LoadOptions::default()) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A scalar as the gateway keeps it where it wants text (`8080` → "8080").
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(as_text).collect())
        .unwrap_or_default()
}

#[test]
fn the_gateway_reads_every_fixture_the_same_way() {
    for f in fixtures() {
        let want = expected(&f);
        let gw = GatewayConfig::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let ctx = f.display().to_string();
        let space = want.get("space");
        assert_eq!(
            gw.space_id,
            space.and_then(|s| s.get("id")).and_then(as_text),
            "{ctx}"
        );
        assert_eq!(
            gw.default_capabilities.as_ref(),
            want.get("defaults")
                .and_then(|d| d.get("capabilities"))
                .and_then(Value::as_array),
            "{ctx}"
        );
        let participants = want["participants"].as_object().expect("participants");
        assert_eq!(
            gw.participants.keys().collect::<Vec<_>>(),
            participants.keys().collect::<Vec<_>>(),
            "{ctx}"
        );
        for (id, p) in participants {
            let g = &gw.participants[id];
            let ctx = format!("{ctx}: participant {id}");
            assert_eq!(g.tokens, texts(p.get("tokens")), "{ctx}");
            assert_eq!(g.args, texts(p.get("args")), "{ctx}");
            assert_eq!(
                g.capabilities.as_ref(),
                p.get("capabilities").and_then(Value::as_array),
                "{ctx}"
            );
            assert_eq!(g.command, p.get("command").and_then(as_text), "{ctx}");
            assert_eq!(g.output_log, p.get("output_log").and_then(as_text), "{ctx}");
            let flag = |k: &str| p.get(k).and_then(Value::as_bool) == Some(true);
            assert_eq!(g.auto_start, flag("auto_start"), "{ctx}");
            assert_eq!(g.auto_connect, flag("auto_connect"), "{ctx}");
        }
    }
}
