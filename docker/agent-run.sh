#!/bin/bash
# Runs the agent command inside the tmux session. Its start and exit (with code) go to a status
# file in the mounted agent config dir, which the host reads without an exec. When the agent
# exits, a login shell takes its place so the session stays usable.
# Job control: the agent runs in its own process group in the foreground of the pane, so tmux
# reports it as the pane's current command.
set -m
status_dir="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/agentdock"
mkdir -p "$status_dir" 2>/dev/null
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# written by rename, so the host sees the change with one stat of the directory
say() { printf '%s\n' "$1" > "$status_dir/agent.tmp" 2>/dev/null && mv -f "$status_dir/agent.tmp" "$status_dir/agent"; }
say "started $(now)"
bash -lc "${AGENT_CMD:-claude}"
code=$?
say "exited $(now) $code"
echo
echo "[agentdock] the agent exited with code $code; this shell keeps the session open."
exec bash -l
