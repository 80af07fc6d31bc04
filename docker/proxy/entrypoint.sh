#!/bin/bash
# agentdock's egress proxy: squid in the foreground (one process), its config checked first.
#   --reload   (exec'd by agentdock) re-read /etc/squid/agentdock/networks.conf
set -u
conf=/etc/squid/squid.conf
if [ "${1:-}" = --reload ]; then
  out=$(squid -k parse -f "$conf" 2>&1) || { echo "$out" | grep -i -E "fatal|error" >&2; exit 1; }
  exec squid -k reconfigure -f "$conf"
fi
squid -k parse -f "$conf" >/dev/null 2>&1 || squid -k parse -f "$conf"
exec squid -N -f "$conf"
