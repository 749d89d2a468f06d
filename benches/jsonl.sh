#!/usr/bin/env bash
# Before/after of writing each JSONL record when the log writer's queue runs empty (fad4f11)
# instead of after a 15 ms batch window. Builds today's gateway twice, the second time with
# benches/jsonl-before.patch (the batch window restored), then runs `mew bench gateway` (both
# JSONL logs on) alternately with each binary and prints the medians.
#   benches/jsonl.sh [runs]      (default 5; CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
target=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
trap 'git apply -R benches/jsonl-before.patch 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --bin mew -q
cp "$target/release/mew" "$work/after"
git apply benches/jsonl-before.patch
cargo build --release --bin mew -q
cp "$target/release/mew" "$work/before"
git apply -R benches/jsonl-before.patch
args=(bench gateway --receivers 20 --messages 2000)
for i in $(seq "$runs"); do
  for which in before after; do
    rate=$("$work/$which" "${args[@]}" | awk '/throughput/ {print $2; exit}')
    echo "$which $i $rate load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$rate" >>"$work/$which.rates"
  done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b=$(median "$work/before.rates"); a=$(median "$work/after.rates")
echo "median deliveries/s: before $b, after $a, after/before $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a/b}')"
