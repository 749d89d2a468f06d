//! Faults around `mew space up` / `down` on the real engine (issue 13: 1, 4, 5, 6, 8; issue 14:
//! 1, 2): duplicate networks, kills at every engine step, concurrent commands on one space id,
//! a bad `--port` on a running space, participants that die before joining, missing images.
mod common;

use bollard::models::NetworkCreateRequest;
use bollard::Docker;
use common::engine::*;
use mew_space::plan::labels;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

fn mew_cmd(args: &[&str]) -> Command {
    let mut cmd = mew_command();
    cmd.args(args).env_remove("DOCKER_HOST").envs(engine_env());
    cmd
}

fn mew(args: &[&str]) -> Output {
    mew_cmd(args).output().expect("run mew")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SLEEP: &str = "exec /bin/busybox sleep 300";

/// A busybox participant (it never joins the gateway: `up_nowait` does not wait for it).
fn busybox(id: &str, script: &str, extra: &str) -> String {
    format!(
        "  {id}:\n    image: {BUSYBOX}\n    command: /bin/busybox\n    args: [sh, -c, \"{script}\"]\n    auto_start: true\n{extra}"
    )
}

/// A space directory (its engine objects removed when dropped).
struct Space {
    id: String,
    dir: tempfile::TempDir,
    port: u16,
    _guard: SpaceGuard,
}

impl Space {
    fn new(tag: &str, participants: &str) -> Space {
        Self::with_id(&unique_space_id(tag), participants)
    }
    fn with_id(id: &str, participants: &str) -> Space {
        let s = Space {
            id: id.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
            _guard: SpaceGuard::new(id),
        };
        s.write(participants);
        s
    }
    fn dir_str(&self) -> String {
        std::fs::canonicalize(self.dir.path())
            .expect("canonical")
            .display()
            .to_string()
    }
    fn write(&self, participants: &str) {
        let yaml = format!(
            "space:\n  id: {id}\n  name: {id}\nparticipants:\n{participants}",
            id = self.id
        );
        std::fs::write(self.dir.path().join("space.yaml"), yaml).expect("write space.yaml");
    }
    fn up_cmd(&self, join_timeout: &str) -> Command {
        let port = self.port.to_string();
        let dir = self.dir_str();
        mew_cmd(&[
            "space",
            "up",
            "-d",
            &dir,
            "--port",
            &port,
            "--join-timeout",
            join_timeout,
        ])
    }
    fn up_nowait(&self) -> Output {
        self.up_cmd("0").output().expect("run mew")
    }
    fn down(&self) -> Output {
        mew(&["space", "down", "-d", &self.dir_str(), "--timeout", "1"])
    }
}

async fn networks(docker: &Docker, space: &str) -> Vec<mew_space::plan::ObservedNetwork> {
    mew_engine::observe::networks_with(docker, &format!("{}={space}", labels::SPACE))
        .await
        .expect("list networks")
}

async fn containers(docker: &Docker, space: &str) -> BTreeMap<String, (String, String)> {
    mew_engine::observe::containers_with(docker, &format!("{}={space}", labels::SPACE))
        .await
        .expect("list containers")
        .into_iter()
        .map(|c| {
            (
                c.participant().unwrap_or_default().to_string(),
                (c.id.clone(), c.state.to_string()),
            )
        })
        .collect()
}

/// A network labelled as the space's, made by hand (as a killed `up`'s late create would).
async fn labelled_network(docker: &Docker, space: &str, dir: &str, name: &str) -> Option<String> {
    let labels = std::collections::HashMap::from([
        (labels::SPACE.to_string(), space.to_string()),
        (labels::SPACE_DIR.to_string(), dir.to_string()),
    ]);
    docker
        .create_network(NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .ok()
        .map(|r| r.id)
}

/// The space is converged: one network named `mew-<id>`, every listed participant running on it.
async fn assert_converged(docker: &Docker, s: &Space, participants: &[&str], context: &str) {
    let nets = networks(docker, &s.id).await;
    let name = format!("mew-{}", s.id);
    assert_eq!(
        nets.iter().filter(|n| n.name == name).count(),
        1,
        "{context}: {nets:?}"
    );
    let net_id = &nets.iter().find(|n| n.name == name).expect("network").id;
    let cs = containers(docker, &s.id).await;
    for p in participants {
        let (id, state) = cs
            .get(*p)
            .unwrap_or_else(|| panic!("{context}: no {p} in {cs:?}"));
        assert_eq!(state, "running", "{context}: {p}");
        let info = mew_engine::podman::inspect_container(docker, id)
            .await
            .expect("inspect");
        let on: Vec<String> = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_values()
            .filter_map(|e| e.network_id)
            .collect();
        // Podman reports the network's name as its `NetworkID` (its names are unique).
        assert!(
            on.iter()
                .any(|n| n == net_id || (on_podman() && *n == name)),
            "{context}: {p} is on {on:?}, not {net_id}"
        );
    }
}

/// Regression (issue 13.1): a second labelled network with the space's name (what a killed `up`
/// under load left behind) made every later `up` fail as "ambiguous", `down` fail, and `clean`
/// see nothing. Now `up` removes the duplicate and converges; `down` and `clean` remove every
/// labelled network, unused ones included. (Podman refuses a second network of one name: there
/// the duplicate step is skipped and only the unused networks are checked.)
#[tokio::test]
async fn a_duplicate_space_network_is_removed_and_down_and_clean_leave_nothing() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = Space::new("dupnet", &busybox("p", SLEEP, ""));
    let name = format!("mew-{}", s.id);
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));

    let dup = labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    assert!(
        dup.is_some() || on_podman(),
        "Docker makes a second network of one name"
    );
    if dup.is_some() {
        assert_eq!(networks(&docker, &s.id).await.len(), 2, "duplicate made");
        let dry = mew(&[
            "space",
            "up",
            "-d",
            &s.dir_str(),
            "--port",
            &s.port.to_string(),
            "--dry-run",
        ]);
        let plan = String::from_utf8_lossy(&dry.stdout);
        assert!(plan.contains("(duplicate, id"), "{}", output_text(&dry));
    }
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_converged(&docker, &s, &["gateway", "p"], "after a duplicate").await;
    let again = s.up_nowait();
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing changed"),
        "{}",
        output_text(&again)
    );

    // `down` with a duplicate and an unused labelled network beside the space's.
    labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    labelled_network(&docker, &s.id, &s.dir_str(), &format!("{name}-stray")).await;
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);

    // `clean` of the (existing) space directory: networks without containers.
    labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    labelled_network(&docker, &s.id, &s.dir_str(), &format!("{name}-stray")).await;
    let clean = mew(&["space", "clean", "-d", &s.dir_str()]);
    assert!(clean.status.success(), "{}", output_text(&clean));
    assert_eq!(
        count_space_objects(&docker, &s.id).await,
        0,
        "{}",
        output_text(&clean)
    );

    // `clean --space-id` from elsewhere (not `--all`: the engine is shared with other tests);
    // while another mew command holds the space's lock, its objects are kept.
    labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    labelled_network(&docker, &s.id, &s.dir_str(), &name).await;
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let elsewhere = elsewhere.path().display().to_string();
    // `--all` (only looked at: it would touch other tests' spaces) lists the networks of a space
    // without containers although its directory exists.
    let dry_all = mew(&["space", "clean", "--all", "--dry-run", "-d", &elsewhere]);
    assert!(dry_all.status.success(), "{}", output_text(&dry_all));
    assert!(
        String::from_utf8_lossy(&dry_all.stdout)
            .contains(&format!("network {name} (space {})", s.id)),
        "{}",
        output_text(&dry_all)
    );
    let held = mew_engine::lock::try_lock(&mew_engine::lock::space_lock_path(&s.id))
        .expect("lock file")
        .expect("free");
    let clean = mew(&["space", "clean", "--space-id", &s.id, "-d", &elsewhere]);
    assert!(clean.status.success(), "{}", output_text(&clean));
    assert!(
        String::from_utf8_lossy(&clean.stdout).contains("another mew command"),
        "{}",
        output_text(&clean)
    );
    assert!(count_space_objects(&docker, &s.id).await > 0);
    drop(held);
    let clean = mew(&["space", "clean", "--space-id", &s.id, "-d", &elsewhere]);
    assert!(clean.status.success(), "{}", output_text(&clean));
    assert_eq!(
        count_space_objects(&docker, &s.id).await,
        0,
        "{}",
        output_text(&clean)
    );
}

/// Regression (issue 13.1, faults 11): SIGKILL of `up` after each of its engine steps
/// (`MEW_TEST_KILL_AFTER=<n>`) and at times from 0.05 to 1 s: the next `up` converges (one
/// network, everything running on it) and `down` leaves no labelled object.
#[tokio::test]
async fn a_killed_up_at_every_engine_step_and_time_converges_and_down_leaves_nothing() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = Space::new("killpt", &busybox("p", SLEEP, ""));
    // Warm up (runtime image and volume in place), so that the kill points are the space's own.
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));

    let mut kills = Vec::new();
    for n in 1..=8 {
        let out = s
            .up_nowait_cmd_env("MEW_TEST_KILL_AFTER", &n.to_string())
            .output()
            .expect("run mew");
        kills.push(format!("after engine step {n}: {:?}", out.status.code()));
        check_recovery(&docker, &s, &format!("killed after step {n}")).await;
    }
    for ms in [50u64, 150, 300, 500, 700, 1000] {
        let mut child = s
            .up_cmd("0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mew");
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        check_recovery(&docker, &s, &format!("killed at {ms} ms")).await;
    }
    // Eight kill points must have been reached (a plan has more steps than that).
    assert!(kills.iter().any(|k| k.contains("None")), "{kills:?}");
}

impl Space {
    fn up_nowait_cmd_env(&self, key: &str, value: &str) -> Command {
        let mut c = self.up_cmd("0");
        c.env(key, value);
        c
    }
}

async fn check_recovery(docker: &Docker, s: &Space, context: &str) {
    let out = s.up_nowait();
    assert!(
        out.status.success(),
        "{context}: next up: {}",
        output_text(&out)
    );
    assert_converged(docker, s, &["gateway", "p"], context).await;
    let down = s.down();
    assert!(
        down.status.success(),
        "{context}: down: {}",
        output_text(&down)
    );
    assert_eq!(count_space_objects(docker, &s.id).await, 0, "{context}");
}

/// A child whose stderr lines arrive on a channel (and are kept for the failure message).
struct Watched {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watched {
    fn spawn(cmd: &mut Command) -> Watched {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mew");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }
    /// Wait up to `limit` for a stderr line containing `text`.
    fn wait_line(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(text);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }
    /// Exit code, once it ends (with everything it printed).
    fn finish(mut self) -> (Option<i32>, String) {
        let code = self.child.wait().expect("wait").code();
        self.seen.extend(self.lines.iter());
        (code, self.seen.join("\n"))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 13.4/13.5: `up` waits (one line) while another mew command holds the space's lock, and
/// touches nothing meanwhile; `down` started while `up` runs waits for it, then removes everything.
#[tokio::test]
async fn commands_on_one_space_wait_for_each_other() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = Space::new("lock", &busybox("p", SLEEP, ""));

    // The lock held by "another mew" (this test): `up` waits and creates nothing.
    let held = mew_engine::lock::try_lock(&mew_engine::lock::space_lock_path(&s.id))
        .expect("lock file")
        .expect("nobody holds it");
    let mut up = Watched::spawn(&mut s.up_cmd("0"));
    let waiting = format!("waiting for another mew command on space {}", s.id);
    assert!(
        up.wait_line(&waiting, Duration::from_secs(20)),
        "{:?}",
        up.seen
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count_space_objects(&docker, &s.id).await,
        0,
        "made while waiting"
    );
    drop(held);
    let (code, text) = up.finish();
    assert_eq!(code, Some(0), "{text}");
    assert_converged(&docker, &s, &["gateway", "p"], "after waiting").await;
    // A dry run of the running space plans nothing (existing tokens, same hashes).
    let dry = mew(&[
        "space",
        "up",
        "-d",
        &s.dir_str(),
        "--port",
        &s.port.to_string(),
        "--dry-run",
    ]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("nothing to do"),
        "{}",
        output_text(&dry)
    );
    // `restart` waits for the lock as well.
    let held = mew_engine::lock::try_lock(&mew_engine::lock::space_lock_path(&s.id))
        .expect("lock file")
        .expect("free again");
    let mut restart = Watched::spawn(&mut mew_cmd(&["space", "restart", "-d", &s.dir_str(), "p"]));
    assert!(
        restart.wait_line(&waiting, Duration::from_secs(20)),
        "{:?}",
        restart.seen
    );
    drop(held);
    let (code, text) = restart.finish();
    assert_eq!(code, Some(0), "{text}");
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));

    // `down` while `up` runs: it waits, then takes down the whole space (exit 0 both). The
    // busybox participant never joins, so `up` holds the lock for its 4 s join timeout.
    let mut up = Watched::spawn(&mut s.up_cmd("4"));
    assert!(
        up.wait_line("p started", Duration::from_secs(30)),
        "{:?}",
        up.seen
    );
    let mut down = Watched::spawn(&mut mew_cmd(&[
        "space",
        "down",
        "-d",
        &s.dir_str(),
        "--timeout",
        "1",
    ]));
    let down_waited = down.wait_line(&waiting, Duration::from_secs(20));
    let (up_code, up_text) = up.finish();
    let (down_code, down_text) = down.finish();
    assert!(
        down_waited,
        "down did not wait:\n{down_text}\nup:\n{up_text}"
    );
    assert_eq!(up_code, Some(0), "{up_text}");
    assert_eq!(down_code, Some(0), "{down_text}");
    assert_eq!(count_space_objects(&docker, &s.id).await, 0);

    // Two `up`s at once: both succeed, no duplicate objects.
    let a = Watched::spawn(&mut s.up_cmd("0"));
    let b = Watched::spawn(&mut s.up_cmd("0"));
    let ((ca, ta), (cb, tb)) = (a.finish(), b.finish());
    assert_eq!((ca, cb), (Some(0), Some(0)), "{ta}\n---\n{tb}");
    assert_converged(&docker, &s, &["gateway", "p"], "two ups").await;
    assert_eq!(containers(&docker, &s.id).await.len(), 2);
}

/// Regression (issue 13.4): `up -d D1` and `up -d D2` with one space id at once: one wins, the
/// other fails naming the winner's directory, and only the winner's objects exist.
#[tokio::test]
async fn one_space_id_in_two_directories_at_once_fails_cleanly_for_the_second() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let d1 = Space::new("twodir", &busybox("p", SLEEP, ""));
    let d2 = Space::with_id(&d1.id, &busybox("p", SLEEP, ""));
    let a = Watched::spawn(&mut d1.up_cmd("0"));
    let b = Watched::spawn(&mut d2.up_cmd("0"));
    let ((ca, ta), (cb, tb)) = (a.finish(), b.finish());
    let (winner, loser_text, loser_code) = match (ca, cb) {
        (Some(0), _) => (&d1, tb, cb),
        (_, Some(0)) => (&d2, ta, ca),
        _ => panic!("neither up succeeded:\n{ta}\n---\n{tb}"),
    };
    assert_eq!(loser_code, Some(1), "{loser_text}");
    assert!(
        loser_text.contains(&winner.dir_str()) && loser_text.contains("--space-id"),
        "{loser_text}"
    );
    assert_converged(&docker, winner, &["gateway", "p"], "winner").await;
    let cs = mew_engine::observe::containers_with(&docker, &format!("{}={}", labels::SPACE, d1.id))
        .await
        .expect("list");
    assert_eq!(cs.len(), 2, "{cs:?}");
    for c in &cs {
        assert_eq!(
            c.labels.get(labels::SPACE_DIR),
            Some(&winner.dir_str()),
            "{c:?}"
        );
    }
    let down = winner.down();
    assert!(down.status.success(), "{}", output_text(&down));
    assert_eq!(count_space_objects(&docker, &d1.id).await, 0);
}

/// Regression (issue 13.6): `up --port 0` on a healthy space removed all its containers and left
/// it down. Now it is refused as bad input (exit 2) and the running containers are untouched.
#[tokio::test]
async fn a_bad_port_on_a_running_space_is_refused_and_leaves_it_running() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = Space::new("port0", &busybox("p", SLEEP, ""));
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let before = containers(&docker, &s.id).await;
    let out = mew(&["space", "up", "-d", &s.dir_str(), "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(stderr(&out).contains("port"), "{}", output_text(&out));
    assert_eq!(
        containers(&docker, &s.id).await,
        before,
        "containers changed"
    );
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
}

/// Regression (issue 14.1 / 13.3): an auto-start participant that exits at once made `up` wait
/// 20 s and exit 0. Now `up` stops waiting as soon as the container exits, shows its exit code and
/// last output, names a command that works, exits 1, and leaves the rest of the space up.
#[tokio::test]
async fn an_auto_start_participant_that_exits_at_once_fails_up_with_its_output() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    let s = Space::new(
        "dies",
        &busybox("quitter", "echo going-away-now; exit 3", ""),
    );
    let started = Instant::now();
    let out = s.up_cmd("20").output().expect("run mew");
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(err.contains("quitter"), "{err}");
    assert!(err.contains("code 3"), "{err}");
    assert!(err.contains("going-away-now"), "{err}");
    assert!(err.contains("stays up"), "{err}");
    let hint = format!("mew space logs -d {} quitter", s.dir_str());
    assert!(err.contains(&hint), "{err}");
    // The hint works as printed.
    let logs = mew(&["space", "logs", "-d", &s.dir_str(), "quitter"]);
    assert!(logs.status.success(), "{}", output_text(&logs));
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("going-away-now"),
        "{}",
        output_text(&logs)
    );
    let cs = containers(&docker, &s.id).await;
    assert_eq!(
        cs.get("gateway").map(|c| c.1.as_str()),
        Some("running"),
        "{cs:?}"
    );
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));
}

/// Regression (issue 14.2): an image that is not available was found out only after the gateway
/// had started (and was removed again). Now `up` fails before touching anything: on a running
/// space, the containers stay as they were; in a fresh space, nothing is created.
#[tokio::test]
async fn a_missing_image_is_found_before_anything_starts() {
    let docker = docker().await;
    ensure_busybox(&docker).await;
    // A registry that cannot answer: the pull fails at once, on either engine.
    let missing = "localhost:1/mew-test-missing:never";
    let s = Space::new("noimg", &busybox("p", SLEEP, ""));
    let out = s.up_nowait();
    assert!(out.status.success(), "{}", output_text(&out));
    let before = containers(&docker, &s.id).await;
    s.write(&(busybox("p", SLEEP, "") + &busybox("q", SLEEP, "").replace(BUSYBOX, missing)));
    let out = s.up_nowait();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(stderr(&out).contains(missing), "{}", output_text(&out));
    assert_eq!(
        containers(&docker, &s.id).await,
        before,
        "containers changed"
    );
    let down = s.down();
    assert!(down.status.success(), "{}", output_text(&down));

    let fresh = Space::new("noimg", &busybox("q", SLEEP, "").replace(BUSYBOX, missing));
    let out = fresh.up_nowait();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        !stderr(&out).contains("started"),
        "something started: {}",
        output_text(&out)
    );
    assert_eq!(count_space_objects(&docker, &fresh.id).await, 0);
}
