#!/bin/bash
# Keeps the container alive and starts the agent's tmux session (see agent-run.sh).
set -u
session=${AGENT_SESSION:-claude}
cd /workspace 2>/dev/null || cd "$HOME"

start_session() {
  tmux new-session -d -s "$session" -x 200 -y 50 -c /workspace /usr/local/bin/agentdock-agent-run 2>/dev/null
}
start_session

trap 'tmux kill-server 2>/dev/null; exit 0' TERM INT HUP
echo "agentdock: container for ${PROJECT_NAME:-?} ready; tmux session '$session' runs: ${AGENT_CMD:-claude}"
while :; do
  sleep 5 & wait $!
  # attach always finds the session: recreate it when it is gone
  tmux has-session -t "$session" 2>/dev/null || start_session
done
