# Sourced by the entrypoints. Secrets come as files (agentdock never puts them in the
# container's environment, where `docker inspect` shows them): each regular file of
# $AGENTDOCK_SECRETS_DIR whose name is a variable name is exported to the processes the
# entrypoint starts (the agent's session, a task's runner).
if [ -n "${AGENTDOCK_SECRETS_DIR:-}" ] && [ -d "$AGENTDOCK_SECRETS_DIR" ]; then
  for _f in "$AGENTDOCK_SECRETS_DIR"/*; do
    _name=${_f##*/}
    if [ -f "$_f" ] && [ ! -L "$_f" ] && [[ $_name =~ ^[A-Z_][A-Z0-9_]*$ ]]; then
      export "$_name=$(cat -- "$_f")"
    fi
  done
  unset _f _name
fi
if [ -n "${GITHUB_TOKEN:-}" ] && [ -z "${GIT_ASKPASS:-}" ]; then
  export GIT_ASKPASS=/usr/local/bin/git-askpass-helper
fi
