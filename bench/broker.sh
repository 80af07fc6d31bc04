#!/usr/bin/env bash
# Benchmark of the credential broker, figures printed (never asserted): the time to first byte
# of a streamed Messages API answer from the scripted model server on loopback, directly and
# through `agentdock broker serve` (the same binary the broker's container runs), N requests
# each, interleaved, and the broker's added median (goal: 2 ms or less); then the broker's RSS
# and CPU while C agents (default 10) stream through it for S seconds (default 30), beside the
# same load sent directly.
# Usage: bench/broker.sh [N] [C] [S]    Needs the engine and the test image
# (tests/fixtures/build-test-image.sh). AGENTDOCK_BIN=target/debug/agentdock skips the
# release build (but measure a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
c=${2:-10}
secs=${3:-30}
. bench/lib.sh
bench_setup broker ''
model_port=$((20000 + RANDOM % 10000))
broker_port=$((model_port + 1))
server=agentdock-bench-model-$run_id
broker_pid=
bench_extra_cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  docker rm -f "$server" >/dev/null 2>&1 || true
}

# the upstream: the scripted model server on this host's loopback, every request a streamed
# answer of ~40 deltas
text=$(printf 'a streamed answer of many small pieces %.0s' $(seq 1 16))
docker run -d --name "$server" --label "dev.agentdock.bench=$run_id" --network host \
  -e MODEL_PORT="$model_port" -e MODEL_MAIN_RULE=all -e MODEL_LOG=/dev/null \
  -e MODEL_SCRIPT="[{\"text\": \"$text\", \"repeat\": true, \"usage\": {\"input_tokens\": 100, \"output_tokens\": 40}}]" \
  --entrypoint python3 agentdock/agent-test:latest /opt/agentdock-test/model_server.py >/dev/null

# the broker, on loopback, with a capability of its own and a made-up key
state=$tmp/broker; mkdir -p "$state"
token=agentdock-cap-bench$run_id
hash=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
printf '{"upstream": "http://127.0.0.1:%s", "kind": "api_key"}\n' "$model_port" > "$state/broker.json"
printf '{"caps": [{"hash": "%s", "container": "bench", "project": "bench", "issued_at": 0}]}\n' "$hash" > "$state/caps.json"
printf 'sk-ant-api03-bench' > "$tmp/credential"
AGENTDOCK_DATA_DIR=$state "$bin" broker serve --state "$state" --credential "$tmp/credential" --listen "127.0.0.1:$broker_port" 2>"$tmp/broker.log" &
broker_pid=$!
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$broker_port/agentdock/health" >/dev/null 2>&1 && curl -s -o /dev/null "http://127.0.0.1:$model_port/api/hello" 2>/dev/null && break
  sleep 0.1
done

body='{"model":"claude-bench","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
ttfb() { # URL KEY: seconds to the first byte of the answer
  curl -s -o /dev/null -w '%{time_starttransfer}\n' -X POST "$1/v1/messages" -H "x-api-key: $2" \
    -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -d "$body"
}
median_ms() { sort -n | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f", m * 1000}'; }
p95_ms() { sort -n | awk '{v[NR]=$1} END {i = int(NR * 0.95); if (i < 1) i = 1; printf "%.2f", v[i] * 1000}'; }

echo "== time to first byte, $n requests each (interleaved), loopback"
: > "$tmp/direct.ttfb"; : > "$tmp/broker.ttfb"
for _ in $(seq 1 3); do ttfb "http://127.0.0.1:$model_port" k >/dev/null; ttfb "http://127.0.0.1:$broker_port" "$token" >/dev/null; done
for _ in $(seq 1 "$n"); do
  ttfb "http://127.0.0.1:$model_port" k >> "$tmp/direct.ttfb"
  ttfb "http://127.0.0.1:$broker_port" "$token" >> "$tmp/broker.ttfb"
done
d=$(median_ms < "$tmp/direct.ttfb"); b=$(median_ms < "$tmp/broker.ttfb")
echo "direct:  median $d ms, p95 $(p95_ms < "$tmp/direct.ttfb") ms"
echo "broker:  median $b ms, p95 $(p95_ms < "$tmp/broker.ttfb") ms"
echo "added by the broker (median): $(awk -v b="$b" -v d="$d" 'BEGIN {printf "%.2f", b - d}') ms (goal <= 2 ms)"

# C agents streaming for S seconds: directly, then through the broker
load() { # URL KEY: requests done by C loops in S seconds
  local end=$(( $(date +%s) + secs )) pids=() i
  for i in $(seq 1 "$c"); do
    ( k=0; while [ "$(date +%s)" -lt "$end" ]; do curl -s -o /dev/null -X POST "$1/v1/messages" -H "x-api-key: $2" -H 'content-type: application/json' -d "$body"; k=$((k+1)); done; echo "$k" > "$tmp/load.$i" ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$tmp"/load.* | awk '{s += $1} END {print s}'
}
ticks() { awk '{print $14 + $15}' "/proc/$broker_pid/stat"; }
hz=$(getconf CLK_TCK)
echo "== $c agents streaming for $secs s"
echo "broker idle: RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$broker_pid/status")"
direct=$(load "http://127.0.0.1:$model_port" k)
echo "direct:  $direct requests"
t0=$(ticks)
through=$(load "http://127.0.0.1:$broker_port" "$token")
t1=$(ticks)
echo "broker:  $through requests; its CPU $(awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.1f", t / hz / s * 100}') % of one core, RSS now $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$broker_pid/status"), peak $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$broker_pid/status")"
echo "recorded: $(wc -l < "$state/usage.jsonl") usage lines"
