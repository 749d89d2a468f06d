#!/usr/bin/env bash
# Make sure a container engine answers on this machine, provisioning Debian's Docker if none does.
# Used by scripts/test and scripts/demo (and so by CI). Safe to run repeatedly.
set -euo pipefail

engine_answers() { docker info >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
need_pkg() { # need_pkg <command-or-file> <debian package>
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
    if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    echo "installing $2 (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$2" >/dev/null
  fi
}

# Tests build their images from busybox-static (no registry here) and drive fish's and zsh's
# completion (tests/completions.rs); the demo needs none of it.
if [ "${MEW_ENGINE_ONLY:-}" != 1 ]; then
  need_pkg /bin/busybox busybox-static
  need_pkg fish fish
  need_pkg zsh zsh
fi

engine_answers && exit 0
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "error: no engine answers at DOCKER_HOST=$DOCKER_HOST; start it or unset DOCKER_HOST" >&2
  exit 1
fi

need_pkg dockerd docker.io
if ! engine_answers; then
  echo "starting dockerd in the background (log: /tmp/mew-dockerd.log)" >&2
  as_root sh -c 'nohup dockerd >/tmp/mew-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
fi
if ! engine_answers; then
  echo "error: the Docker engine did not come up; see /tmp/mew-dockerd.log" >&2
  exit 1
fi
