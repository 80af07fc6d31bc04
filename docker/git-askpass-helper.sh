#!/bin/bash
# GIT_ASKPASS helper: answers git's HTTPS prompts with the token, never echoing it elsewhere:
# from $GITHUB_TOKEN, else from agentdock's secrets file (commands exec'd into the container
# do not have the entrypoint's environment).
case "${1:-}" in
  Username*) echo "x-access-token" ;;
  *)
    if [ -n "${GITHUB_TOKEN:-}" ]; then
      printf '%s\n' "$GITHUB_TOKEN"
    elif [ -f "${AGENTDOCK_SECRETS_DIR:-/run/agentdock/secrets}/GITHUB_TOKEN" ]; then
      cat -- "${AGENTDOCK_SECRETS_DIR:-/run/agentdock/secrets}/GITHUB_TOKEN"; echo
    fi ;;
esac
