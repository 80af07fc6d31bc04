#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts dockerd when `docker info` fails, installing
# Debian's docker.io first when there is no dockerd. Needs root to install or start.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "installing docker.io (dockerd)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
log=${AGENTDOCK_DOCKERD_LOG:-/var/log/agentdock-dockerd.log}
echo "starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then echo "engine up"; exit 0; fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $log" >&2
exit 1
