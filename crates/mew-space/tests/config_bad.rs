//! The bad-input corpus: every file under `tests/fixtures/bad/` is a space.yaml the loader must
//! refuse with one line, at the place its header names:
//!
//! ```text
//! # expect: LINE:COLUMN     (or `-` when the error has no single place in the file)
//! # message: a piece of the message
//! ```
//!
//! Plus the cases a stored file cannot carry: a binary file, a file over the size limit, a
//! directory where the file should be. `tests/runner_cli.rs` runs the same corpus through
//! `mew space up` (exit 2, nothing created on the engine).
use mew_space::config::{self, LoadOptions};
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `(position, message piece)` from a corpus file's header.
fn header(text: &str) -> (Option<(usize, usize)>, String) {
    let mut lines = text.lines();
    let expect = lines.next().and_then(|l| l.strip_prefix("# expect: "));
    let message = lines.next().and_then(|l| l.strip_prefix("# message: "));
    let (Some(expect), Some(message)) = (expect, message) else {
        panic!("corpus file without `# expect:` and `# message:` lines");
    };
    let pos = (expect != "-").then(|| {
        let (l, c) = expect.split_once(':').expect("LINE:COLUMN");
        (l.parse().unwrap(), c.parse().unwrap())
    });
    (pos, message.to_string())
}

fn refusal(path: &Path) -> String {
    let loaded = std::panic::catch_unwind(|| config::load(path, &LoadOptions::default()));
    match loaded {
        Err(_) => panic!("{}: the loader panicked", path.display()),
        Ok(Ok(_)) => "LOADED (it must be refused)".to_string(),
        // What the user sees: the error and its causes on one line.
        Ok(Err(e)) => mew_space::error_line(&e),
    }
}

#[test]
fn every_corpus_file_is_refused_in_one_line_at_its_place() {
    let files = corpus();
    assert!(files.len() >= 50, "the corpus has {} files", files.len());
    let mut wrong = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (pos, piece) = header(&text);
        let msg = refusal(path);
        let file = std::fs::canonicalize(path).unwrap();
        let prefix = match pos {
            Some((l, c)) => format!("{}:{l}:{c}: ", file.display()),
            None => String::new(),
        };
        let ok = msg.starts_with(&prefix)
            && msg.contains(&piece)
            && !msg.contains('\n')
            && (pos.is_some() || !msg.contains(&format!("{}:", file.display())));
        if !ok {
            wrong.push(format!(
                "{}\n    expected {prefix}…{piece}…\n    got      {msg}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn binary_huge_and_directory_inputs_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = tmp.path().join("binary.yaml");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0, 0, 0xff, 0xfe, 1, 2, 3]).unwrap();
    let huge = tmp.path().join("huge.yaml");
    std::fs::write(&huge, "#".repeat(5 * 1024 * 1024)).unwrap();
    let dir = tmp.path().join("dir.yaml");
    std::fs::create_dir(&dir).unwrap();
    for (path, piece) in [(&binary, "UTF-8"), (&huge, "MiB"), (&dir, "directory")] {
        let msg = refusal(path);
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains(piece), "{}: {msg}", path.display());
    }
}
