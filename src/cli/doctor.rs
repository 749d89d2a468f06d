//! `mew doctor`: which engine, which socket, whether this mew's runtime image is there.
use clap::Args;
use mew_engine::image::{self, ImageState, Runtime};
use mew_engine::observe;

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Engine address (unix:///path or tcp://host:port); default: DOCKER_HOST, then the usual sockets.
    #[arg(long)]
    pub(crate) host: Option<String>,
}

pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let engine = mew_engine::connect(args.host.as_deref()).await?;
    let info = &engine.info;
    println!("Engine:          {} {}", info.kind.as_str(), info.version);
    println!(
        "API version:     {} offered, {} in use",
        info.api_version, info.negotiated_api
    );
    println!("Socket:          {}", info.endpoint);
    println!("Platform:        {}/{}", info.os, info.arch);
    let selinux = mew_engine::container::selinux_enabled(&engine.docker).await;
    println!(
        "SELinux:         {}",
        if selinux {
            "enforcing: bind mounts are relabelled (:z)"
        } else {
            "off"
        }
    );
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
    let volume = mew_engine::volume::volume_exists(&engine.docker, &rt.volume_name()).await?;
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
        .map_err(|e| mew_engine::EngineError::api("cannot list networks", e))?;
    let bridges = networks
        .iter()
        .filter(|n| n.driver.as_deref() == Some("bridge"))
        .count();
    let spaces = observe::networks_with(&engine.docker, mew_space::plan::labels::SPACE)
        .await?
        .len();
    println!("Networks:        {bridges} bridge networks ({spaces} of mew spaces)");
    if info.kind == mew_engine::EngineKind::Docker {
        // Docker's default pools (no `default-address-pools` in daemon.json): 172.17-31.0.0/16
        // and 192.168.0.0/16 in /20s, 31 networks in all.
        let in_default_pools = networks
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| c.subnet.as_deref())
            .filter(|s| in_docker_default_pools(s))
            .count();
        println!(
            "Address pools:   about {} of Docker's 31 default pools free (assuming no default-address-pools in daemon.json); when they run out, mew takes /24s from MEW_SUBNET_POOL (default 10.213.0.0/16)",
            31usize.saturating_sub(in_default_pools)
        );
    }
    Ok(())
}

fn in_docker_default_pools(subnet: &str) -> bool {
    let Some(ip) = subnet
        .split('/')
        .next()
        .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
    else {
        return false;
    };
    let [a, b, ..] = ip.octets();
    (a == 172 && (17..=31).contains(&b)) || (a == 192 && b == 168)
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_pool_membership() {
        assert!(super::in_docker_default_pools("172.17.0.0/16"));
        assert!(super::in_docker_default_pools("192.168.32.0/20"));
        assert!(!super::in_docker_default_pools("10.213.0.0/24"));
        assert!(!super::in_docker_default_pools("172.16.0.0/16"));
    }
}
