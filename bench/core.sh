#!/usr/bin/env bash
# Benchmarks of the container core, figures printed (never asserted):
#   up from nothing to running (cached image), refresh from command to ready,
#   stats --json over N running managed containers (default 50).
# Usage: bench/core.sh [N]     Needs the engine and the image (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
. bench/lib.sh
bench_setup core $'[limits]\nmemory = "256m"\ncpus = 0.5'
bench_projects "$n" 'p%d'

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
