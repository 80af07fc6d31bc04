#!/bin/bash
# Keeps the container alive and starts the agent's tmux session (see agent-run.sh).
# One-shot modes (see --help): a task run (TASK / TASK_FILE set, or --task), --health-check,
# --version, --help.
set -u

usage() {
  cat <<'USAGE'
agentdock agent image entrypoint

  (no arguments)   long-running mode: keeps the container alive with the agent's tmux session
  --task           run one task headless (also when TASK or TASK_FILE is set): agentdock-task
  --health-check   run the health check, exit with its code
  --version        print the image's agentdock version and the Claude Code CLI version
  --help           this text

Task mode environment (agentdock-task --help has the details):
  TASK_FILE / TASK   the prompt (TASK_FILE wins)       TIMEOUT          seconds (default 300)
  REPO_URL, BRANCH   clone when /workspace has no .git MAX_OUTPUT_SIZE  bytes (default 10485760)
  TASK_BRANCH        default agentdock/task-$SESSION_ID SESSION_ID      task id (default random)
  BUNDLE_BASE        commit the host has already       MODEL            CLI --model
  PERMISSION_MODE    default bypassPermissions         LOG_LEVEL        DEBUG|INFO|WARN|ERROR
  TASK_DIR           outputs (default /agentdock/task): state, events.jsonl, stderr.log,
                     result.json, result.bundle
  exit codes: 0 succeeded, 1 failed, 3 output_capped, 124 timed_out, 130 cancelled
Long-running mode environment: AGENT_CMD (default claude), AGENT_SESSION (tmux session name),
  PROJECT_NAME; the API key / login come from $CLAUDE_CONFIG_DIR or ANTHROPIC_API_KEY.
USAGE
}

# secrets come as files: exported to what this script starts, nothing else (secrets.sh)
. /usr/local/lib/agentdock/secrets.sh

# bash as PID 1 drops a SIGTERM that has no trap: note one that comes before the exec below,
# so a task still ends "cancelled" (the runner writes state "running" once it handles signals)
cancelled=
trap 'cancelled=1' TERM INT HUP
run_task() {
  [ -n "$cancelled" ] && export AGENTDOCK_TASK_CANCELLED=1
  trap - TERM INT HUP
  exec /usr/local/bin/agentdock-task "$@"
}
case "${1:-}" in
  --task) shift; run_task "$@" ;;
  --health-check) exec /usr/local/bin/agentdock-healthcheck ;;
  --version)
    echo "agentdock $(cat /usr/local/share/agentdock/version 2>/dev/null || echo unknown)"
    claude --version
    exit $? ;;
  -h|--help) usage; exit 0 ;;
esac
if [ -n "${TASK:-}" ] || [ -n "${TASK_FILE:-}" ]; then
  run_task "$@"
fi
[ -n "$cancelled" ] && exit 0

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
