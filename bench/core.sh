#!/usr/bin/env bash
# Benchmarks of the container core, figures printed (never asserted):
#   up from nothing to running (cached image), refresh from command to ready,
#   stats --json over N running managed containers (default 50).
# Usage: bench/core.sh [N]     Needs the engine and the image (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
cargo build --release --locked --quiet
bin=$PWD/target/release/agentdock
run_id=bench$$
tmp=$(mktemp -d /tmp/agentdock-bench.XXXXXX)
cleanup() {
  ids=$(docker ps -aq --filter "label=dev.agentdock.bench=$run_id")
  [ -n "$ids" ] && docker rm -f $ids >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME=$tmp/home AGENTDOCK_DATA_DIR=$tmp/data AGENTDOCK_CONFIG=$tmp/config.toml
mkdir -p "$HOME/projects"
printf '[labels]\n"dev.agentdock.bench" = "%s"\n[limits]\nmemory = "256m"\ncpus = 0.5\n' "$run_id" > "$AGENTDOCK_CONFIG"
for i in $(seq 1 "$n"); do mkdir -p "$HOME/projects/p$i/.git"; done
chown -R 1000:1000 "$HOME/projects"

ms() { date +%s%3N; }
echo "== up from nothing to running (cached image), 5 runs"
for r in 1 2 3 4 5; do
  t0=$(ms); "$bin" up p1 >/dev/null; t1=$(ms)
  echo "up run $r: $((t1 - t0)) ms"
  [ "$r" -lt 5 ] && "$bin" rm p1 --yes >/dev/null
done
echo "== refresh from command to ready, 3 runs"
for r in 1 2 3; do
  t0=$(ms); "$bin" refresh p1 >/dev/null 2>&1; t1=$(ms)
  echo "refresh run $r: $((t1 - t0)) ms"
done
echo "== starting $n containers"
t0=$(ms)
for i in $(seq 2 "$n"); do "$bin" up "p$i" >/dev/null & if (( i % 8 == 0 )); then wait; fi; done; wait
echo "started $n in $(( $(ms) - t0 )) ms"
echo "== stats --json over $n running containers, 3 runs"
for r in 1 2 3; do
  t0=$(ms); rows=$("$bin" stats --json | grep -c '"cpu_percent"'); t1=$(ms)
  echo "stats run $r: $((t1 - t0)) ms for $rows containers with samples"
done
