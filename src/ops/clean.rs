//! `mew space clean`: which labelled objects are leftovers to remove (pure; the engine side is
//! `mew_engine::clean`).
use std::collections::BTreeSet;

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
    fn covers(&self, o: &Obj, dir_exists: &dyn Fn(&str) -> bool) -> bool {
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
