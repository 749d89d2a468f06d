#!/usr/bin/env bash
# Benchmark (not a test: it asserts nothing): `mew space up / status / down` against
# `docker-compose up -d / ps / down` running the same space, in the same run.
#
# The space: the gateway, one `mew agent echo` container and one output_log participant (which
# lives inside the gateway). The compose file is generated from the containers mew itself created
# (same image, entrypoint, command, environment, mounts, user, limits, healthcheck, aliases), so
# both sides start exactly the same processes. `mew space up` additionally waits until the agent
# has joined; compose only waits for the gateway's healthcheck (`depends_on: service_healthy`).
#
# Usage: benches/space.sh [RUNS]      (default 5 runs; prints a markdown table of medians)
# Env:   MEW=/path/to/mew             (default: builds and uses target/release/mew)
#        COMPOSE=docker-compose       (v1.29 works with Docker 20.10; `docker compose` also works)
set -euo pipefail

runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MEW:-}" ]; then
  (cd "$root" && cargo build --release -q)
  MEW=$root/target/release/mew
fi
read -r -a compose <<<"${COMPOSE:-docker-compose}"
if ! "${compose[@]}" version >/dev/null 2>&1; then
  echo "error: ${compose[*]} not found; install it (Debian: apt-get install docker-compose)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/mew-bench.XXXXXX)
work=$(cd "$work" && pwd -P)
id="bench-$$"
project="mewbench$$"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "$MEW" space down -d "$work" >/dev/null 2>&1 || true
  [ -f "$work/compose.yaml" ] && "${compose[@]}" -p "$project" -f "$work/compose.yaml" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/space.yaml" <<EOF
space:
  id: $id
  name: Benchmark
participants:
  echo:
    command: mew
    args: [agent, echo]
    auto_start: true
    capabilities:
      - kind: chat
  you:
    output_log: ./logs/you.jsonl
    capabilities:
      - kind: chat
EOF

# Milliseconds taken by a command (its output discarded; a failure aborts the benchmark).
ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>"$work/last.err" || { echo "error: $* failed:" >&2; cat "$work/last.err" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

# Warm-up (not timed): builds the runtime image if missing, creates the tokens; then the compose
# file is written from the containers mew created.
"$MEW" space up -d "$work" --port "$port" >/dev/null
docker inspect $(docker ps -q --filter "label=io.mew.space=$id") >"$work/inspect.json"
"$MEW" space down -d "$work" >/dev/null
python3 - "$work/inspect.json" "$work/compose.yaml" <<'PY'
import json, sys

containers = json.load(open(sys.argv[1]))

def duration(ns):
    return f"{int(ns) // 1_000_000}ms"

services, volumes = {}, {}
for c in containers:
    cfg, hc = c["Config"], c["HostConfig"]
    participant = cfg["Labels"]["io.mew.participant"]
    svc = {
        "image": cfg["Image"],
        "command": cfg.get("Cmd") or [],
        "environment": cfg.get("Env") or [],
        "labels": {"io.mew.bench": "compose"},
    }
    if cfg.get("Entrypoint"):
        svc["entrypoint"] = cfg["Entrypoint"]
    if cfg.get("WorkingDir"):
        svc["working_dir"] = cfg["WorkingDir"]
    if cfg.get("User"):
        svc["user"] = cfg["User"]
    mounts = []
    for m in c.get("Mounts") or []:
        ro = "" if m.get("RW", True) else ":ro"
        if m["Type"] == "volume":
            volumes[m["Name"]] = {"external": True}
            mounts.append(f'{m["Name"]}:{m["Destination"]}{ro}')
        elif m["Type"] == "bind":
            mounts.append(f'{m["Source"]}:{m["Destination"]}{ro}')
    if mounts:
        svc["volumes"] = mounts
    if hc.get("Tmpfs"):
        svc["tmpfs"] = [f"{k}:{v}" if v else k for k, v in hc["Tmpfs"].items()]
    ports = []
    for cport, binds in (hc.get("PortBindings") or {}).items():
        for b in binds or []:
            ip = b.get("HostIp") or "0.0.0.0"
            ports.append(f'{ip}:{b["HostPort"]}:{cport}')
    if ports:
        svc["ports"] = ports
    if hc.get("Memory"):
        svc["mem_limit"] = hc["Memory"]
        if hc.get("MemorySwap"):
            svc["memswap_limit"] = hc["MemorySwap"]
    if hc.get("NanoCpus"):
        svc["cpus"] = hc["NanoCpus"] / 1e9
    if hc.get("PidsLimit"):
        svc["pids_limit"] = hc["PidsLimit"]
    if hc.get("CapDrop"):
        svc["cap_drop"] = hc["CapDrop"]
    if hc.get("SecurityOpt"):
        svc["security_opt"] = hc["SecurityOpt"]
    if hc.get("ReadonlyRootfs"):
        svc["read_only"] = True
    if hc.get("Init"):
        svc["init"] = True
    if cfg.get("StopTimeout") is not None:
        svc["stop_grace_period"] = f'{cfg["StopTimeout"]}s'
    policy = hc.get("RestartPolicy") or {}
    restart = policy.get("Name") or "no"
    if restart == "on-failure" and policy.get("MaximumRetryCount"):
        restart += f':{policy["MaximumRetryCount"]}'
    svc["restart"] = restart
    hcfg = cfg.get("Healthcheck")
    if hcfg and hcfg.get("Test"):
        h = {"test": hcfg["Test"]}
        for key, name in [("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period")]:
            if hcfg.get(key):
                h[name] = duration(hcfg[key])
        if hcfg.get("Retries"):
            h["retries"] = hcfg["Retries"]
        svc["healthcheck"] = h
    aliases = []
    for net in (c["NetworkSettings"].get("Networks") or {}).values():
        aliases += [a for a in net.get("Aliases") or [] if a != c["Id"][:12]]
    aliases = sorted(set(aliases) - {participant})
    if aliases:
        svc["networks"] = {"default": {"aliases": aliases}}
    services[participant] = svc

gateway = next(p for p, c in zip(services, containers) if c["Config"]["Labels"].get("io.mew.role") == "gateway")
for p, svc in services.items():
    if p != gateway:
        cond = "service_healthy" if "healthcheck" in services[gateway] else "service_started"
        svc["depends_on"] = {gateway: {"condition": cond}}

doc = {"version": "2.4", "services": services}
if volumes:
    doc["volumes"] = volumes
json.dump(doc, open(sys.argv[2], "w"), indent=2)  # JSON is YAML
PY

dc=("${compose[@]}" -p "$project" -f "$work/compose.yaml")
declare -a mew_up mew_status mew_down dc_up dc_ps dc_down
for i in $(seq 1 "$runs"); do
  mew_up+=("$(ms "$MEW" space up -d "$work" --port "$port")")
  mew_status+=("$(ms "$MEW" space status -d "$work")")
  mew_down+=("$(ms "$MEW" space down -d "$work")")
  dc_up+=("$(ms "${dc[@]}" up -d)")
  dc_ps+=("$(ms "${dc[@]}" ps)")
  dc_down+=("$(ms "${dc[@]}" down)")
  echo "run $i/$runs: mew ${mew_up[-1]}/${mew_status[-1]}/${mew_down[-1]} ms, compose ${dc_up[-1]}/${dc_ps[-1]}/${dc_down[-1]} ms (up/status/down)" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
row() { # row <op> <target ms> <mew runs…> -- <compose runs…>
  local op=$1 target=$2; shift 2
  local m=() c=()
  while [ "$1" != "--" ]; do m+=("$1"); shift; done
  shift
  c=("$@")
  local mm cm
  mm=$(median "${m[@]}")
  cm=$(median "${c[@]}")
  printf '| %s | %s ms | %s ms | %s ms | %s |\n' "$op" "$mm" "$cm" "$target" \
    "$(python3 -c "print(f'{$cm / max($mm, 1):.1f}x')")"
}
echo
echo "Medians of $runs runs ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, Docker $(docker version -f '{{.Server.Version}}'), $("${compose[@]}" version --short 2>/dev/null || echo compose)):"
echo
echo "| operation | mew | docker-compose | mew target | compose / mew |"
echo "|---|---|---|---|---|"
row "up (gateway + echo agent, image present)" 1000 "${mew_up[@]}" -- "${dc_up[@]}"
row "status / ps" 100 "${mew_status[@]}" -- "${dc_ps[@]}"
row "down" 500 "${mew_down[@]}" -- "${dc_down[@]}"
