//! `mew doctor`: which engine, which socket, whether this mew's runtime image is there.
use crate::engine::image::{self, ImageState, Runtime};
use crate::engine::observe;
use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub host: Option<String>,
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let engine = crate::engine::connect(args.host.as_deref()).await?;
    let info = &engine.info;
    println!("Engine:          {} {}", info.kind.as_str(), info.version);
    println!(
        "API version:     {} offered, {} in use",
        info.api_version, info.negotiated_api
    );
    println!("Socket:          {}", info.endpoint);
    println!("Platform:        {}/{}", info.os, info.arch);
    let rt = Runtime::current()?;
    println!(
        "mew executable:  {} ({}, sha256 {})",
        image::crate_version(),
        if rt.interpreter.is_some() {
            "dynamically linked"
        } else {
            "static"
        },
        rt.short_hash()
    );
    let state = image::runtime_image_state(&engine.docker).await?;
    println!(
        "Runtime image:   {} {}",
        rt.image_tag(),
        match state {
            ImageState::Current => "present",
            ImageState::Missing => "missing (built by `mew space up` or `mew image build`)",
        }
    );
    let volume = crate::engine::volume::volume_exists(&engine.docker, &rt.volume_name()).await?;
    println!(
        "Runtime volume:  {} {}",
        rt.volume_name(),
        if volume {
            "present"
        } else {
            "missing (created by `mew space up` when a participant uses another image)"
        }
    );
    let networks = engine
        .docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(|e| crate::engine::EngineError::api("cannot list networks", e))?;
    let bridges = networks
        .iter()
        .filter(|n| n.driver.as_deref() == Some("bridge"))
        .count();
    let spaces = observe::networks_with(&engine.docker, crate::plan::labels::SPACE)
        .await?
        .len();
    println!(
        "Networks:        {bridges} bridge networks ({spaces} of mew spaces); Docker's default address pools hold about 31, after which mew allocates /24s from MEW_SUBNET_POOL (default 10.213.0.0/16)"
    );
    Ok(())
}
