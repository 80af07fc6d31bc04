#!/usr/bin/env bash
# Opens the agentdock dashboard on the local engine, setting up on first use: the engine
# (dockerd, as root), the agent image (docker/build-image.sh, once) and the release build.
# Arguments go to agentdock: ./run.sh ls, ./run.sh up myproject, ...
set -euo pipefail
cd "$(dirname "$0")"
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then docker/ensure-engine.sh; else
    echo "no Docker engine answers; start dockerd (or run this as root to have it started)" >&2; exit 3
  fi
fi
docker/build-image.sh --if-missing >&2
cargo build --release --locked --quiet
exec ./target/release/agentdock "$@"
