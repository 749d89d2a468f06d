//! Standalone containers beside a space (the runtime image on its own, probes, memory hogs)
//! through testcontainers: removed when their handle drops, also when a test panics. Labelled
//! with a space id like the rest, so a `SpaceGuard` of that id finds them too.
#![allow(dead_code)]

use super::engine::{engine_host, labels_for, BUSYBOX};
use mew_space::plan::Role;
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

/// `image` (a local `name:tag`; nothing is pulled, there is no registry) as container
/// `name`, labelled as `participant` of `space`. The image's own entrypoint stays unless the
/// request sets one.
pub fn request(
    image: &str,
    space: &str,
    participant: &str,
    name: &str,
) -> ContainerRequest<GenericImage> {
    labelled(generic(image), space, participant, name)
}

/// [`BUSYBOX`] with `/bin/busybox` as entrypoint (the image has no shell links): the command is
/// a busybox applet and its arguments, e.g. `["sh", "-c", script]`.
pub fn busybox(space: &str, participant: &str, name: &str) -> ContainerRequest<GenericImage> {
    labelled(
        generic(BUSYBOX).with_entrypoint("/bin/busybox"),
        space,
        participant,
        name,
    )
}

fn generic(image: &str) -> GenericImage {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    GenericImage::new(repo, tag)
}

fn labelled(
    image: GenericImage,
    space: &str,
    participant: &str,
    name: &str,
) -> ContainerRequest<GenericImage> {
    image
        .with_labels(labels_for(space, participant, Role::Infra))
        .with_container_name(name)
}

/// Publish the container's TCP `port` on 127.0.0.1 at the same port number.
pub fn publish_on_loopback(
    req: ContainerRequest<GenericImage>,
    port: u16,
) -> ContainerRequest<GenericImage> {
    req.with_mapped_port(port, port.tcp())
        // testcontainers binds every address; the tests publish on loopback only.
        .with_host_config_modifier(|hc| {
            for bindings in hc.port_bindings.iter_mut().flat_map(|m| m.values_mut()) {
                for b in bindings.iter_mut().flatten() {
                    b.host_ip = Some("127.0.0.1".into());
                }
            }
        })
}

/// Create and start the container on the engine the tests run against.
pub async fn start(req: ContainerRequest<GenericImage>) -> ContainerAsync<GenericImage> {
    point_at_test_engine();
    req.start()
        .await
        .unwrap_or_else(|e| panic!("start a standalone container: {e}"))
}

/// testcontainers reads its engine from `DOCKER_HOST` only: set it, once, to the engine of
/// `MEW_TEST_ENGINE` (Podman's socket speaks the same API). Unset: its default Docker socket.
fn point_at_test_engine() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Some(host) = engine_host() {
            std::env::set_var("DOCKER_HOST", host);
        }
    });
}
