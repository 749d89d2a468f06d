//! Memory and CPU of a running container.
//!
//! The engine's stats endpoint answers on its collector's next tick (Docker samples once a
//! second, even for one-shot requests), which alone would make `mew space status` take up to a
//! second. When mew runs on the engine's host, the same figures are in the container's cgroup,
//! readable in microseconds; the endpoint remains the fallback (remote engines, other PID or
//! cgroup namespaces).
use mew_space::model::StatsSample;
use std::path::{Path, PathBuf};

/// Read `pid`'s cgroup, provided it is the cgroup of `container_id` (a PID from another PID
/// namespace would name some other process: the id in the path rules that out).
pub fn from_cgroup(pid: i64, container_id: &str) -> Option<StatsSample> {
    if pid <= 0 || container_id.len() < 12 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let entries = parse_proc_cgroup(&text);
    if !entries.iter().any(|(_, path)| path.contains(container_id)) {
        return None;
    }
    let root = Path::new("/sys/fs/cgroup");
    let read_at = Some(chrono::Utc::now().to_rfc3339());
    if root.join("cgroup.controllers").exists() {
        // cgroup v2: one hierarchy.
        let path = entries.iter().find(|(c, _)| c.is_empty())?.1.clone();
        let dir = join(root, &path);
        let usage = read_u64(&dir.join("memory.current"));
        let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
        let cpu = std::fs::read_to_string(dir.join("cpu.stat"))
            .ok()
            .and_then(|s| stat_value(&s, "usage_usec"))
            .map(|us| us * 1000);
        return Some(StatsSample {
            memory_used: usage
                .map(|u| u.saturating_sub(stat_value(&stat, "inactive_file").unwrap_or(0))),
            cpu_total_ns: cpu,
            read_at,
        });
    }
    // cgroup v1: one hierarchy per controller, mounted under a directory named after them.
    let dir_of = |controller: &str| -> Option<PathBuf> {
        let (controllers, path) = entries
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == controller))?;
        [controllers.as_str(), controller]
            .iter()
            .map(|m| join(&root.join(m), path))
            .find(|d| d.is_dir())
    };
    let mem = dir_of("memory");
    let usage = mem
        .as_ref()
        .and_then(|d| read_u64(&d.join("memory.usage_in_bytes")));
    let inactive = mem
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("memory.stat")).ok())
        .and_then(|s| stat_value(&s, "total_inactive_file"))
        .unwrap_or(0);
    let cpu = dir_of("cpuacct").and_then(|d| read_u64(&d.join("cpuacct.usage")));
    if usage.is_none() && cpu.is_none() {
        return None;
    }
    Some(StatsSample {
        memory_used: usage.map(|u| u.saturating_sub(inactive)),
        cpu_total_ns: cpu,
        read_at,
    })
}

/// `hierarchy:controllers:path` lines → (controllers, path).
fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _hierarchy = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = parts.next()?.to_string();
            Some((controllers, path))
        })
        .collect()
}

fn join(root: &Path, cgroup_path: &str) -> PathBuf {
    root.join(cgroup_path.trim_start_matches('/'))
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The value of `key` in a `key value` per line file (memory.stat, cpu.stat).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_cgroup_v1_and_v2() {
        let v1 = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n";
        let e = parse_proc_cgroup(v1);
        assert_eq!(e[1], ("cpu,cpuacct".to_string(), "/docker/abc".to_string()));
        assert_eq!(e[2].0, "");
    }

    #[test]
    fn reads_stat_values() {
        let s = "cache 10\ntotal_inactive_file 4096\ninactive_file 7\n";
        assert_eq!(stat_value(s, "total_inactive_file"), Some(4096));
        assert_eq!(stat_value(s, "inactive_file"), Some(7));
        assert_eq!(stat_value(s, "missing"), None);
    }

    #[test]
    fn refuses_a_pid_of_another_container() {
        // Our own process is not in a cgroup named after this id.
        let me = std::process::id() as i64;
        assert_eq!(from_cgroup(me, "0123456789abcdef0123456789abcdef"), None);
    }
}
