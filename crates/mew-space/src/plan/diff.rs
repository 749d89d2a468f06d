//! Desired + observed → `Plan`. Pure; the same inputs always give the same plan, and a space
//! that is running and unchanged gives an empty plan (a second `up` changes nothing).
use super::model::*;
use std::collections::{BTreeMap, BTreeSet};

/// What to do with one desired container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Running with the right config.
    Keep,
    /// Right config, not running.
    Start,
    /// Missing.
    Create,
    /// Wrong config (or unusable state): remove, then create.
    Recreate,
}

fn decide(want: &ContainerSpec, have: Option<&ObservedContainer>) -> Decision {
    let Some(have) = have else {
        return Decision::Create;
    };
    let want_hash = want.labels.get(labels::CONFIG_HASH).map(String::as_str);
    if want_hash.is_none() || have.config_hash() != want_hash {
        return Decision::Recreate;
    }
    match have.state {
        ContainerState::Running | ContainerState::Restarting => Decision::Keep,
        // Start cannot revive these.
        ContainerState::Dead | ContainerState::Removing | ContainerState::Paused => {
            Decision::Recreate
        }
        ContainerState::Created | ContainerState::Exited => Decision::Start,
    }
}

/// The stages that take the engine from `observed` to `desired`.
pub fn plan(desired: &DesiredSpace, observed: &ObservedSpace) -> Plan {
    let by_name: BTreeMap<&str, &ObservedContainer> = observed
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let mut stages = Vec::new();
    let mut push = |title: &str, actions: Vec<Action>| {
        if !actions.is_empty() {
            stages.push(Stage {
                title: title.to_string(),
                actions,
            });
        }
    };

    // First, so that a missing image fails `up` before anything is stopped or started.
    let mut image = Vec::new();
    if !observed.runtime_image_present {
        image.push(Action::BuildRuntimeImage {
            tag: desired.runtime_image.clone(),
        });
    }
    for name in desired.pulled_images() {
        if !observed.images_present.contains(name) {
            image.push(Action::PullImage {
                image: name.to_string(),
            });
        }
    }
    push("image", image);

    // A separate stage: the volume is filled from the image, which may be built just before.
    let mut volume = Vec::new();
    if let Some(name) = &desired.runtime_volume {
        if !observed.runtime_volume_present {
            volume.push(Action::EnsureRuntimeVolume {
                name: name.clone(),
                image: desired.runtime_image.clone(),
            });
        }
    }
    push("runtime volume", volume);

    // Observed networks of one name come oldest first: the first is kept, the others are
    // duplicates (a killed `up` whose create finished late). Which one a container is on is not
    // observed, so with duplicates every container is made again on the kept one.
    let same_name: Vec<&ObservedNetwork> = observed
        .networks
        .iter()
        .filter(|n| n.name == desired.network.name)
        .collect();
    let duplicates = same_name.get(1..).unwrap_or_default();
    let mut network = Vec::new();
    if same_name.is_empty() {
        network.push(Action::CreateNetwork(desired.network.clone()));
    }
    push("network", network);
    // Before the containers that mount them; one the space has already (data) is kept as it is.
    push(
        "volumes",
        desired
            .volumes
            .iter()
            .filter(|v| !observed.volumes.contains(&v.name))
            .map(|v| Action::CreateVolume(v.clone()))
            .collect(),
    );

    let decide_here = |spec: &ContainerSpec| {
        let have = by_name.get(spec.name.as_str()).copied();
        match decide(spec, have) {
            Decision::Create => Decision::Create,
            _ if !duplicates.is_empty() => Decision::Recreate,
            d => d,
        }
    };
    let gw = decide_here(&desired.gateway);
    let parts: Vec<(&ContainerSpec, Decision)> = desired
        .participants
        .iter()
        .map(|p| (p, decide_here(p)))
        .collect();
    let recreate_reason = if duplicates.is_empty() {
        RemoveReason::Changed
    } else {
        RemoveReason::DuplicateNetwork
    };

    // Orphans first (sorted by name for a stable plan), then containers to recreate.
    let wanted: BTreeSet<&str> = std::iter::once(desired.gateway.name.as_str())
        .chain(desired.participants.iter().map(|p| p.name.as_str()))
        .collect();
    let mut remove: Vec<Action> = by_name
        .keys()
        .filter(|name| !wanted.contains(*name))
        .map(|name| Action::RemoveContainer {
            name: name.to_string(),
            reason: RemoveReason::Orphan,
        })
        .collect();
    for (spec, d) in std::iter::once((&desired.gateway, gw)).chain(parts.iter().copied()) {
        if d == Decision::Recreate {
            remove.push(Action::RemoveContainer {
                name: spec.name.clone(),
                reason: recreate_reason,
            });
        }
    }
    push("remove", remove);
    // After the containers that may use them are gone.
    push(
        "duplicate networks",
        duplicates
            .iter()
            .map(|n| Action::RemoveNetwork {
                name: n.name.clone(),
                id: n.id.clone(),
                duplicate: true,
            })
            .collect(),
    );

    let start_action = |spec: &ContainerSpec, d: Decision| match d {
        Decision::Keep => None,
        Decision::Start => Some(Action::Start {
            name: spec.name.clone(),
        }),
        Decision::Create | Decision::Recreate => {
            Some(Action::CreateAndStart(Box::new(spec.clone())))
        }
    };

    let gateway_action = start_action(&desired.gateway, gw);
    let gateway_changed = gateway_action.is_some();
    push("gateway", gateway_action.into_iter().collect());
    if gateway_changed {
        push(
            "health",
            vec![Action::WaitHealthy {
                name: desired.gateway.name.clone(),
                url: health_url(&desired.bind, desired.port),
            }],
        );
    }

    let mut started = Vec::new();
    let mut participants = Vec::new();
    for (spec, d) in &parts {
        if let Some(a) = start_action(spec, *d) {
            participants.push(a);
            started.push(spec.participant.clone());
        }
    }
    push("participants", participants);
    // `--join-timeout 0` asks for no wait (participants that never join, like plain tools).
    if !started.is_empty() && desired.join_timeout_ms > 0 {
        push(
            "join",
            vec![Action::WaitJoined {
                participants: started,
                timeout_ms: desired.join_timeout_ms,
            }],
        );
    }

    Plan { stages }
}

/// The gateway's health endpoint as seen from the host.
pub fn health_url(bind: &str, port: u16) -> String {
    format!("{}/health", crate::net::reachable_url("http", bind, port))
}

/// Take a space down: every container (in parallel), then its networks, then (with `volumes`,
/// `down --volumes`) the volumes labelled with the space.
pub fn plan_down(observed: &ObservedSpace, volumes: bool) -> Plan {
    let mut names: Vec<&str> = observed
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    names.sort_unstable();
    // Every network carrying the space's label, by id: two may share a name.
    let mut nets: Vec<&ObservedNetwork> = observed.networks.iter().collect();
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let mut stages = Vec::new();
    if !names.is_empty() {
        stages.push(Stage {
            title: "remove".into(),
            actions: names
                .into_iter()
                .map(|name| Action::RemoveContainer {
                    name: name.to_string(),
                    reason: RemoveReason::Down,
                })
                .collect(),
        });
    }
    if !nets.is_empty() {
        stages.push(Stage {
            title: "network".into(),
            actions: nets
                .into_iter()
                .map(|n| Action::RemoveNetwork {
                    name: n.name.clone(),
                    id: n.id.clone(),
                    duplicate: false,
                })
                .collect(),
        });
    }
    if volumes && !observed.volumes.is_empty() {
        let mut names = observed.volumes.clone();
        names.sort();
        stages.push(Stage {
            title: "volumes".into(),
            actions: names
                .into_iter()
                .map(|name| Action::RemoveVolume { name })
                .collect(),
        });
    }
    Plan { stages }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "d-a".into(),
            participant: "a".into(),
            role: Role::Agent,
            image: "i".into(),
            cmd: vec!["x".into()],
            env: BTreeMap::new(),
            working_dir: None,
            user: None,
            mounts: vec![],
            network: "mew-d".into(),
            aliases: vec![],
            ports: vec![],
            resources: Resources::default(),
            restart: RestartPolicy::No,
            log: LogConfig {
                driver: "json-file".into(),
                options: BTreeMap::new(),
            },
            stop_grace_secs: 5,
            init: false,
            cap_drop_all: true,
            no_new_privileges: true,
            read_only_rootfs: false,
            healthcheck: None,
            token_digest: None,
            labels: BTreeMap::new(),
        }
        .with_hash()
    }

    fn observed(state: &str, hash: &str) -> ObservedContainer {
        ObservedContainer {
            id: "1".into(),
            name: "d-a".into(),
            labels: BTreeMap::from([(labels::CONFIG_HASH.to_string(), hash.to_string())]),
            state: ContainerState::from_engine(state),
        }
    }

    #[test]
    fn decisions_by_state_and_hash() {
        let s = spec();
        let h = s.config_hash();
        assert_eq!(decide(&s, None), Decision::Create);
        assert_eq!(decide(&s, Some(&observed("running", &h))), Decision::Keep);
        assert_eq!(
            decide(&s, Some(&observed("restarting", &h))),
            Decision::Keep
        );
        for stopped in ["exited", "created", "stopped", "configured"] {
            assert_eq!(
                decide(&s, Some(&observed(stopped, &h))),
                Decision::Start,
                "{stopped}"
            );
        }
        for broken in ["dead", "paused", "removing"] {
            assert_eq!(
                decide(&s, Some(&observed(broken, &h))),
                Decision::Recreate,
                "{broken}"
            );
        }
        assert_eq!(
            decide(&s, Some(&observed("running", "other"))),
            Decision::Recreate
        );
    }

    #[test]
    fn an_id_used_by_another_directory_is_found() {
        let net = |dir: &str| ObservedNetwork {
            id: dir.into(),
            name: "mew-d".into(),
            labels: BTreeMap::from([(labels::SPACE_DIR.to_string(), dir.to_string())]),
        };
        let obs = ObservedSpace {
            networks: vec![net("/a"), net("/b")],
            ..Default::default()
        };
        assert_eq!(obs.dirs().len(), 2);
        assert_eq!(
            obs.id_used_by_other_dir(std::path::Path::new("/a")),
            Some("/b".into())
        );
        let mine = ObservedSpace {
            networks: vec![net("/a")],
            ..Default::default()
        };
        assert_eq!(mine.id_used_by_other_dir(std::path::Path::new("/a")), None);
    }

    #[test]
    fn health_urls() {
        assert_eq!(
            health_url("127.0.0.1", 8080),
            "http://127.0.0.1:8080/health"
        );
        assert_eq!(health_url("0.0.0.0", 80), "http://127.0.0.1:80/health");
        assert_eq!(health_url("::", 80), "http://[::1]:80/health");
        assert_eq!(health_url("::1", 80), "http://[::1]:80/health");
        assert_eq!(
            health_url("192.168.1.5", 80),
            "http://192.168.1.5:80/health"
        );
    }

    #[test]
    fn down_removes_containers_then_networks() {
        let obs = ObservedSpace {
            networks: vec![ObservedNetwork {
                id: "n".into(),
                name: "mew-d".into(),
                labels: BTreeMap::new(),
            }],
            containers: vec![observed("running", "h")],
            ..Default::default()
        };
        let p = plan_down(&obs, false);
        assert_eq!(p.stages.len(), 2);
        assert!(matches!(
            p.stages[0].actions[0],
            Action::RemoveContainer {
                reason: RemoveReason::Down,
                ..
            }
        ));
        assert!(matches!(
            p.stages[1].actions[0],
            Action::RemoveNetwork { .. }
        ));
        assert!(plan_down(&ObservedSpace::default(), true).is_empty());
        // Volumes only when asked for, after the networks.
        let with_volume = ObservedSpace {
            volumes: vec!["d-data".into()],
            ..obs
        };
        assert_eq!(plan_down(&with_volume, false), p);
        let p = plan_down(&with_volume, true);
        assert_eq!(p.stages.len(), 3);
        assert_eq!(
            p.stages[2].actions,
            [Action::RemoveVolume {
                name: "d-data".into()
            }]
        );
    }
}
