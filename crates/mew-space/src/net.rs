//! Bind address → the URL a local client reaches it at: the one home for that rule.

/// The host part of a URL that reaches a server bound to `bind` from this machine.
/// An unspecified address (every interface) is reached on loopback: `0.0.0.0` and an empty
/// bind on 127.0.0.1, `::` on `[::1]`. `localhost` becomes 127.0.0.1 because clients that
/// resolve it to `::1` first (Node 17+) are refused by a port published on 127.0.0.1 only.
/// IPv6 addresses get their brackets; an already bracketed one is kept.
pub fn reachable_host(bind: &str) -> String {
    match bind.trim() {
        "" | "0.0.0.0" | "localhost" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        b if b.contains(':') && !b.starts_with('[') => format!("[{b}]"),
        b => b.to_string(),
    }
}

/// `<scheme>://<host>:<port>` for a server bound to `bind` and `port` (no trailing slash).
pub fn reachable_url(scheme: &str, bind: &str, port: u16) -> String {
    format!("{scheme}://{}:{port}", reachable_host(bind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_binds_are_reached_on_loopback() {
        assert_eq!(reachable_url("http", "0.0.0.0", 1), "http://127.0.0.1:1");
        assert_eq!(reachable_url("http", "", 80), "http://127.0.0.1:80");
        assert_eq!(reachable_url("http", "::", 80), "http://[::1]:80");
        assert_eq!(reachable_url("ws", "[::]", 9000), "ws://[::1]:9000");
        assert_eq!(
            reachable_url("ws", "localhost", 8080),
            "ws://127.0.0.1:8080"
        );
    }

    #[test]
    fn specific_binds_are_kept_with_ipv6_bracketed() {
        assert_eq!(
            reachable_url("http", "127.0.0.1", 8080),
            "http://127.0.0.1:8080"
        );
        assert_eq!(reachable_url("http", "::1", 2), "http://[::1]:2");
        assert_eq!(reachable_url("ws", "[::1]", 2), "ws://[::1]:2");
        assert_eq!(
            reachable_url("http", "192.168.1.5", 80),
            "http://192.168.1.5:80"
        );
        assert_eq!(reachable_host("fe80::1"), "[fe80::1]");
    }
}
