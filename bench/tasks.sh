#!/usr/bin/env bash
# Task start, figures printed (never asserted): N times `agentdock task run PROJECT "hi" --detach`
# in the test image (agent image + the scripted model server, one text step), each after the last
# one ended, so every run is cold (no container or agent process kept ready). Per run, in ms
# after `task run` was invoked:
#   return  `task run --detach` returned
#   POST    the model server got the agent's first POST /v1/messages  <- the figure
# and where the time went:
#   host    agentdock's own steps (debug log, ms since tasks::start began; `enter` is the process
#           start, config and engine connection before it)
#   create, start   dockerd's container events
#   server  the test image's entrypoint started its model server (its log file born), and
#   up      the server listens (that log's last write): both are the test image's own steps
#   cli     the runner spawned the CLI (events.jsonl born)
#   hello   the CLI's first request (HEAD /api/hello), i.e. the CLI is up
# Medians and min/max at the end. The machine's other load shows: run it a few times.
# Usage: bench/tasks.sh [N=5]   (AGENTDOCK_BIN=path times that binary instead of the build's,
# e.g. an older build for a before/after on the same load)
# The fleet (bench/fleet.sh): bench/tasks.sh pool [N] | fleet [N=20] [POOL=4] | sweep [N=100]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in pool|fleet|sweep) exec bench/fleet.sh "$@" ;; esac
n=${1:-5}
# the agent image and the test image on it, built when missing (as .ci/run does)
docker/build-image.sh --if-missing >/dev/null
tests/fixtures/build-test-image.sh --if-missing >/dev/null
. bench/lib.sh
events_pid=
bench_extra_cleanup() { if [ -n "$events_pid" ]; then kill "$events_pid" 2>/dev/null || true; fi; }
bench_setup tbench $'image = "agentdock/agent-test:latest"\nenv_passthrough = ["MODEL_SCRIPT"]'
trap 'exit 130' INT TERM   # the EXIT trap (bench_cleanup) runs on Ctrl-C too
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

docker events --filter "label=dev.agentdock.bench=$run_id" --filter type=container \
  --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}' > "$tmp/docker-events" &
events_pid=$!
sleep 0.5   # docker events is listening

tasks=$AGENTDOCK_DATA_DIR/tasks
: > "$tmp/runs"
for i in $(seq 1 "$n"); do
  t0=$EPOCHREALTIME
  id=$("$bin" task run tbench "hi" --detach)
  t1=$EPOCHREALTIME
  # until it ended and its container is gone (the next run starts cold)
  for _ in $(seq 1 600); do
    st=$(cat "$tasks/$id/run/state" 2>/dev/null || true)
    case "$st" in ''|running) ;; *) [ -z "$(docker ps -aq --filter "name=agentdock-task-$id")" ] && break ;; esac
    sleep 0.1
  done
  btime() { stat -c '%.9W' "$tasks/$id/run/$1" 2>/dev/null || echo 0; }
  mtime() { stat -c '%.9Y' "$tasks/$id/run/$1" 2>/dev/null || echo 0; }
  echo "$id $t0 $t1 $(btime model-requests.server.log) $(mtime model-requests.server.log) $(btime events.jsonl) $st" >> "$tmp/runs"
  sleep 1
done
sleep 0.5

python3 - "$tmp/runs" "$tmp/docker-events" "$AGENTDOCK_DATA_DIR/agentdock.log" "$tasks" <<'PY'
import json, re, statistics, sys
runs_f, events_f, log_f, tasks = sys.argv[1:]
events = {}
for line in open(events_f):
    t, action, name = line.split()[:3]
    events.setdefault(name, {}).setdefault(action, int(t) / 1e9)
phases = {}
for line in open(log_f):
    m = re.search(r'start phases \(ms since ([\d.]+)\): (.*?)\s+task=(\S+)', line)
    if m:
        phases[m.group(3)] = (float(m.group(1)), [kv.split("=") for kv in m.group(2).split()])
rows, host_rows = [], []
for line in open(runs_f):
    tid, t0, t1, srv, up, cli, state = line.split()
    t0, t1, srv, up, cli = float(t0), float(t1), float(srv), float(up), float(cli)
    ms = lambda t: (t - t0) * 1000 if t else float("nan")
    hello = post = main = None
    try:
        for l in open(f"{tasks}/{tid}/run/model-requests.jsonl"):
            r = json.loads(l)
            if hello is None and r.get("method") in ("HEAD", "GET"):
                hello = r["time"]
            if r.get("method") == "POST" and r.get("path", "").startswith("/v1/messages") and "count_tokens" not in r["path"]:
                post = post or r["time"]
                if r.get("main") and main is None:
                    main = r["time"]
    except OSError:
        pass
    ev = events.get(f"agentdock-task-{tid}", {})
    row = {"return": ms(t1), "create": ms(ev.get("create")), "start": ms(ev.get("start")),
           "server": ms(srv), "up": ms(up), "cli": ms(cli), "hello": ms(hello), "POST": ms(post), "main": ms(main)}
    rows.append((tid, state, row))
    if tid in phases:
        h0, marks = phases[tid]
        host_rows.append(dict([("enter", ms(h0))] + [(k, float(v) + ms(h0)) for k, v in marks]))
cols = ["return", "create", "start", "server", "up", "cli", "hello", "POST", "main"]
cell = lambda v: f"{v:>8.0f}" if v == v else f"{'-':>8}"
print("ms after `task run` was invoked (main: the first POST with tools; hello: - when the CLI sent none)")
print(f"{'task':<16} {'state':<10}" + "".join(f"{c:>8}" for c in cols))
for tid, state, row in rows:
    print(f"{tid:<16} {state:<10}" + "".join(cell(row[c]) for c in cols))
hcols = list(dict.fromkeys(k for h in host_rows for k in h))
if host_rows:
    print("host steps: ms after `task run` when each ended (agentdock's debug log; some run side by side)")
    print(f"{'':<27}" + "".join(f" {c:>9}" for c in hcols))
    for h in host_rows:
        print(f"{'':<27}" + "".join(" " + cell(h.get(c, float('nan'))).rjust(9) for c in hcols))
def summary(name, vals):
    vals = [v for v in vals if v == v]
    if vals:
        print(f"  {name:<10} median {statistics.median(vals):6.0f}   min {min(vals):6.0f}   max {max(vals):6.0f}")
print("summary (ms after `task run`):")
for c in cols:
    summary(c, [r[c] for _, _, r in rows])
if host_rows:
    print("host steps:")
    for k in hcols:
        summary(k, [h.get(k, float("nan")) for h in host_rows])
PY
