#!/usr/bin/env bash
# Benchmark of the egress proxy, figures printed (never asserted): `up` of an allowlist project
# (the first one makes the proxy and its network) against a `none` one, then the proxy's RSS and
# CPU while N allowlist agents (default 10) download over HTTPS through it for S seconds
# (default 30) from a server of the bench's own (files.test, on a network standing for the
# internet).
# Usage: bench/proxy.sh [N] [S]    Needs the engine, the agent image and the proxy image
# (docker/proxy/build.sh). AGENTDOCK_BIN=target/debug/agentdock skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
secs=${2:-30}
. bench/lib.sh
bench_setup proxy $'agent_command = "sleep infinity"\n[limits]\nmemory = "256m"\ncpus = 0.5\n[security]\nallow = ["files.test"]'
bench_projects "$n" 'p%d'
mkdir -p "$HOME/projects/quiet/.git" && chown -R 1000:1000 "$HOME/projects/quiet"
printf '[[project]]\npath = "%s"\nnetwork = "none"\n' "$HOME/projects/quiet" >> "$AGENTDOCK_CONFIG"
world=agentdock-bench-world-$run_id
server=agentdock-bench-files-$run_id
bench_extra_cleanup() { docker rm -f "$server" >/dev/null 2>&1 || true; docker network rm "$world" >/dev/null 2>&1 || true; }
ms() { date +%s%3N; }

echo "== up: none (baseline), allowlist making the proxy, allowlist with the proxy there"
t0=$(ms); "$bin" up quiet >/dev/null; echo "up none: $(( $(ms) - t0 )) ms"
t0=$(ms); "$bin" up p1 >/dev/null; echo "up allowlist, first (network, proxy made): $(( $(ms) - t0 )) ms"
t0=$(ms); "$bin" up p2 >/dev/null; echo "up allowlist, proxy running: $(( $(ms) - t0 )) ms"
for i in $(seq 3 "$n"); do "$bin" up "p$i" >/dev/null; done
proxy=$(docker ps -q --no-trunc --filter "label=dev.agentdock.bench=$run_id" --filter label=dev.agentdock.role=proxy)

# the outside world: a 64 MiB file over https
docker network create --internal --label "dev.agentdock.bench=$run_id" --subnet 198.18.200.0/24 "$world" >/dev/null
dir=$tmp/world; mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/k.pem" -out "$dir/c.pem" -days 1 -subj /CN=files.test 2>/dev/null
head -c 64M /dev/zero > "$dir/big"
cat > "$dir/s.py" <<'PY'
import http.server, ssl, os
os.chdir("/srv")
s = http.server.ThreadingHTTPServer(("0.0.0.0", 443), http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("/srv/c.pem", "/srv/k.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
chmod -R a+rX "$dir"
docker run -d --name "$server" --label "dev.agentdock.bench=$run_id" --user 0 --network "$world" --network-alias files.test \
  -v "$dir":/srv:ro --entrypoint python3 agentdock/agent:latest /srv/s.py >/dev/null
docker network connect "$world" "$proxy"
sleep 1

cg_mem=/sys/fs/cgroup/memory/docker/$proxy
cg_cpu=/sys/fs/cgroup/cpuacct/docker/$proxy
rss() { awk '$1 == "total_rss" {printf "%.1f", $2 / 1048576}' "$cg_mem/memory.stat"; }
echo "proxy idle: RSS $(rss) MiB"
echo "== $n agents downloading through the proxy for $secs s"
for i in $(seq 1 "$n"); do
  "$bin" exec "p$i" --sh "end=\$((SECONDS + $secs)); while [ \$SECONDS -lt \$end ]; do curl -sk -m $secs -o /dev/null -w '%{size_download}\n' https://files.test/big; done > /tmp/bytes 2>/dev/null" >/dev/null 2>&1 &
done
cpu0=$(cat "$cg_cpu/cpuacct.usage"); t0=$(ms); peak=0
while [ $(( $(ms) - t0 )) -lt $(( secs * 1000 )) ]; do
  r=$(rss); peak=$(awk -v a="$r" -v b="$peak" 'BEGIN {print (a > b) ? a : b}'); sleep 1
done
cpu1=$(cat "$cg_cpu/cpuacct.usage"); t1=$(ms)
wait
bytes=0
for i in $(seq 1 "$n"); do b=$("$bin" exec "p$i" --sh 'awk "{s+=\$1} END {print s+0}" /tmp/bytes'); bytes=$((bytes + ${b:-0})); done
echo "proxy while $n agents download: peak RSS $peak MiB, CPU $(awk -v c=$((cpu1 - cpu0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.1f", c / t / 1e4}') % of one core"
echo "downloaded: $((bytes / 1048576)) MiB in $secs s ($(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / 1048576 / s}') MiB/s over all agents)"
echo "proxy after: RSS $(rss) MiB"
