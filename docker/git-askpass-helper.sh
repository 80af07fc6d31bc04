#!/bin/bash
# GIT_ASKPASS helper: answers git's HTTPS prompts from $GITHUB_TOKEN, never echoing it elsewhere.
case "${1:-}" in
  Username*) echo "x-access-token" ;;
  *) printf '%s\n' "${GITHUB_TOKEN:-}" ;;
esac
