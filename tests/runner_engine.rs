//! Engine layer against the real engine: connection and version negotiation.
mod common;

#[tokio::test]
async fn connects_and_negotiates_an_api_the_engine_accepts() {
    let engine = mew::engine::connect(None).await.expect("an engine runs on this machine");
    assert!(!engine.info.version.is_empty());
    // Whatever the engine offers, we talk a version it accepts: a real request must succeed.
    engine.docker.ping().await.expect("ping with the negotiated version");
    let list = engine
        .docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await;
    assert!(list.is_ok(), "{list:?}");
}
