#!/usr/bin/env bash
# Make sure Podman's Docker-compatible API answers at $PODMAN_SOCK (default /run/podman/podman.sock),
# installing Debian's podman and starting `podman system service` when needed. Safe to run
# repeatedly; used to run the engine-backed tests against Podman (MEW_TEST_ENGINE=podman).
set -euo pipefail

sock="${PODMAN_SOCK:-/run/podman/podman.sock}"
conf=/etc/containers/containers.conf
log=/tmp/mew-podman.log

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
answers() { curl -sf --max-time 3 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

apt_updated=0
need_pkg() { # need_pkg <command-or-file> <debian package>
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
    if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    echo "installing $2 (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$2" >/dev/null
  fi
}

need_pkg curl curl
need_pkg /bin/busybox busybox-static
answers && exit 0

need_pkg podman podman

# Podman asks the kernel for a higher open-files limit in every container by default; sandboxes
# (and some CI runners) refuse that, so every start fails. An empty list keeps the caller's limits.
if ! grep -qs '^[[:space:]]*default_ulimits' "$conf"; then
  as_root mkdir -p "$(dirname "$conf")"
  if grep -qs '^\[containers\]' "$conf"; then
    as_root sed -i 's/^\[containers\]/[containers]\ndefault_ulimits = []/' "$conf"
  else
    printf '[containers]\ndefault_ulimits = []\n' | as_root tee -a "$conf" >/dev/null
  fi
fi

as_root mkdir -p "$(dirname "$sock")"
echo "starting podman system service on $sock (log: $log)" >&2
as_root sh -c "nohup podman system service --time=0 'unix://$sock' >$log 2>&1 &"
for _ in $(seq 1 60); do
  answers && exit 0
  sleep 0.5
done
echo "error: Podman's API did not come up on $sock; see $log" >&2
exit 1
