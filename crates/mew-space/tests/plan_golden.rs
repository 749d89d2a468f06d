//! Golden tests for planning: each `tests/golden/<case>/` holds a `space.yaml`, optionally an
//! `observed.json` (what the engine has; absent = nothing at all), the expected `plan.txt`
//! (what `mew space up --dry-run` prints) and, with `observed.json`, `down.txt` (the plan of
//! `mew space down`) and, when it lists volumes, `down-volumes.txt` (`mew space down --volumes`).
//! `UPDATE_GOLDEN=1 cargo test --test plan_golden` rewrites the expectations.
//!
//! `observed.json` describes containers by participant; `"hash": "current"` gives a container the
//! config hash mew wants now, `"previous"` the hash it had under the case's `previous.yaml` (the
//! space.yaml before an edit), anything else is taken literally:
//! `{"runtime_image_present": true, "runtime_volume_present": true, "networks": ["mew-demo"],
//!   "containers": [{"participant": "echo", "state": "running", "hash": "current"}]}`
//!
//! `"images_present"` lists the pulled images (not the runtime image) the engine has; without
//! it, it has every one the space uses. `"volumes"` are volumes labelled with the space.
use mew_space::config::{self, LoadOptions};
use mew_space::plan::{
    self, labels, ContainerState, DesiredSpace, ObservedContainer, ObservedNetwork, ObservedSpace,
    Plan, ResolveOptions,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct ObservedFixture {
    #[serde(default)]
    runtime_image_present: bool,
    #[serde(default)]
    runtime_volume_present: bool,
    #[serde(default)]
    networks: Vec<String>,
    #[serde(default)]
    containers: Vec<ContainerFixture>,
    images_present: Option<Vec<String>>,
    #[serde(default)]
    volumes: Vec<String>,
}

#[derive(Deserialize)]
struct ContainerFixture {
    participant: String,
    state: String,
    hash: String,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Fixed options, so that plans are the same on every machine.
fn options(space: &config::Space) -> ResolveOptions {
    let mut o = ResolveOptions::new(
        8080,
        "mew-runtime:0.1.0",
        "mew-runtime-0.1.0",
        vec!["/opt/mew/mew".to_string()],
        "0.1.0",
    );
    o.user = Some("1000:1000".into());
    for p in &space.participants {
        o.tokens
            .insert(p.id.clone(), format!("SECRET-TOKEN-{}", p.id));
    }
    o
}

fn desired_for(case: &Path) -> DesiredSpace {
    desired_from(case, "space.yaml")
}

fn desired_from(case: &Path, file_name: &str) -> DesiredSpace {
    let text = std::fs::read_to_string(case.join(file_name)).expect(file_name);
    let name = case.file_name().unwrap().to_string_lossy();
    let file = PathBuf::from(format!("/spaces/{name}/.mew/space.yaml"));
    let space = config::parse_space(&file, &text, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    plan::desired(&space, &options(&space)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn observed_for(case: &Path, desired: &DesiredSpace) -> Option<ObservedSpace> {
    let text = std::fs::read_to_string(case.join("observed.json")).ok()?;
    let fx: ObservedFixture = serde_json::from_str(&text).expect("observed.json");
    let by_participant = |d: &DesiredSpace| -> BTreeMap<String, String> {
        std::iter::once(&d.gateway)
            .chain(&d.participants)
            .map(|c| (c.participant.clone(), c.config_hash()))
            .collect()
    };
    let current = by_participant(desired);
    let previous = if case.join("previous.yaml").is_file() {
        by_participant(&desired_from(case, "previous.yaml"))
    } else {
        BTreeMap::new()
    };
    let containers = fx
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let known = match c.hash.as_str() {
                "current" => current.get(&c.participant),
                "previous" => previous.get(&c.participant),
                _ => None,
            };
            let hash = known.cloned().unwrap_or_else(|| c.hash.clone());
            ObservedContainer {
                id: format!("c{i}"),
                name: plan::container_name(&desired.space_id, &c.participant),
                labels: BTreeMap::from([
                    (labels::SPACE.to_string(), desired.space_id.clone()),
                    (labels::PARTICIPANT.to_string(), c.participant.clone()),
                    (labels::CONFIG_HASH.to_string(), hash),
                ]),
                state: ContainerState::from_engine(&c.state),
            }
        })
        .collect();
    Some(ObservedSpace {
        networks: fx
            .networks
            .iter()
            .enumerate()
            .map(|(i, n)| ObservedNetwork {
                id: format!("n{i}"),
                name: n.clone(),
                labels: BTreeMap::new(),
            })
            .collect(),
        containers,
        runtime_image_present: fx.runtime_image_present,
        runtime_volume_present: fx.runtime_volume_present,
        images_present: match fx.images_present {
            Some(list) => list.into_iter().collect(),
            None => all_images(desired),
        },
        volumes: fx.volumes,
        gateways: Vec::new(),
    })
}

fn all_images(desired: &DesiredSpace) -> BTreeSet<String> {
    desired
        .pulled_images()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Compare with the expectation file, or rewrite it under `UPDATE_GOLDEN=1`.
fn check(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        ));
    }
}

/// What the engine would show after applying everything: all desired containers running.
fn converged(desired: &DesiredSpace) -> ObservedSpace {
    ObservedSpace {
        networks: vec![ObservedNetwork {
            id: "n".into(),
            name: desired.network.name.clone(),
            labels: desired.network.labels.clone(),
        }],
        containers: std::iter::once(&desired.gateway)
            .chain(&desired.participants)
            .map(|c| ObservedContainer {
                id: c.name.clone(),
                name: c.name.clone(),
                labels: c.labels.clone(),
                state: ContainerState::Running,
            })
            .collect(),
        runtime_image_present: true,
        runtime_volume_present: true,
        images_present: all_images(desired),
        volumes: desired.volumes.iter().map(|v| v.name.clone()).collect(),
        gateways: Vec::new(),
    }
}

#[test]
fn golden_plans() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("space.yaml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "golden cases missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let desired = desired_for(case);
        let observed = observed_for(case, &desired);
        let plan: Plan = plan::plan(&desired, &observed.clone().unwrap_or_default());
        let text = plan::render(&plan);
        assert!(
            !text.contains("SECRET-TOKEN"),
            "{}: token in plan text",
            case.display()
        );
        check(&case.join("plan.txt"), &text, &mut failures);
        let detailed = plan::render_detailed(&plan);
        assert!(
            !detailed.contains("SECRET-TOKEN"),
            "{}: token in detailed plan:\n{detailed}",
            case.display()
        );
        // Where the settings matter: a fresh space, and shared mode's `container:` networks.
        if case.ends_with("fresh")
            || case.ends_with("shared-network")
            || case.ends_with("volumes-fresh")
        {
            check(&case.join("plan-detailed.txt"), &detailed, &mut failures);
        }
        if let Some(observed) = &observed {
            check(
                &case.join("down.txt"),
                &plan::render(&plan::plan_down(observed, false)),
                &mut failures,
            );
            if !observed.volumes.is_empty() {
                check(
                    &case.join("down-volumes.txt"),
                    &plan::render(&plan::plan_down(observed, true)),
                    &mut failures,
                );
            }
        }
        // Whatever the starting point, once applied the next plan is empty.
        let again = plan::plan(&desired, &converged(&desired));
        assert!(
            again.is_empty(),
            "{}: not idempotent:\n{}",
            case.display(),
            plan::render(&again)
        );
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_zero_join_timeout_plans_no_join_wait() {
    let mut desired = desired_for(&golden_dir().join("fresh"));
    let waits = |d: &DesiredSpace| {
        plan::plan(d, &ObservedSpace::default())
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .filter_map(|a| match a {
                plan::Action::WaitJoined { timeout_ms, .. } => Some(*timeout_ms),
                _ => None,
            })
            .collect::<Vec<u64>>()
    };
    assert_eq!(waits(&desired), [20_000]);
    desired.join_timeout_ms = 0;
    assert!(waits(&desired).is_empty());
}

#[test]
fn stage_order_and_parallel_groups() {
    let desired = desired_for(&golden_dir().join("fresh"));
    let plan = plan::plan(&desired, &ObservedSpace::default());
    let titles: Vec<&str> = plan.stages.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "image",
            "runtime volume",
            "network",
            "gateway",
            "health",
            "participants",
            "join"
        ]
    );
    // The gateway is alone in its stage; every participant starts in the same stage.
    assert_eq!(plan.stages[3].actions.len(), 1);
    assert_eq!(plan.stages[5].actions.len(), desired.participants.len());
}
