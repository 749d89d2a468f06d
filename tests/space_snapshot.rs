//! `mew space snapshot` / `mew space restore` on a real engine: the same space gives the same
//! bytes, a restore under another id in another directory comes up and its echo agent answers,
//! and tampered or truncated archives are refused with nothing written and no image loaded.
mod common;

use common::engine::{
    build_with_busybox, docker, engine_env, free_port, mew_command, output_text, unique_space_id,
    SpaceGuard,
};
use std::path::Path;
use std::process::Output;

fn echo_space(dir: &Path, id: &str, extra: &str) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples/echo/space.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    assert!(text.contains("id: echo-demo\n"));
    let text = text.replace("id: echo-demo\n", &format!("id: {id}\n")) + extra;
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(dir.join("space.yaml"), text).unwrap();
    std::fs::write(dir.join("agents/notes.txt"), "kept by the snapshot\n").unwrap();
}

fn mew(args: &[&str], paths: &[&Path]) -> Output {
    mew_command()
        .envs(engine_env())
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

fn mew_ok(args: &[&str], paths: &[&Path]) -> String {
    let out = mew(args, paths);
    assert!(out.status.success(), "mew {args:?}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn manifest(archive: &Path) -> serde_json::Value {
    let mut a = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let first = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(first.path().unwrap().to_str(), Some("manifest.json"));
    serde_json::from_reader(first).unwrap()
}

/// Post "hello" as `you` until the echo shows in you's output log.
async fn echo_answers(dir: &Path, port: u16) {
    if let Err(seen) = common::gateway::post_hello_until_echo(dir, port, 40).await {
        panic!("no echo in logs/you.jsonl:\n{seen}");
    }
}

async fn container_image(id: &str, participant: &str) -> String {
    docker()
        .await
        .inspect_container(
            &format!("{id}-{participant}"),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap()
        .image
        .unwrap()
}

#[tokio::test]
async fn snapshot_is_reproducible_and_restores_under_another_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let id = unique_space_id("snap");
    let id2 = unique_space_id("snap");
    let _guards = (SpaceGuard::new(&id), SpaceGuard::new(&id2));
    echo_space(&a, &id, "");
    let (s1, s2) = (tmp.path().join("s1.tar"), tmp.path().join("s2.tar"));
    mew_ok(&["space", "snapshot", "-d"], &[&a, Path::new("-o"), &s1]);
    mew_ok(&["space", "snapshot", "-d"], &[&a, Path::new("-o"), &s2]);
    assert_eq!(
        sha256(&s1),
        sha256(&s2),
        "two snapshots of one space differ"
    );
    mew_ok(&["space", "snapshot", "--check"], &[&s1]);

    let m = manifest(&s1);
    assert_eq!(m["space_id"], id.as_str());
    assert_eq!(m["running"], false);
    let entries = m["entries"].as_object().unwrap();
    assert!(entries.contains_key("space/space.yaml"));
    assert!(entries.contains_key("space/agents/notes.txt"));
    assert!(
        !entries.keys().any(|k| k.contains("tokens")),
        "tokens without --with-secrets: {entries:?}"
    );
    let text = serde_json::to_string(&m).unwrap();
    assert!(
        !text.contains(tmp.path().to_str().unwrap()),
        "the manifest names the host path: {text}"
    );
    let echo_image = m["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "echo-agent")
        .unwrap()["image_id"]
        .as_str()
        .unwrap()
        .to_string();

    let port = free_port();
    let port_s = port.to_string();
    let out = mew_ok(
        &[
            "space",
            "restore",
            "--space-id",
            &id2,
            "--up",
            "-p",
            &port_s,
        ],
        &[&s1, Path::new("-d"), &b],
    );
    assert!(out.contains(&id2), "{out}");
    assert_eq!(
        std::fs::read_to_string(b.join("agents/notes.txt")).unwrap(),
        "kept by the snapshot\n"
    );
    let restored = std::fs::read_to_string(b.join("space.yaml")).unwrap();
    assert!(restored.contains(&format!("id: {id2}\n")), "{restored}");
    echo_answers(&b, port).await;
    assert_eq!(container_image(&id2, "echo-agent").await, echo_image);

    // A running space: what runs is recorded, and whether space.yaml still describes it.
    let s3 = tmp.path().join("s3.tar");
    let args = ["space", "snapshot", "-d"];
    mew_ok(&args, &[&b, Path::new("-o"), &s3]);
    let m = manifest(&s3);
    assert_eq!(m["running"], true);
    assert_eq!(m["config_changed_since_up"], false, "{m}");
    let yaml = std::fs::read_to_string(b.join("space.yaml")).unwrap();
    assert!(yaml.contains("memory: 64m"));
    std::fs::write(
        b.join("space.yaml"),
        yaml.replace("memory: 64m", "memory: 96m"),
    )
    .unwrap();
    mew_ok(&args, &[&b, Path::new("-o"), &s3]);
    let m = manifest(&s3);
    assert_eq!(m["config_changed_since_up"], true, "{m}");

    // Logs and tokens only when asked; restored tokens are the archived ones (compressed too).
    let s4 = tmp.path().join("s4.tar.gz");
    mew_ok(
        &["space", "snapshot", "--with-logs", "--with-secrets", "-d"],
        &[&b, Path::new("-o"), &s4],
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&s4).unwrap().permissions().mode() & 0o777,
        0o600
    );
    mew_ok(&["space", "snapshot", "--check"], &[&s4]);
    let c = tmp.path().join("c");
    mew_ok(&["space", "restore"], &[&s4, Path::new("-d"), &c]);
    let token = |d: &Path| std::fs::read_to_string(d.join(".mew/tokens/you.token")).unwrap();
    assert_eq!(token(&c), token(&b));
    assert!(std::fs::read_to_string(c.join("logs/you.jsonl"))
        .unwrap()
        .contains("Echo: hello"));

    // An existing directory is not overwritten without --force.
    let out = mew(&["space", "restore"], &[&s1, Path::new("-d"), &b]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    mew_ok(&["space", "down", "-d"], &[&b]);
}

/// Flip one byte of `needle` inside the archive file.
fn tamper(path: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the archive");
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn tampered_and_truncated_archives_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let id = unique_space_id("snapbad");
    let _guard = SpaceGuard::new(&id);
    // An image of this test's own, so that "no image loaded" can be seen on a shared engine.
    let image = format!("mew-test-snap-{id}:latest");
    let docker = docker().await;
    let dockerfile = format!("FROM scratch\nCOPY busybox /bin/busybox\nLABEL test={id}\n");
    build_with_busybox(
        &docker,
        &image,
        dockerfile.as_bytes(),
        "the snapshot test image",
    )
    .await;
    let idle = format!(
        "\n  idle:\n    image: {image}\n    command: /bin/busybox\n    args: [sleep, \"1\"]\n    auto_start: true\n"
    );
    echo_space(&a, &id, "");
    let yaml = std::fs::read_to_string(a.join("space.yaml")).unwrap();
    let yaml = yaml.replacen("participants:\n", &format!("participants:{idle}"), 1);
    std::fs::write(a.join("space.yaml"), yaml).unwrap();

    let good = tmp.path().join("good.tar");
    mew_ok(&["space", "snapshot", "-d"], &[&a, Path::new("-o"), &good]);
    let m = manifest(&good);
    let image_id = m["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["references"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == &*image)
        })
        .unwrap_or_else(|| panic!("{image} not in the manifest: {m}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let remove = || async {
        let _ = docker
            .remove_image(
                &image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    };
    remove().await;
    assert!(docker.inspect_image(&image_id).await.is_err());

    let tampered = tmp.path().join("tampered.tar");
    std::fs::copy(&good, &tampered).unwrap();
    tamper(&tampered, b"Echo demo");
    let truncated = tmp.path().join("truncated.tar");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    for (archive, entry) in [(&tampered, "space/space.yaml"), (&truncated, "images/")] {
        let target = tmp.path().join("restored");
        let check = mew(&["space", "snapshot", "--check"], &[archive]);
        assert_eq!(check.status.code(), Some(2), "{}", output_text(&check));
        let out = mew(&["space", "restore"], &[archive, Path::new("-d"), &target]);
        assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(entry), "the error names {entry}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!target.exists(), "restore wrote {}", target.display());
        assert!(
            docker.inspect_image(&image_id).await.is_err(),
            "restore of a bad archive loaded an image"
        );
    }

    // The intact archive loads the missing image under its tag.
    let target = tmp.path().join("restored");
    let out = mew_ok(&["space", "restore"], &[&good, Path::new("-d"), &target]);
    assert!(out.contains("1 image(s) loaded"), "{out}");
    let loaded = docker.inspect_image(&image).await.unwrap();
    assert_eq!(loaded.id.as_deref(), Some(image_id.as_str()));
    assert!(target.join(".mew/tokens/you.token").is_file());
    remove().await;
}
