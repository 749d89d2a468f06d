//! The runtime image on its own (no space): a gateway container started from it answers
//! `/health` and welcomes a WebSocket join. Through testcontainers (`common::standalone`).
mod common;

use common::engine::*;
use common::gateway::{http_raw, Ws};
use common::standalone;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Build the runtime image of the `mew` binary under test (`mew image build`) and return its
/// unique tag, which the build prints.
fn build_mew_runtime_image() -> String {
    let out = mew_command()
        .args(["image", "build"])
        .envs(engine_env())
        .output()
        .expect("run mew image build");
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    text.split_whitespace()
        .skip_while(|w| *w != "Built")
        .nth(1)
        .unwrap_or_else(|| panic!("no tag in the build output: {text}"))
        .to_string()
}

#[tokio::test]
async fn gateway_container_answers_health_and_welcomes_a_join() {
    let image = build_mew_runtime_image();
    let space = unique_space_id("rtimg");
    let _guard = SpaceGuard::new(&space);
    let port = free_port();
    // The image's entrypoint runs mew; a gateway with no space config, as `mew gateway start`.
    let req = standalone::request(&image, &space, "gateway", &format!("{space}-gateway"));
    let req = testcontainers::ImageExt::with_cmd(
        req,
        [
            "gateway".to_string(),
            "start".into(),
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "0.0.0.0".into(),
        ],
    );
    let gateway = standalone::start(standalone::publish_on_loopback(req, port)).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    // Until the gateway listens (Docker's proxy accepts early, Podman's port refuses).
    let health = loop {
        let listening = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok();
        let (status, body) = if listening {
            http_raw(port, "GET", "/health", &[], b"").await
        } else {
            (0, String::new())
        };
        if status == 200 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health.0, 200, "/health: {health:?}");
    let v: Value = serde_json::from_str(&health.1).expect("health JSON");
    assert_eq!(v["status"], "ok", "{v}");

    // A config-less gateway lets anyone join.
    let (s, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
        .await
        .expect("ws connect");
    let mut ws = Ws { s };
    ws.send(json!({"type":"join","participantId":"tester","space":space,"token":"any"}))
        .await;
    let welcome = ws.recv_kind("system/welcome").await;
    assert_eq!(welcome["to"], json!(["tester"]), "{welcome}");
    assert_eq!(welcome["payload"]["you"]["id"], "tester", "{welcome}");

    drop(ws);
    let id = gateway.id().to_string();
    drop(gateway);
    let docker = docker().await;
    assert!(
        docker.inspect_container(&id, None).await.is_err(),
        "testcontainers removes the container on drop"
    );
}
