#!/usr/bin/env bash
# Dashboard cost, figures printed (never asserted):
#   starts N labelled containers from the agent image (BUSY of them burning CPU), measures the
#   engine's (dockerd's) idle CPU as a baseline, then runs the dashboard in tmux at 160x48 for
#   WINDOW seconds and prints: the dashboard's CPU % of one core and peak RSS, dockerd's extra
#   CPU over the baseline, the time to the first full frame, and the key-to-screen latency.
# Usage: bench/dashboard.sh [N=50] [BUSY=10] [WINDOW=30]
# AGENT=cmd sets the agent command (default claude, which exits here without network: agents
# without status hooks, e.g. AGENT="sleep infinity", have their pane sampled by exec).
#
# Many containers: bench/dashboard.sh scale [SIZES="300 1000"] [WINDOW=20]
#   PROJECTS (20) projects each with its running container and a git repository (a commit, a
#   changed and a new file: the GIT column on, read every ui.git_interval_secs), RUNNING (20)
#   running containers agentdock does not manage and the rest up to each size created only
#   (state "created"), listed with ui.show_unmanaged; for each size prints the first frame (the
#   list with every container counted), key to frame (? help and space folding the unmanaged
#   group: median and max), the dashboard's own CPU (steady, ages over a minute) with and
#   without the git processes it ran, RSS and open files, each beside its goal (printed, never
#   asserted).
#
# Agents' transcripts: bench/dashboard.sh transcripts [N=50] [WINDOW=30]
#   N projects whose agents (sleep infinity: no model needed) have a transcript each, named by
#   their SessionStart hook's file as the real CLI's hook writes it; the dashboard's own CPU is
#   measured with the transcripts still, then while each grows by one assistant line a second
#   (a real line's shape, ~1.5 kB, usage included), and the difference printed beside its goal
#   (<= 0.1 % of one core more).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
sock=agentdock-bench-$$
bench_extra_cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; }
hz=$(getconf CLK_TCK)

# the count before " unmanaged" in the list's title (N/M: M)
title_unmanaged() { tmux -L "$sock" capture-pane -p | head -1 | grep -o '[0-9]*/[0-9]* unmanaged' | sed 's/.*\/\([0-9]*\) .*/\1/'; }

scale() {
  local sizes=${1:-"300 1000"} window=${2:-20} projects=${PROJECTS:-20} running=${RUNNING:-20}
  bench_setup dscale 'agent_command = "sleep infinity"'$'\n[ui]\nshow_unmanaged = true\n[limits]\nmemory = "256m"\ncpus = 0.25'
  bench_projects "$projects" 'p%03d'
  local p
  for p in "$HOME"/projects/*; do
    rmdir "$p/.git"
    git -C "$p" init -q -b main
    seq 1 200 > "$p/a"; echo x > "$p/b"
    git -c safe.directory='*' -C "$p" add a b
    git -c safe.directory='*' -C "$p" -c user.name=b -c user.email=b@b commit -q -m one
    echo more >> "$p/a"; echo new > "$p/c"
  done
  chown -R 1000:1000 "$HOME/projects"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  local i=0 made=0 d
  for d in "$HOME"/projects/*; do
    "$bin" up "$(basename "$d")" >/dev/null & i=$((i+1)); (( i % 8 == 0 )) && wait
  done; wait
  for size in $sizes; do
    local want=$(( size - projects )) made_at
    echo "making $(( want - made )) more containers agentdock does not manage ($running of all running)"
    while (( made < want )); do
      made=$((made+1))
      local args=(--name "u$(printf %04d "$made")-$run_id" --label "dev.agentdock.bench=$run_id" --network none --entrypoint sleep agentdock/agent:latest 600)
      if (( made <= running )); then docker run -d "${args[@]}" >/dev/null & else docker create -q "${args[@]}" >/dev/null & fi
      (( made % 10 == 0 )) && wait
    done; wait
    made_at=$(date +%s)
    # unmanaged as the dashboard counts them: neither a project's nor agentdock's own (the proxy)
    local others; others=$(docker ps -a --format '{{.Label "dev.agentdock.managed"}}|{{.Label "dev.agentdock.role"}}' | grep -c '^|$')
    local t0 first="" all="" apid lat_help=() lat_fold=() k
    t0=$(now_ms)
    tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 "env HOME=$HOME AGENTDOCK_DATA_DIR=$AGENTDOCK_DATA_DIR AGENTDOCK_CONFIG=$AGENTDOCK_CONFIG $bin"
    for _ in $(seq 1 2000); do
      if [ -z "$first" ] && tmux -L "$sock" capture-pane -p | grep -q "┃p001 .*running"; then first=$(( $(now_ms) - t0 )); fi
      if [ -n "$first" ] && [ "$(title_unmanaged)" -ge "$others" ] 2>/dev/null; then all=$(( $(now_ms) - t0 )); break; fi
      sleep 0.005
    done
    # the engine's own answer to listing every container, for comparison
    local list_ms; list_ms=$(curl -s -o /dev/null -w '%{time_total}' --unix-socket /var/run/docker.sock "http://localhost/containers/json?all=1" | awk '{printf "%d", $1 * 1000}')
    apid=$(tmux -L "$sock" display -p '#{pane_pid}')
    sleep 3
    for k in $(seq 1 20); do
      lat_help+=("$(key_to_frame '?' 'keys (remap')"); tmux -L "$sock" send-keys Escape; sleep 0.3
    done
    # the folded unmanaged group is the last row: G selects it, space unfolds and folds it
    tmux -L "$sock" send-keys G; sleep 0.3
    for k in $(seq 1 10); do
      lat_fold+=("$(key_to_frame Space '▾ unmanaged')"); sleep 0.2
      lat_fold+=("$(key_to_frame Space '▸ unmanaged')"); sleep 0.2
    done
    # steady: every container over a minute old (younger ones tick their age each second)
    local wait_s=$(( made_at + 62 - $(date +%s) )); (( wait_s > 0 )) && sleep "$wait_s"
    local a0 a1 c0 c1 cpu kids rss hwm fds
    a0=$(ticks "$apid"); c0=$(child_ticks "$apid"); sleep "$window"; a1=$(ticks "$apid"); c1=$(child_ticks "$apid")
    cpu=$(echo "($a1 - $a0) * 100 / $hz / $window" | bc -l)
    kids=$(echo "($c1 - $c0) * 100 / $hz / $window" | bc -l)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$apid/status"); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
    fds=$(ls "/proc/$apid/fd" | wc -l)
    tmux -L "$sock" send-keys q; sleep 1; tmux -L "$sock" kill-server 2>/dev/null || true
    printf '\n%d containers (%d projects running, %d unmanaged of which %d running; %d unmanaged on the host in all)\n' "$size" "$projects" "$want" "$running" "$others"
    printf '  first frame:           %s ms (the projects with their containers)   goal <= 300 ms at 1,000\n' "${first:-timeout}"
    printf '  every container in:    %s ms (the engine lists all %d in %s ms by itself)\n' "${all:-timeout}" "$(docker ps -aq | wc -l)" "$list_ms"
    printf '  key to frame, ? help:  %s   goal median <= 30 ms at 1,000\n' "$(med_max "${lat_help[@]}")"
    printf '  key to frame, space:   %s   (fold / unfold the unmanaged group)\n' "$(med_max "${lat_fold[@]}")"
    printf '  own CPU, steady:       %.2f %% of one core over %ss   goal <= 1 %% at 1,000\n' "$cpu" "$window"
    printf '  its git, steady:       %.2f %% more (the git processes it ran for %d projects)\n' "$kids" "$projects"
    printf '  RSS:                   %.1f MiB (peak %.1f MiB)        goal <= 16 MiB at 1,000\n' "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)"
    printf '  open files:            %d\n' "$fds"
    printf '  load after:            %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
}

transcripts() {
  local n=${1:-50} window=${2:-30}
  bench_setup dtrans 'agent_command = "sleep infinity"'$'\n[limits]\nmemory = "256m"\ncpus = 0.25'
  bench_projects "$n" 'p%03d'
  local i=0 d files=()
  for d in "$HOME"/projects/*; do
    "$bin" up "$(basename "$d")" >/dev/null & i=$((i+1)); (( i % 8 == 0 )) && wait
  done; wait
  for d in "$HOME"/projects/*; do
    local a="$AGENTDOCK_DATA_DIR/agents/$(basename "$d")"
    mkdir -p "$a/projects/-workspace" "$a/agentdock"
    printf '{"session_id":"bench","transcript_path":"/home/agent/.claude/projects/-workspace/bench.jsonl","cwd":"/workspace","hook_event_name":"SessionStart","source":"startup"}\n' > "$a/agentdock/session"
    printf 'working %s\n' "$(date +%s)" > "$a/agentdock/status"
    printf '{"type":"user","timestamp":"%s","message":{"role":"user","content":"make the tests pass"}}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" > "$a/projects/-workspace/bench.jsonl"
    files+=("$a/projects/-workspace/bench.jsonl")
  done
  tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 "env HOME=$HOME AGENTDOCK_DATA_DIR=$AGENTDOCK_DATA_DIR AGENTDOCK_CONFIG=$AGENTDOCK_CONFIG $bin"
  until tmux -L "$sock" capture-pane -p | grep -q "┃p001 .*running"; do sleep 0.05; done
  local apid; apid=$(tmux -L "$sock" display -p '#{pane_pid}')
  sleep 70   # transcripts read once, ages over a minute
  local a0 a1 still grow pad
  a0=$(ticks "$apid"); sleep "$window"; a1=$(ticks "$apid")
  still=$(echo "($a1 - $a0) * 100 / $hz / $window" | bc -l)
  pad=$(head -c 900 /dev/zero | tr '\0' x)
  ( while :; do
      local ts id; ts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z); id=$RANDOM$RANDOM
      for f in "${files[@]}"; do
        printf '{"type":"assistant","timestamp":"%s","message":{"id":"msg_%s","model":"claude-opus-5-5","role":"assistant","content":[{"type":"tool_use","id":"toolu_%s","name":"Bash","input":{"command":"npm test","description":"%s"}}],"stop_reason":"tool_use","usage":{"input_tokens":1200,"output_tokens":80,"cache_read_input_tokens":30000,"cache_creation_input_tokens":0}}}\n' "$ts" "$id" "$id" "$pad" >> "$f"
      done
      sleep 1
    done ) &
  local grower=$!
  sleep 5
  a0=$(ticks "$apid"); sleep "$window"; a1=$(ticks "$apid")
  kill "$grower" 2>/dev/null; wait "$grower" 2>/dev/null || true
  grow=$(echo "($a1 - $a0) * 100 / $hz / $window" | bc -l)
  printf 'agents:                      %d, each with a transcript\n' "$n"
  printf 'dashboard CPU, still:        %.2f %% of one core over %ss\n' "$still" "$window"
  printf 'dashboard CPU, growing:      %.2f %% (a line a second each)\n' "$grow"
  printf 'the growth costs:            %.3f %% of one core   goal <= 0.1 %%\n' "$(echo "$grow - $still" | bc -l)"
  printf 'dashboard peak RSS:          %.1f MiB\n' "$(echo "$(awk '/VmHWM/ {print $2}' "/proc/$apid/status") / 1024" | bc -l)"
  printf 'load:                        %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${1:-}" = transcripts ]; then
  shift
  transcripts "$@"
  exit 0
fi

if [ "${1:-}" = scale ]; then
  shift
  scale "$@"
  exit 0
fi

n=${1:-50}; busy=${2:-10}; window=${3:-30}
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
