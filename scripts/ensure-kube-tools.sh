#!/usr/bin/env bash
# Tools the Kubernetes export is judged by (tests/export_kubernetes.rs): kubernetes-validate from
# PyPI (the Kubernetes schemas, offline), and Debian's catatonit, with which Podman builds the
# pause image `podman kube play` needs (nothing can be pulled here). The tests skip, saying why,
# when a tool is missing.
set -uo pipefail
command -v kubernetes-validate >/dev/null 2>&1 || python3 -m pip install --quiet kubernetes-validate >&2 || echo "warning: kubernetes-validate could not be installed" >&2
if ! [ -e /usr/libexec/podman/catatonit ] && ! command -v catatonit >/dev/null 2>&1; then
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq catatonit >/dev/null 2>&1 \
    || { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq catatonit >/dev/null; } \
    || echo "warning: catatonit could not be installed" >&2
fi
exit 0
