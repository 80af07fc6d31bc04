# Shared by the benches (sourced): a release build, an isolated home, config and data dir,
# projects to work on, and on exit the removal of exactly what the bench made (by its label).

# bench_setup NAME CONFIG: CONFIG is TOML (top-level keys first); the bench label is added.
bench_setup() {
  if [ -n "${AGENTDOCK_BIN:-}" ]; then
    bin=$AGENTDOCK_BIN   # a build of your own (figures of the engine side need no release)
  else
    cargo build --release --locked --quiet
    bin=$PWD/target/release/agentdock
  fi
  bench_sweep
  run_id=$1$$
  tmp=$(mktemp -d "/tmp/agentdock-$1.XXXXXX")
  export HOME=$tmp/home AGENTDOCK_DATA_DIR=$tmp/data AGENTDOCK_CONFIG=$tmp/config.toml
  mkdir -p "$HOME/projects"
  printf '%s\n[labels]\n"dev.agentdock.bench" = "%s"\n' "$2" "$run_id" > "$AGENTDOCK_CONFIG"
  trap bench_cleanup EXIT
}

# bench_projects COUNT FORMAT: git projects named by printf FORMAT, owned by the container user.
bench_projects() {
  for i in $(seq 1 "$1"); do mkdir -p "$HOME/projects/$(printf "$2" "$i")/.git"; done
  chown -R 1000:1000 "$HOME/projects"
}

# bench_sweep: removes what an earlier bench left when it was killed before its EXIT trap ran
# (the agents' restart policy brings such a scene back with the engine, loading the machine):
# containers and networks whose bench label ends in the id of a process that is gone.
bench_sweep() {
  local label pid ids
  for label in $( { docker ps -a --filter label=dev.agentdock.bench --format '{{.Label "dev.agentdock.bench"}}'
                   docker network ls --filter label=dev.agentdock.bench --format '{{.Label "dev.agentdock.bench"}}'; } | sort -u); do
    pid=${label##*[!0-9]}
    [ -n "$pid" ] && [ ! -e "/proc/$pid" ] || continue
    echo "removing what bench run $label left behind" >&2
    bench_remove "$label"
  done
  return 0
}

# bench_remove RUN_ID: the containers, then the networks (each project's, the proxy's), of one
# bench run, by its label.
bench_remove() {
  local ids
  ids=$(docker ps -aq --filter "label=dev.agentdock.bench=$1")
  [ -n "$ids" ] && docker rm -f $ids >/dev/null
  ids=$(docker network ls -q --filter "label=dev.agentdock.bench=$1")
  [ -n "$ids" ] && docker network rm $ids >/dev/null
  return 0
}

bench_cleanup() {
  if declare -F bench_extra_cleanup >/dev/null; then bench_extra_cleanup; fi
  bench_remove "$run_id"
  rm -rf "$tmp"
}

# Figures from a process and a tmux screen (tmux server socket: $sock)
# ticks PID: its CPU time so far, in clock ticks (getconf CLK_TCK a second)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# the CPU time of its children it has waited for (git, say), in clock ticks
child_ticks() { awk '{print $16 + $17}' "/proc/$1/stat"; }
# milliseconds since the epoch
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# median and max of the numbers given
med_max() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %d ms, max %d ms", a[int((NR+1)/2)], a[NR]}'; }
# presses KEY and waits until the screen holds TEXT; prints the milliseconds
key_to_frame() {
  local s n=0; s=$(now_ms); tmux -L "$sock" send-keys "$1"
  until tmux -L "$sock" capture-pane -p | grep -qF -- "$2"; do
    sleep 0.002; n=$((n+1)); (( n > 2000 )) && { echo 99999; return; }
  done
  echo $(( $(now_ms) - s ))
}
