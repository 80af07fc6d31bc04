#!/usr/bin/env bash
# Dashboard cost, figures printed (never asserted):
#   starts N labelled containers from the agent image (BUSY of them burning CPU), measures the
#   engine's (dockerd's) idle CPU as a baseline, then runs the dashboard in tmux at 160x48 for
#   WINDOW seconds and prints: the dashboard's CPU % of one core and peak RSS, dockerd's extra
#   CPU over the baseline, the time to the first full frame, and the key-to-screen latency.
# Usage: bench/dashboard.sh [N=50] [BUSY=10] [WINDOW=30]
# AGENT=cmd sets the agent command (default claude, which exits here without network: agents
# without status hooks, e.g. AGENT="sleep infinity", have their pane sampled by exec).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}; busy=${2:-10}; window=${3:-30}
. bench/lib.sh
sock=agentdock-bench-$$
bench_extra_cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; }
bench_setup dbench "agent_command = \"${AGENT:-claude}\""$'\n[limits]\nmemory = "256m"\ncpus = 0.25'
bench_projects "$n" 'p%03d'
echo "starting $n containers ($busy busy)"
i=0
for d in "$HOME"/projects/*; do
  "$bin" up "$(basename "$d")" >/dev/null & i=$((i+1)); (( i % 8 == 0 )) && wait
done; wait
for i in $(seq 1 "$busy"); do
  "$bin" exec "p$(printf %03d "$i")" --sh 'nohup sh -c "while :; do :; done" >/dev/null 2>&1 &' >/dev/null
done
sleep 3

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
dpid=$(pidof dockerd)
d0=$(ticks "$dpid"); sleep "$window"; d1=$(ticks "$dpid")
base=$(echo "($d1 - $d0) * 100 / $hz / $window" | bc -l)

t0=$(date +%s%N)
tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 "env HOME=$HOME AGENTDOCK_DATA_DIR=$AGENTDOCK_DATA_DIR AGENTDOCK_CONFIG=$AGENTDOCK_CONFIG $bin"
first=""
for _ in $(seq 1 400); do
  if tmux -L "$sock" capture-pane -p | grep -q "┃p001 .*running"; then first=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
  sleep 0.005
done
apid=$(tmux -L "$sock" display -p '#{pane_pid}')   # env exec'd the dashboard: same pid
sleep 3   # the first stats arrive
# first window: right after start (containers under a minute old show ages in seconds, so the
# screen changes every second); second window: steady state, a minute later
a0=$(ticks "$apid"); d0=$(ticks "$dpid"); sleep "$window"; a1=$(ticks "$apid"); d1=$(ticks "$dpid")
app_cpu=$(echo "($a1 - $a0) * 100 / $hz / $window" | bc -l)
eng_cpu=$(echo "($d1 - $d0) * 100 / $hz / $window" | bc -l)
sleep 30
a2=$(ticks "$apid"); d2=$(ticks "$dpid"); sleep "$window"; a3=$(ticks "$apid"); d3=$(ticks "$dpid")
app_cpu2=$(echo "($a3 - $a2) * 100 / $hz / $window" | bc -l)
eng_cpu2=$(echo "($d3 - $d2) * 100 / $hz / $window" | bc -l)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
lat=()
for _ in 1 2 3 4 5 6 7 8 9 10; do
  s=$(date +%s%N); tmux -L "$sock" send-keys '?'
  until tmux -L "$sock" capture-pane -p | grep -q "keys (remap"; do sleep 0.002; done
  lat+=($(( ($(date +%s%N) - s) / 1000000 )))
  tmux -L "$sock" send-keys Escape; sleep 0.3
done
printf 'containers:                  %d running (%d busy)\n' "$n" "$busy"
printf 'first full frame:            %s ms after start (the list with its containers)\n' "${first:-timeout}"
printf 'dashboard CPU:               %.2f %% of one core over %ss after start; %.2f %% steady (a minute later)\n' "$app_cpu" "$window" "$app_cpu2"
printf 'dashboard peak RSS:          %.1f MiB\n' "$(echo "$rss / 1024" | bc -l)"
printf 'dockerd CPU idle baseline:   %.2f %%\n' "$base"
printf 'dockerd CPU with dashboard:  %.2f %% (extra %.2f %%); steady %.2f %% (extra %.2f %%)\n' "$eng_cpu" "$(echo "$eng_cpu - $base" | bc -l)" "$eng_cpu2" "$(echo "$eng_cpu2 - $base" | bc -l)"
printf 'key to screen (? help), ms:  %s (includes tmux capture polling)\n' "${lat[*]}"
