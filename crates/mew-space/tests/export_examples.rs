//! compose-examples/: every example validates, and its compose.yaml and stack.yaml are what the
//! exporter produces now (`scripts/gen-compose-examples` rewrites them).
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compose-examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("compose-examples")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("space.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn examples_validate_and_their_compose_files_are_in_sync() {
    let dirs = examples();
    let names: Vec<String> = dirs
        .iter()
        .filter_map(|d| Some(d.file_name()?.to_string_lossy().into_owned()))
        .collect();
    for wanted in ["calculator", "echo", "limits", "shell-agent"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "missing example {wanted}"
        );
    }
    let update = std::env::var_os("UPDATE_EXAMPLES").is_some();
    for dir in &dirs {
        let space = mew_space::config::load(&dir.join("space.yaml"), &Default::default())
            .unwrap_or_else(|e| panic!("{} does not validate: {e}", dir.display()));
        assert!(space.warnings.is_empty(), "{:?}", space.warnings);
        assert!(
            dir.join("README.md").is_file(),
            "{} has a README",
            dir.display()
        );
        // What `mew space export --static-image` prints, computed in-process (faster).
        let text = std::fs::read_to_string(&space.file).unwrap();
        let opts = mew_space::export::ComposeOptions::new(env!("CARGO_PKG_VERSION"));
        for (name, flavour) in [
            ("compose.yaml", mew_space::export::Flavour::Compose),
            ("stack.yaml", mew_space::export::Flavour::Stack),
        ] {
            let produced =
                mew_space::export::export(&space, &text, &opts, flavour).expect("export");
            let file = dir.join(name);
            if update {
                std::fs::write(&file, &produced).expect("write the exported file");
            }
            let stored = std::fs::read_to_string(&file).unwrap_or_default();
            assert!(
                stored == produced,
                "{} is out of date: run scripts/gen-compose-examples",
                file.display()
            );
        }
    }
}
