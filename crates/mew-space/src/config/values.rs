//! Parsers for the small value languages of mew's own keys: sizes, durations, restart policies,
//! and names that become part of container names.
use crate::model::RestartPolicy;

/// `512m`, `1g`, `1.5G`, `256MiB`, `1048576` (bytes; `k`/`m`/`g` are binary units, as Docker's).
pub fn parse_memory(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "invalid memory size `{s}` (use e.g. `512m`, `1g` or a number of bytes)"
            ))
        }
    };
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid memory size `{s}` (use e.g. `512m`, `1g` or a number of bytes)")
    })?;
    let bytes = (n * mult).round();
    // Docker refuses limits under 6 MiB; say so here rather than at container creation.
    if bytes < 6.0 * 1024.0 * 1024.0 {
        return Err(format!("memory limit `{s}` is too small (at least 6m)"));
    }
    if bytes > i64::MAX as f64 {
        return Err(format!("memory limit `{s}` is too large"));
    }
    Ok(bytes as i64)
}

/// CPUs as a fraction (`0.5`) → nano-CPUs.
pub fn cpus_to_nano(cpus: f64) -> Result<i64, String> {
    if !(cpus.is_finite() && cpus > 0.0 && cpus <= 1024.0) {
        return Err(format!(
            "invalid cpus `{cpus}` (a positive number such as 0.5 or 2)"
        ));
    }
    Ok((cpus * 1e9).round() as i64)
}

/// `5s`, `500ms`, `1m`, `1m30s` → milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid duration `{s}` (use e.g. `5s`, `500ms` or `1m`)");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if split == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..split].parse().map_err(|_| bad())?;
        rest = &rest[split..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Ok(total.round() as u64)
}

/// `no`/`never`, `on-failure[:N]`, `always`, `unless-stopped`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy, String> {
    let bad = || {
        format!("invalid restart_policy `{s}` (expected `no`, `on-failure`, `on-failure:N`, `always` or `unless-stopped`)")
    };
    Ok(match s.trim() {
        "no" | "never" => RestartPolicy::No,
        "on-failure" => RestartPolicy::OnFailure(None),
        "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        other => {
            let n = other.strip_prefix("on-failure:").ok_or_else(bad)?;
            let n: u32 = n.parse().map_err(|_| bad())?;
            RestartPolicy::OnFailure(Some(n))
        }
    })
}

/// Whether `s` can be part of a container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and no `..`.
pub fn is_name_part(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) && !s.contains("..")
}

/// Longest space or participant id: a DNS label, since ids become host names and network
/// aliases (and are parts of container and network names).
pub const MAX_ID_LEN: usize = 63;

/// The message for an id over `MAX_ID_LEN`.
pub fn too_long(what: &str, id: &str) -> String {
    format!(
        "{what} `{id}` is {} characters long; ids have at most {MAX_ID_LEN} (they become host names)",
        id.len()
    )
}

/// Check a space id given on the command line or in the environment.
pub fn check_space_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_LEN {
        Err(too_long("space id", id))
    } else if is_name_part(id) {
        Ok(())
    } else {
        Err(format!(
            "invalid space id `{id}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory() {
        assert_eq!(parse_memory("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1.5G"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_memory("256MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_memory("8388608"), Ok(8_388_608));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("512x").is_err());
        assert!(parse_memory("1k").unwrap_err().contains("too small"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5s"), Ok(5000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert!(parse_duration_ms("5").is_err());
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("5x").is_err());
    }

    #[test]
    fn restart() {
        assert_eq!(parse_restart("no"), Ok(RestartPolicy::No));
        assert_eq!(parse_restart("never"), Ok(RestartPolicy::No));
        assert_eq!(
            parse_restart("on-failure"),
            Ok(RestartPolicy::OnFailure(None))
        );
        assert_eq!(
            parse_restart("on-failure:3"),
            Ok(RestartPolicy::OnFailure(Some(3)))
        );
        assert_eq!(parse_restart("always"), Ok(RestartPolicy::Always));
        assert_eq!(
            parse_restart("unless-stopped"),
            Ok(RestartPolicy::UnlessStopped)
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:x").is_err());
    }

    #[test]
    fn names() {
        assert!(is_name_part("echo"));
        assert!(is_name_part("agent_1.v2-x"));
        assert!(!is_name_part("-x"));
        assert!(!is_name_part("a/b"));
        assert!(!is_name_part("a\\b"));
        assert!(!is_name_part("a..b"));
        assert!(!is_name_part(""));
        assert!(!is_name_part("héllo"));
    }
}
