//! `mew space clean`: which labelled objects are leftovers to remove (pure; the engine side is
//! `mew_engine::clean`), and which of the space directory's files go with upstream's flags.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) use mew_engine::clean::{Kind, Obj};

/// Which spaces to clean.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// This space's id, when known.
    pub(crate) space_id: Option<String>,
    /// This space's directory.
    pub(crate) dir: Option<String>,
    /// Also every space whose directory no longer exists, and every labelled network of a
    /// space that has no container at all (what a killed `up` can leave behind).
    pub(crate) all: bool,
    /// Also remove running containers.
    pub(crate) force: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CleanPlan {
    pub(crate) remove: Vec<Obj>,
    /// Kept, with the reason.
    pub(crate) skipped: Vec<(Obj, String)>,
}

impl Scope {
    pub(crate) fn covers(&self, o: &Obj, dir_exists: &dyn Fn(&str) -> bool) -> bool {
        self.space_id.as_deref() == Some(o.space.as_str())
            || (self.dir.is_some() && self.dir == o.dir)
            || (self.all && o.dir.as_deref().is_some_and(|d| !dir_exists(d)))
    }
}

/// Decide what to remove: stopped containers (running ones only with `force`), then networks
/// and volumes nothing else uses once those containers are gone.
pub(crate) fn plan(objs: &[Obj], scope: &Scope, dir_exists: &dyn Fn(&str) -> bool) -> CleanPlan {
    let mut out = CleanPlan::default();
    let mut removed_containers: BTreeSet<&str> = BTreeSet::new();
    let spaces_with_containers: BTreeSet<&str> = objs
        .iter()
        .filter(|o| o.kind == Kind::Container)
        .map(|o| o.space.as_str())
        .collect();
    let stray_network = |o: &Obj| {
        scope.all
            && o.kind == Kind::Network
            && o.users.is_empty()
            && !spaces_with_containers.contains(o.space.as_str())
    };
    let mut in_scope: Vec<&Obj> = objs
        .iter()
        .filter(|o| scope.covers(o, dir_exists) || stray_network(o))
        .collect();
    in_scope.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    for o in in_scope.iter().filter(|o| o.kind == Kind::Container) {
        if o.running && !scope.force {
            out.skipped
                .push(((*o).clone(), "running; use --force to remove it".into()));
        } else {
            removed_containers.insert(o.id.as_str());
            out.remove.push((*o).clone());
        }
    }
    for o in in_scope.iter().filter(|o| o.kind != Kind::Container) {
        let busy = o
            .users
            .iter()
            .any(|u| !removed_containers.contains(u.as_str()));
        if busy {
            out.skipped
                .push(((*o).clone(), "in use by a container that stays".into()));
        } else {
            out.remove.push((*o).clone());
        }
    }
    out
}

/// Which files of the space directory `clean` removes (upstream's `--logs`, `--fifos`, `--all`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FileScope {
    /// Regular files in `logs/` (and its `logs/<space-id>/` folders).
    pub(crate) logs: bool,
    /// FIFOs in `fifos/` and `.mew/fifos/`.
    pub(crate) fifos: bool,
    /// `.mew` runtime state: `.mew/logs`, `.mew/fifos`, `.mew/pm2`, `.mew/pids.json`,
    /// `.mew/empty`. Never `.mew/space.yaml`, `.env` or `node_modules`.
    pub(crate) runtime: bool,
    /// `.mew/tokens` (only when asked for: a new token locks out whoever holds the old one).
    pub(crate) tokens: bool,
}

impl FileScope {
    /// As upstream: logs and FIFOs, or only the one of `--logs`/`--fifos` given; `--all` adds the
    /// runtime state.
    pub(crate) fn from_flags(logs: bool, fifos: bool, all: bool, tokens: bool) -> FileScope {
        let neither = !logs && !fifos;
        FileScope {
            logs: logs || neither || all,
            fifos: fifos || neither || all,
            runtime: all,
            tokens,
        }
    }

    /// Only one of `--logs`/`--fifos`: files only, the engine's objects are left alone.
    pub(crate) fn files_only(logs: bool, fifos: bool, all: bool) -> bool {
        (logs || fifos) && !all
    }
}

const RUNTIME: &[&str] = &["logs", "fifos", "pm2", "pids.json", "empty"];

/// The files (and, for `.mew` runtime state, folders) `scope` covers in `dir`, sorted. FIFOs of
/// the participants in `busy` (their containers run and hold them open) stay.
pub(crate) fn files_to_clean(
    dir: &Path,
    scope: &FileScope,
    busy: &BTreeSet<String>,
) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    let mew = dir.join(".mew");
    if scope.logs {
        let logs = dir.join("logs");
        for entry in list(&logs) {
            if entry.is_dir() {
                out.extend(list(&entry).into_iter().filter(|p| is_regular(p)));
            } else if is_regular(&entry) {
                out.insert(entry);
            }
        }
    }
    if scope.fifos {
        for folder in [dir.join("fifos"), mew.join("fifos")] {
            out.extend(
                list(&folder)
                    .into_iter()
                    .filter(|p| is_fifo(p) && !busy.iter().any(|id| fifo_belongs_to(p, id))),
            );
        }
    }
    if scope.runtime {
        for name in RUNTIME {
            let p = mew.join(name);
            // The FIFOs of a running client stay, and so does their folder.
            if *name == "fifos" && !busy.is_empty() {
                continue;
            }
            if p.symlink_metadata().is_ok() {
                out.insert(p);
            }
        }
    }
    if scope.tokens && mew.join("tokens").is_dir() {
        out.insert(mew.join("tokens"));
    }
    // A folder removed whole makes listing its files apart redundant.
    let folders: Vec<PathBuf> = out.iter().filter(|p| p.is_dir()).cloned().collect();
    out.into_iter()
        .filter(|p| !folders.iter().any(|f| p != f && p.starts_with(f)))
        .collect()
}

/// Remove what `files_to_clean` listed; the ones that could not be removed, with the reason.
pub(crate) fn remove_files(paths: &[PathBuf]) -> Vec<(PathBuf, std::io::Error)> {
    let mut failed = Vec::new();
    for p in paths {
        let r = match p.symlink_metadata() {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            failed.push((p.clone(), e));
        }
    }
    failed
}

/// `fifos/<id>-in`, `fifos/<id>-out` (spec/cli.md §1.4).
fn fifo_belongs_to(p: &Path, id: &str) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == format!("{id}-in") || n == format!("{id}-out"))
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn is_regular(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.file_type().is_file())
}

fn is_fifo(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    p.symlink_metadata().is_ok_and(|m| m.file_type().is_fifo())
}

/// `container demo-echo (space demo)`.
pub(crate) fn describe(o: &Obj) -> String {
    format!("{} {} (space {})", o.kind.as_str(), o.name, o.space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: Kind, name: &str, space: &str, dir: &str, running: bool, users: &[&str]) -> Obj {
        Obj {
            kind,
            name: name.into(),
            id: format!("id-{name}"),
            space: space.into(),
            dir: Some(dir.into()),
            running,
            users: users.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn fixture() -> Vec<Obj> {
        vec![
            obj(Kind::Container, "a-gw", "a", "/a", true, &[]),
            obj(Kind::Container, "a-echo", "a", "/a", false, &[]),
            obj(
                Kind::Network,
                "mew-a",
                "a",
                "/a",
                false,
                &["id-a-gw", "id-a-echo"],
            ),
            obj(Kind::Volume, "a-data", "a", "/a", false, &["id-a-echo"]),
            obj(Kind::Container, "gone-x", "gone", "/gone", false, &[]),
            obj(Kind::Network, "mew-gone", "gone", "/gone", false, &[]),
            obj(Kind::Container, "b-x", "b", "/b", false, &[]),
        ]
    }

    fn names(objs: &[Obj]) -> Vec<&str> {
        objs.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn this_space_keeps_running_containers_and_their_network() {
        let scope = Scope {
            space_id: Some("a".into()),
            ..Default::default()
        };
        let p = plan(&fixture(), &scope, &|_| true);
        assert_eq!(names(&p.remove), ["a-echo", "a-data"]);
        let skipped: Vec<&str> = p.skipped.iter().map(|(o, _)| o.name.as_str()).collect();
        assert_eq!(skipped, ["a-gw", "mew-a"]);
    }

    #[test]
    fn force_removes_everything_of_the_space() {
        let scope = Scope {
            space_id: Some("a".into()),
            force: true,
            ..Default::default()
        };
        let p = plan(&fixture(), &scope, &|_| true);
        assert_eq!(names(&p.remove), ["a-echo", "a-gw", "mew-a", "a-data"]);
    }

    #[test]
    fn all_adds_spaces_whose_directory_is_gone() {
        let scope = Scope {
            dir: Some("/nowhere".into()),
            all: true,
            ..Default::default()
        };
        let p = plan(&fixture(), &scope, &|d| d != "/gone");
        assert_eq!(names(&p.remove), ["gone-x", "mew-gone"]);
        assert!(p.skipped.is_empty());
    }

    fn fifo(p: &Path) {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }

    /// A space directory as an upstream user has it after a few runs.
    fn space_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for dir in [
            "logs/other-id",
            "fifos",
            ".mew/logs",
            ".mew/tokens",
            ".mew/pm2",
        ] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        for f in [
            "logs/gateway.log",
            "logs/echo.log",
            "logs/other-id/echo.log",
            ".mew/space.yaml",
            ".mew/logs/envelope-history.jsonl",
            ".mew/tokens/echo.token",
            ".mew/pids.json",
            "fifos/notes.txt",
        ] {
            std::fs::write(p.join(f), "x").unwrap();
        }
        for f in ["fifos/cli-in", "fifos/cli-out", "fifos/bot-in"] {
            fifo(&p.join(f));
        }
        d
    }

    fn rel(dir: &Path, paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn upstream_flags_choose_the_files() {
        let d = space_dir();
        let none = BTreeSet::new();
        let plain = files_to_clean(
            d.path(),
            &FileScope::from_flags(false, false, false, false),
            &none,
        );
        assert_eq!(
            rel(d.path(), &plain),
            [
                "fifos/bot-in",
                "fifos/cli-in",
                "fifos/cli-out",
                "logs/echo.log",
                "logs/gateway.log",
                "logs/other-id/echo.log"
            ]
        );
        let logs = files_to_clean(
            d.path(),
            &FileScope::from_flags(true, false, false, false),
            &none,
        );
        assert_eq!(
            rel(d.path(), &logs),
            [
                "logs/echo.log",
                "logs/gateway.log",
                "logs/other-id/echo.log"
            ]
        );
        let busy = BTreeSet::from(["cli".to_string()]);
        let fifos = files_to_clean(
            d.path(),
            &FileScope::from_flags(false, true, false, false),
            &busy,
        );
        assert_eq!(
            rel(d.path(), &fifos),
            ["fifos/bot-in"],
            "a running client's FIFOs stay"
        );
        let all = files_to_clean(
            d.path(),
            &FileScope::from_flags(false, false, true, false),
            &none,
        );
        let all = rel(d.path(), &all);
        for p in [
            ".mew/logs",
            ".mew/pids.json",
            ".mew/pm2",
            "logs/gateway.log",
            "fifos/cli-in",
        ] {
            assert!(all.contains(&p.to_string()), "{p} in {all:?}");
        }
        assert!(
            !all.iter()
                .any(|p| p.contains("tokens") || p.contains("space.yaml") || p.contains("notes")),
            "{all:?}"
        );
        let tokens = files_to_clean(
            d.path(),
            &FileScope::from_flags(false, false, true, true),
            &none,
        );
        assert!(rel(d.path(), &tokens).contains(&".mew/tokens".to_string()));
        assert!(remove_files(&tokens).is_empty());
        assert!(d.path().join(".mew/space.yaml").exists());
        assert!(!d.path().join(".mew/tokens").exists());
        assert!(!d.path().join("logs/gateway.log").exists());
        assert!(d.path().join("fifos/notes.txt").exists());
        assert!(FileScope::files_only(true, false, false));
        assert!(!FileScope::files_only(true, false, true));
    }

    /// Regression (issue 13.1): two labelled networks of a space whose directory exists, with no
    /// container at all, made `clean --all` say "Nothing to clean.".
    #[test]
    fn all_adds_networks_of_spaces_without_containers() {
        let mut objs = fixture();
        objs.push(obj(Kind::Network, "mew-k", "k", "/k", false, &[]));
        objs.push(obj(Kind::Network, "mew-k", "k", "/k", false, &[]));
        let scope = Scope {
            dir: Some("/nowhere".into()),
            all: true,
            ..Default::default()
        };
        let p = plan(&objs, &scope, &|d| d != "/gone");
        assert_eq!(names(&p.remove), ["gone-x", "mew-gone", "mew-k", "mew-k"]);
        let without_all = Scope {
            dir: Some("/nowhere".into()),
            ..Default::default()
        };
        assert!(plan(&objs, &without_all, &|_| true).remove.is_empty());
    }
}
