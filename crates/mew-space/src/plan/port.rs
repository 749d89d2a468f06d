//! The gateway's host port, chosen from what observe saw (every mew gateway and its port) and
//! whether the host can bind a port now. Pure: the probe comes in as a function.
use super::model::GatewayPort;
use std::ops::RangeInclusive;

/// Ports tried when `--port` is not given and the space has no gateway container.
pub const DEFAULT_PORTS: RangeInclusive<u16> = 8080..=8089;

/// Why no port could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// The port asked for is published by another mew space's gateway.
    HeldBySpace {
        port: u16,
        space: String,
        dir: String,
    },
    /// The port asked for is in use by something else.
    Taken { port: u16 },
    /// Every default port is in use.
    NoneFree { from: u16, to: u16 },
}

/// `requested` (free, or held by this space's own gateway), else the port of this space's
/// gateway container, else the first free one of `DEFAULT_PORTS`.
pub fn choose_port(
    space_id: &str,
    requested: Option<u16>,
    gateways: &[GatewayPort],
    is_free: impl Fn(u16) -> bool,
) -> Result<u16, PortError> {
    let current = gateways
        .iter()
        .find(|g| g.space == space_id)
        .map(|g| g.port);
    if let Some(port) = requested {
        if current == Some(port) || is_free(port) {
            return Ok(port);
        }
        return Err(
            match gateways
                .iter()
                .find(|g| g.port == port && g.space != space_id)
            {
                Some(g) => PortError::HeldBySpace {
                    port,
                    space: g.space.clone(),
                    dir: g.dir.clone(),
                },
                None => PortError::Taken { port },
            },
        );
    }
    if let Some(port) = current {
        return Ok(port);
    }
    DEFAULT_PORTS
        .clone()
        .find(|p| is_free(*p))
        .ok_or(PortError::NoneFree {
            from: *DEFAULT_PORTS.start(),
            to: *DEFAULT_PORTS.end(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(space: &str, port: u16) -> GatewayPort {
        GatewayPort {
            space: space.into(),
            dir: format!("/{space}"),
            port,
        }
    }

    #[test]
    fn a_free_requested_port_is_taken_as_it_is() {
        assert_eq!(choose_port("a", Some(9000), &[], |_| true), Ok(9000));
    }

    #[test]
    fn the_spaces_own_gateway_may_hold_the_requested_port() {
        let gws = [gw("a", 9000)];
        assert_eq!(choose_port("a", Some(9000), &gws, |_| false), Ok(9000));
    }

    #[test]
    fn a_port_held_by_another_space_names_it() {
        let gws = [gw("a", 8080), gw("b", 9000)];
        assert_eq!(
            choose_port("a", Some(9000), &gws, |_| false),
            Err(PortError::HeldBySpace {
                port: 9000,
                space: "b".into(),
                dir: "/b".into()
            })
        );
        assert_eq!(
            choose_port("a", Some(9001), &gws, |_| false),
            Err(PortError::Taken { port: 9001 })
        );
    }

    #[test]
    fn without_a_request_the_current_port_then_the_first_free_default() {
        // A stopped space comes back on its port, even when another default is free.
        assert_eq!(choose_port("a", None, &[gw("a", 8085)], |_| true), Ok(8085));
        let gws = [gw("b", 8080)];
        assert_eq!(choose_port("a", None, &gws, |p| p != 8080), Ok(8081));
        assert_eq!(
            choose_port("a", None, &gws, |_| false),
            Err(PortError::NoneFree {
                from: 8080,
                to: 8089
            })
        );
    }
}
