#!/bin/bash
# Health check of agentdock's egress proxy: squid's process answers and its port accepts.
set -u
squid -k check -f /etc/squid/squid.conf >/dev/null 2>&1 || { echo "ERROR: squid is not running"; exit 1; }
if ! timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3128' 2>/dev/null; then echo "ERROR: port 3128 does not accept"; exit 1; fi
echo "OK: squid answers on 3128"
