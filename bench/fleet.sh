#!/usr/bin/env bash
# The task fleet's figures, printed (never asserted), in the test image (agent image + the
# scripted model server). Run through bench/tasks.sh:
#   bench/tasks.sh pool [N=5]        `task run` → the agent's first model request (POST) when a
#                                    pool container is ready, its CLI up (goal ≤ 300 ms); N runs,
#                                    each once the pool is ready again
#   bench/tasks.sh fleet [N=20] [P=4] N tasks through a pool of P (max_parallel = P): wall time
#                                    from the first `task run` to the last task collected,
#                                    agentdock's own CPU (the `task run`s, the runner and the git
#                                    it runs), peak memory of the pool's containers (idle and
#                                    working), and how many tasks got a pool container
#   bench/tasks.sh sweep [N=100]     the runner with N finished tasks on disk and one running:
#                                    one cleanup sweep (ms), the runner's CPU over a minute, and
#                                    `task ls` at that size
# The machine's other load shows: run it when the machine is quiet, a few times.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/tasks.sh pool|fleet|sweep [N] [P]}
shift
docker/build-image.sh --if-missing >/dev/null
tests/fixtures/build-test-image.sh --if-missing >/dev/null
. bench/lib.sh
n=${1:-}
p=${2:-4}
case "$mode" in
  pool) n=${n:-5}; tasks_conf=$'pool_size = 1\npool_projects = ["tbench"]' ;;
  fleet) n=${n:-20}; tasks_conf="pool_size = $p"$'\npool_projects = ["tbench"]\n'"max_parallel = $p" ;;
  sweep) n=${n:-100}; tasks_conf=$'sweep_secs = 5\ninactive_minutes = 60' ;;
  *) echo "bench/fleet.sh: unknown mode $mode (pool, fleet or sweep)" >&2; exit 2 ;;
esac
runner_pid() {
  local pid
  pid=$(cat "$AGENTDOCK_DATA_DIR/tasks/.runner.pid" 2>/dev/null) || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'task runner' || return 1
  echo "$pid"
}
bench_extra_cleanup() {
  local pid
  if pid=$(runner_pid); then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "${sampler:-}" ]; then kill "$sampler" 2>/dev/null || true; fi
}
bench_setup tbench "image = \"agentdock/agent-test:latest\""$'\nenv_passthrough = ["MODEL_SCRIPT"]\n\n[tasks]\n'"$tasks_conf"$'\n'
trap 'exit 130' INT TERM
bin=${AGENTDOCK_BIN:-$bin}
export MODEL_SCRIPT='[{"text": "hi"}]' ANTHROPIC_API_KEY=sk-test-not-a-real-key
export AGENTDOCK_LOG="info,agentdock::tasks=debug,bollard=warn,hyper=warn"
unset GITHUB_TOKEN CLAUDE_CODE_OAUTH_TOKEN DOCKER_HOST
printf '[user]\n\tname = Bench\n\temail = bench@localhost\n' > "$HOME/.gitconfig"
proj=$HOME/projects/tbench
mkdir -p "$proj"
git -C "$proj" init -q -b main
printf 'hello\n' > "$proj/README.md"
git -C "$proj" add README.md
git -C "$proj" commit -q -m base
chown -R 1000:1000 "$HOME/projects"
tasks=$AGENTDOCK_DATA_DIR/tasks

# pool_ready N: until N pool containers are ready with their CLI up (its start done: the
# pool's runner writes run/cli-up once the CLI, which makes no request before it has a
# prompt, has gone quiet)
pool_ready() {
  for _ in $(seq 1 600); do
    local up=0 d
    for d in "$AGENTDOCK_DATA_DIR"/pool/*/; do
      [ -f "$d/slot.json" ] || continue
      [ "$(cat "$d/run/state" 2>/dev/null)" = ready ] && [ -f "$d/run/cli-up" ] && up=$((up + 1))
    done
    [ "$up" -ge "$1" ] && return 0
    "$bin" task pool >/dev/null   # wakes the runner when it is short
    sleep 0.2
  done
  echo "the pool never had $1 ready" >&2
  return 1
}
# ended ID: the task is over and collected
collected() { python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["collected"] else 1)' "$tasks/$1/task.json" 2>/dev/null; }
# cpu PID: its CPU seconds, its reaped children's included
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }

case "$mode" in
pool)
  : > "$tmp/runs"
  for i in $(seq 1 "$n"); do
    pool_ready 1
    t0=$EPOCHREALTIME
    id=$("$bin" task run tbench "hi" --detach)
    t1=$EPOCHREALTIME
    for _ in $(seq 1 600); do collected "$id" && break; sleep 0.1; done
    echo "$id $t0 $t1" >> "$tmp/runs"
  done
  python3 - "$tmp/runs" "$tasks" "$AGENTDOCK_DATA_DIR/agentdock.log" <<'PY'
import json, re, statistics, sys
runs_f, tasks, log_f = sys.argv[1:]
phases = {}
for line in open(log_f):
    m = re.search(r'start phases \(ms since ([\d.]+)\): (.*?)\s+task=(\S+)', line)
    if m:
        phases[m.group(3)] = (float(m.group(1)), m.group(2))
rows = []
print(f"{'task':<16} {'pool':<5} {'return':>7} {'POST':>7}   host steps (ms since `task run` began in agentdock)")
for line in open(runs_f):
    tid, t0, t1 = line.split()
    t0, t1 = float(t0), float(t1)
    rec = json.load(open(f"{tasks}/{tid}/task.json"))
    post = None
    try:
        for l in open(f"{tasks}/{tid}/run/model-requests.jsonl"):
            r = json.loads(l)
            if r.get("method") == "POST" and r.get("main") and r["time"] >= t0:
                post = r["time"]
                break
    except OSError:
        pass
    ms = lambda t: (t - t0) * 1000 if t else float("nan")
    rows.append((ms(t1), ms(post), rec.get("from_pool")))
    print(f"{tid:<16} {str(rec.get('from_pool')):<5} {ms(t1):7.0f} {ms(post):7.0f}   {phases.get(tid, (0, '-'))[1]}")
vals = [r[1] for r in rows if r[1] == r[1]]
if vals:
    print(f"task run -> first model request, from the pool: median {statistics.median(vals):.0f} ms, min {min(vals):.0f}, max {max(vals):.0f} (goal <= 300)")
PY
  ;;
fleet)
  pool_ready "$p"
  : > "$tmp/cli-cpu" ; : > "$tmp/rss"
  (  # peak memory of the pool's containers (those handed a task keep their pool name)
    while :; do
      docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' 2>/dev/null | awk '
        $1 ~ /^agentdock-task-pool-/ { v = $2; u = 1
          if (v ~ /GiB/) u = 1024; else if (v ~ /KiB/) u = 1/1024; else if (v ~ /B$/ && v !~ /MiB/) u = 1/1048576
          sub(/[A-Za-z]+$/, "", v); s += v * u; n++ }
        END { printf "%d %.0f\n", n, s }' >> "$tmp/rss"
    done
  ) &
  sampler=$!
  rpid=$(runner_pid || true)
  runner_cpu0=0; [ -n "$rpid" ] && runner_cpu0=$(cpu "$rpid")
  t0=$EPOCHREALTIME
  ids=()
  for i in $(seq 1 "$n"); do
    TIMEFORMAT='%U %S'
    { time ids+=("$("$bin" task run tbench "task $i" --detach)"); } 2>> "$tmp/cli-cpu"
  done
  t_sub=$EPOCHREALTIME
  runner_cpu=0
  for _ in $(seq 1 3000); do
    rpid=$(runner_pid || true)
    [ -n "$rpid" ] && runner_cpu=$(cpu "$rpid")
    left=0
    for id in "${ids[@]}"; do collected "$id" || left=$((left + 1)); done
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  t_end=$EPOCHREALTIME
  kill "$sampler" 2>/dev/null || true; sampler=
  pooled=0
  for id in "${ids[@]}"; do grep -q '"from_pool": true' "$tasks/$id/task.json" && pooled=$((pooled + 1)); done
  python3 - "$t0" "$t_sub" "$t_end" "$tmp/cli-cpu" "$runner_cpu0" "$runner_cpu" "$tmp/rss" "$n" "$p" "$pooled" <<'PY'
import sys
t0, t_sub, t_end, cli_f, r0, r1, rss_f, n, p, pooled = sys.argv[1:]
cli = sum(float(a) + float(b) for a, b in (l.split() for l in open(cli_f) if l.strip()))
runner = float(r1) - float(r0)
peaks = [l.split() for l in open(rss_f) if l.strip()]
peak = max((float(s) for _, s in peaks), default=float("nan"))
most = max((int(c) for c, _ in peaks), default=0)
print(f"{n} tasks through a pool of {p} (max_parallel {p}), {pooled} of them handed a pool container")
print(f"  wall time: {float(t_end) - float(t0):.1f} s (all queued after {float(t_sub) - float(t0):.1f} s)")
print(f"  agentdock's own CPU: {cli + runner:.1f} s ({cli:.1f} s in the {n} task runs, {runner:.1f} s in the runner and its git)")
print(f"  pool containers' memory at its peak: {peak:.0f} MiB over {most} containers")
PY
  ;;
sweep)
  # one real finished task, copied N-1 times under new ids
  first=$("$bin" task run tbench "hi" --detach)
  for _ in $(seq 1 600); do collected "$first" && break; sleep 0.2; done
  python3 - "$tasks" "$first" "$n" <<'PY'
import json, os, random, shutil, sys
tasks, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = json.load(open(f"{tasks}/{first}/task.json"))
for i in range(n - 1):
    tid = first[:9] + "%06x" % random.randrange(1 << 24)
    shutil.copytree(f"{tasks}/{first}", f"{tasks}/{tid}", symlinks=True)
    rec = dict(src, spec=dict(src["spec"], id=tid, branch=f"agentdock/task-{tid}", container=f"agentdock-task-{tid}"))
    json.dump(rec, open(f"{tasks}/{tid}/task.json", "w"))
PY
  # (the CLI refuses a plain long `sleep`)
  export MODEL_SCRIPT='[{"bash": "python3 -c \"import time; time.sleep(600)\""}, {"text": "done"}]'
  long=$("$bin" task run tbench "stay" --detach --timeout 900)
  rpid=$(runner_pid)
  sleep 5
  c0=$(cpu "$rpid"); w0=$EPOCHREALTIME
  sleep 60
  # the runner stays while a task runs: a runner gone would make the figure a lie
  [ "$(runner_pid || true)" = "$rpid" ] || { echo "the runner ended during the minute (the long task: $(cat "$tasks/$long/task.json" 2>/dev/null | head -c 300))" >&2; exit 1; }
  c1=$(cpu "$rpid"); w1=$EPOCHREALTIME
  TIMEFORMAT='%R'
  ls_time=$( { time "$bin" task ls >/dev/null; } 2>&1 )
  "$bin" task cancel "$long" >/dev/null
  python3 - "$AGENTDOCK_DATA_DIR/agentdock.log" "$c0" "$c1" "$w0" "$w1" "$n" "$ls_time" <<'PY'
import re, statistics, sys
log_f, c0, c1, w0, w1, n, ls = sys.argv[1:]
sweeps = [float(m.group(1)) for m in (re.search(r'sweep done ms=([\d.]+)', l) for l in open(log_f)) if m]
cpu = (float(c1) - float(c0)) / (float(w1) - float(w0)) * 100
print(f"{n} finished tasks and 1 running:")
if sweeps:
    print(f"  one sweep: median {statistics.median(sweeps):.1f} ms, max {max(sweeps):.1f} ms ({len(sweeps)} sweeps)")
print(f"  the runner's CPU over a minute: {cpu:.2f} % of a core")
print(f"  task ls: {float(ls) * 1000:.0f} ms")
PY
  ;;
esac
