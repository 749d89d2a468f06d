#!/usr/bin/env bash
# The gateway benchmark runs of BENCHMARKS.md (## Gateway): mew's gateway and the Node.js peer
# (benches/peer/gateway.js) under the same load in one invocation, printing both and the ratios.
# Usage: benches/peer/run.sh [throughput|latency|all] [repetitions]
set -euo pipefail
cd "$(dirname "$0")/../.."

which="${1:-all}"
reps="${2:-1}"

if [ ! -d benches/peer/node_modules ]; then
  npm ci --prefix benches/peer --no-audit --no-fund
fi
cargo build --release --quiet

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
peer="node benches/peer/gateway.js --port {port} --log-dir $logs"

run() {
  echo "== $(date -u +%H:%M:%S) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== mew bench gateway $*"
  target/release/mew bench gateway "$@" --peer-cmd "$peer"
  rm -f "$logs"/*.jsonl
}

for _ in $(seq "$reps"); do
  case "$which" in
    throughput) run --receivers 20 --messages 2000 ;;
    latency) run --receivers 20 --messages 5000 --rate 1000 ;;
    all)
      run --receivers 20 --messages 2000
      run --receivers 20 --messages 5000 --rate 1000
      ;;
    *) echo "usage: $0 [throughput|latency|all] [repetitions]" >&2; exit 2 ;;
  esac
done
