#!/usr/bin/env bash
# Several engines in one dashboard, figures printed (never asserted):
#   bench/engines.sh [N=50] [WINDOW=30]
# Three scenes, the dashboard at 160x48 in tmux, its containers idle `sleep`s it does not
# manage (shown: ui.show_unmanaged):
#   1. one engine x 2N containers (the local engine)
#   2. two engines x N: the local one and a second dockerd started here (its own data root,
#      exec root and bridge, on a unix socket), as an `[[engine]]` entry
#   3. the same with the second engine hanging: its dockerd stopped (SIGSTOP), so it accepts
#      nothing and answers nothing; its containers keep running
# Per scene: the dashboard's own CPU (steady, over WINDOW s), its RSS, and key -> frame for `?`
# (20 presses: median and max). Goal: 2 and 3 unchanged within noise against 1.
# Needs root (a second dockerd and a bridge); everything it makes goes at the end, also on
# Ctrl-C. AGENTDOCK_BIN=path measures that build instead of the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-50}
window=${2:-30}
sock=agentdock-bench-$$
root=/var/tmp/agentdock-bench-engine2
bridge=adb2br0
e2_pid=
hz=$(getconf CLK_TCK)
e2() { DOCKER_HOST="unix://$e2_run/docker.sock" docker "$@"; }
bench_extra_cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  if [ -n "$e2_pid" ]; then
    kill -CONT "$e2_pid" 2>/dev/null || true
    local ids; ids=$(e2 ps -aq --filter "label=dev.agentdock.bench=$run_id" 2>/dev/null || true)
    [ -n "$ids" ] && e2 rm -f $ids >/dev/null 2>&1
    kill -TERM "$e2_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$e2_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$root" "${e2_run:-/nonexistent}"
}
bench_setup dengines $'[ui]\nshow_unmanaged = true'
trap 'exit 130' INT TERM
bin=${AGENTDOCK_BIN:-$bin}
base_conf=$(cat "$AGENTDOCK_CONFIG")

# containers NAME-PREFIX COUNT [e2]: idle running containers, labelled as the bench's
# (ten at a time; `wait` names them: a bare one would wait for the second dockerd too)
containers() {
  local i run=docker pids=()
  [ "${3:-}" = e2 ] && run=e2
  for i in $(seq 1 "$2"); do
    $run run -d --name "$1-$(printf %03d "$i")-$run_id" --label "dev.agentdock.bench=$run_id" --network none \
      --entrypoint sleep agentdock/base:bookworm 3600 >/dev/null &
    pids+=($!)
    if (( i % 10 == 0 )); then wait "${pids[@]}"; pids=(); fi
  done
  if (( ${#pids[@]} )); then wait "${pids[@]}"; fi
}
# scene NAME WANT: the dashboard on the config as it stands, until the title counts WANT
# unmanaged containers; then key -> frame and the steady CPU and RSS
scene() {
  local name=$1 want=$2 apid lat=() k a0 a1 cpu rss
  tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 "env HOME=$HOME AGENTDOCK_DATA_DIR=$AGENTDOCK_DATA_DIR AGENTDOCK_CONFIG=$AGENTDOCK_CONFIG $bin"
  for _ in $(seq 1 600); do
    tmux -L "$sock" capture-pane -p | head -1 | grep -q "/$want unmanaged" && break
    sleep 0.1
  done
  apid=$(tmux -L "$sock" display -p '#{pane_pid}')
  if [ -n "${3:-}" ]; then "$3"; fi
  sleep 5
  for k in $(seq 1 20); do
    lat+=("$(key_to_frame '?' 'keys (remap')"); tmux -L "$sock" send-keys Escape; sleep 0.3
  done
  sleep 3
  a0=$(ticks "$apid"); sleep "$window"; a1=$(ticks "$apid")
  cpu=$(echo "($a1 - $a0) * 100 / $hz / $window" | bc -l)
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$apid/status")
  local head; head=$(tmux -L "$sock" capture-pane -p | grep -m1 -E "second|reconnect" || true)
  tmux -L "$sock" send-keys q; sleep 1; tmux -L "$sock" kill-server 2>/dev/null || true
  printf '%s\n' "$name"
  printf '  key to frame, ? help:  %s\n' "$(med_max "${lat[@]}")"
  printf '  own CPU, steady:       %.2f %% of one core over %ss\n' "$cpu" "$window"
  printf '  RSS:                   %s MiB\n' "$rss"
  [ -n "$head" ] && printf '  the second engine:     %s\n' "$(echo "$head" | tr -s ' ' | cut -c1-110)"
  return 0
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# 1. one engine x 2N
containers one $(( 2 * n ))
scene "one engine x $(( 2 * n )) containers" $(( 2 * n ))
ids=$(docker ps -aq --filter "label=dev.agentdock.bench=$run_id"); docker rm -f $ids >/dev/null

# the second engine: a dockerd of its own on a bridge of its own, the base image loaded
mkdir -p "$root"
e2_run=$(mktemp -d /tmp/adb2.XXXXXX)
ip link show "$bridge" >/dev/null 2>&1 || { ip link add "$bridge" type bridge && ip addr add 10.213.9.1/24 dev "$bridge" && ip link set "$bridge" up; }
dockerd --data-root "$root/data" --exec-root "$e2_run/x" --pidfile "$e2_run/dockerd.pid" -H "unix://$e2_run/docker.sock" \
  --bridge="$bridge" --iptables=false --ip-masq=false --ip6tables=false > "$e2_run/dockerd.log" 2>&1 &
e2_pid=$!
for _ in $(seq 1 300); do e2 version >/dev/null 2>&1 && break; sleep 0.2; done
docker save agentdock/base:bookworm | e2 load -q >/dev/null
printf '%s\n[[engine]]\nname = "second"\nhost = "unix://%s/docker.sock"\n' "$base_conf" "$e2_run" > "$AGENTDOCK_CONFIG"

# 2. two engines x N
containers one "$n"
containers two "$n" e2
scene "two engines x $n containers" $(( 2 * n ))

# 3. the same, the second engine hanging
hang() { kill -STOP "$e2_pid"; }
scene "two engines x $n containers, the second hanging (its dockerd stopped)" $(( 2 * n )) hang
kill -CONT "$e2_pid"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
