//! `--since` for `mew space logs`: an RFC 3339 time, a duration back from now (`90s`, `10m`,
//! `1h30m`, `2d`), or unix seconds.
use crate::error::InvalidInput;

/// Unix time (seconds) that `value` designates, given the current unix time `now`.
pub(crate) fn parse_since(value: &str, now: i64) -> Result<i64, InvalidInput> {
    let v = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<i64>().map_err(|_| bad(value));
    }
    parse_duration_secs(v)
        .map(|d| now - d)
        .ok_or_else(|| bad(value))
}

fn bad(value: &str) -> InvalidInput {
    InvalidInput::new(format!(
        "invalid --since `{value}`: use an RFC 3339 time (2024-05-01T10:00:00Z), a duration (30s, 10m, 1h30m, 2d) or unix seconds"
    ))
}

/// `1h30m` → 5400. Units: s, m, h, d. Each part needs a unit.
fn parse_duration_secs(v: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in v.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        parts += 1;
    }
    if !digits.is_empty() || parts == 0 {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_since("10m", 1000).unwrap(), 400);
        assert_eq!(parse_since("1h30m", 10_000).unwrap(), 10_000 - 5400);
        assert_eq!(parse_since("2d", 200_000).unwrap(), 200_000 - 172_800);
        assert_eq!(parse_since("45s", 100).unwrap(), 55);
    }

    #[test]
    fn rfc3339_and_unix() {
        assert_eq!(parse_since("1970-01-01T00:01:00Z", 0).unwrap(), 60);
        assert_eq!(parse_since("1970-01-01T01:00:00+01:00", 0).unwrap(), 0);
        assert_eq!(parse_since("1700000000", 0).unwrap(), 1_700_000_000);
    }

    #[test]
    fn rejects_garbage() {
        for v in ["", "m", "10x", "1h30", "yesterday", "-5m"] {
            assert!(parse_since(v, 0).is_err(), "{v}");
        }
    }
}
