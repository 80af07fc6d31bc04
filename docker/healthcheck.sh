#!/bin/bash
# Health check of an agentdock container: workspace mounted and not full, agent CLI runnable.
set -u
use=$(df -P /workspace 2>/dev/null | awk 'NR==2 {gsub("%","",$5); print $5}')
if [ -z "$use" ]; then echo "ERROR: cannot read disk use of /workspace"; exit 1; fi
if [ "$use" -gt "${AGENTDOCK_DISK_MAX:-90}" ]; then echo "ERROR: /workspace disk use ${use}%"; exit 1; fi
# the project is mounted there (a git repository or not)
if ! awk '$5 == "/workspace" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
  echo "ERROR: /workspace is not mounted"; exit 1
fi
# the agent's command (its first word), as the project configures it
agent_cmd=${AGENT_CMD:-claude}
bin=${AGENT_BIN:-${agent_cmd%% *}}
if ! command -v "$bin" >/dev/null 2>&1; then echo "ERROR: agent CLI '$bin' not executable"; exit 1; fi
echo "OK: disk ${use}%, workspace mounted, $bin present"
