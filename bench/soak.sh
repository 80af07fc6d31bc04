#!/usr/bin/env bash
# Refresh soak with faults, figures printed (never asserted):
#   N containers (default 20), every one refreshed ROUNDS times (default 10), in turn, through a
#   unix-socket proxy to the engine (socat, started here) while faults are injected:
#   the proxy is cut for 1-2 s mid-refresh, the image tag is missing, the new container fails
#   its health check. Prints refreshes done, rollbacks (refused or rolled back), and containers
#   lost (a project left without exactly one running container: must be 0).
# Usage: bench/soak.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}; rounds=${2:-10}
command -v socat >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null; }
. bench/lib.sh
tag=agentdock/soak-$$:latest
bench_setup soak "image = \"$tag\""$'\nagent_command = "sleep infinity"\n[limits]\nmemory = "256m"\ncpus = 0.25\n[health]\ninterval_secs = 2\n[refresh]\nready_timeout_secs = 10'
bench_projects "$n" 's%d'

sock=$tmp/engine.sock
# the proxy runs in its own process group (setsid), whose id is kept in a file, so a cut from a
# background subshell and the cleanup both end exactly the processes started here
pgid_file=$tmp/proxy.pgid
start_proxy() {
  setsid socat "UNIX-LISTEN:$sock,fork" UNIX-CONNECT:/var/run/docker.sock </dev/null >/dev/null 2>&1 &
  echo $! > "$pgid_file"
  for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.02; done
}
stop_proxy() {
  [ -s "$pgid_file" ] && kill -- "-$(cat "$pgid_file")" 2>/dev/null
  : > "$pgid_file"; rm -f "$sock"
}
bench_extra_cleanup() {
  stop_proxy
  docker rmi "$tag" >/dev/null 2>&1 || true
}
: > "$pgid_file"
docker tag agentdock/agent:latest "$tag"
for i in $(seq 1 "$n"); do "$bin" up "s$i" >/dev/null; done
start_proxy

done_ok=0; rolled=0; lost=0; cuts=0; missing=0; unhealthy=0
declare -A codes=()
t0=$(date +%s)
for r in $(seq 1 "$rounds"); do
  for i in $(seq 1 "$n"); do
    fault=$(( RANDOM % 6 ))
    case $fault in
      0|1) # cut the engine connection mid-refresh, back after 1-2 s
        ( sleep "0.$(( RANDOM % 9 + 1 ))"; stop_proxy; sleep "1.$(( RANDOM % 10 ))"; start_proxy ) &
        cutter=$!; cuts=$((cuts+1)) ;;
      2) docker rmi "$tag" >/dev/null; missing=$((missing+1)) ;;
      3) mv "$HOME/projects/s$i/.git" "$HOME/projects/s$i/git-away"; unhealthy=$((unhealthy+1)) ;;
    esac
    code=0; DOCKER_HOST="unix://$sock" "$bin" refresh "s$i" >/dev/null 2>&1 || code=$?
    codes["fault $fault, exit $code"]=$(( ${codes["fault $fault, exit $code"]:-0} + 1 ))
    if [ "$code" = 0 ]; then done_ok=$((done_ok+1)); else rolled=$((rolled+1)); fi
    case $fault in
      0|1) wait "$cutter" 2>/dev/null || true; [ -S "$sock" ] || start_proxy ;;
      2) docker tag agentdock/agent:latest "$tag" ;;
      3) mv "$HOME/projects/s$i/git-away" "$HOME/projects/s$i/.git" ;;
    esac
    names=$(docker ps --filter "label=dev.agentdock.project=s$i" --filter status=running --format '{{.Names}}')
    all=$(docker ps -a --filter "label=dev.agentdock.project=s$i" --format '{{.Names}}' | wc -l)
    if [ "$names" != "agentdock-s$i" ] || [ "$all" != 1 ]; then
      lost=$((lost+1)); echo "round $r s$i: running=[$names] all=$all" >&2
      "$bin" up "s$i" >/dev/null 2>&1 || true   # put it right for the next round
    fi
  done
  echo "round $r: done $done_ok, rolled back or refused $rolled, lost $lost"
done
echo "containers:        $n, rounds: $rounds, refreshes tried: $((n * rounds)) in $(( $(date +%s) - t0 )) s"
echo "faults injected:   $cuts engine cuts, $missing missing images, $unhealthy failing health checks"
echo "refreshes done:    $done_ok"
echo "rollbacks:         $rolled (refused or rolled back)"
echo "containers lost:   $lost"
echo "by fault (0-1 engine cut, 2 image missing, 3 failing health, 4-5 none) and exit code:"
for k in "${!codes[@]}"; do echo "  $k: ${codes[$k]}"; done | sort
