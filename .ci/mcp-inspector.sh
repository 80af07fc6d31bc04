#!/usr/bin/env bash
# agentdock mcp against a client nobody here wrote: the MCP Inspector's command-line mode
# (@modelcontextprotocol/inspector --cli) lists the tools and calls some over stdio.
# Usage: .ci/mcp-inspector.sh [BINARY]   (default target/debug/agentdock)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/debug/agentdock}")
version=2.12.0
prefix=target/mcp-inspector
if [ ! -x "$prefix/node_modules/.bin/mcp-inspector" ]; then
  command -v npm >/dev/null || { echo "mcp-inspector: npm is needed (apt-get install npm)" >&2; exit 1; }
  echo "installing @modelcontextprotocol/inspector@$version into $prefix"
  npm install --silent --no-audit --no-fund --prefix "$prefix" "@modelcontextprotocol/inspector@$version" >/dev/null
fi
inspector=$(realpath "$prefix/node_modules/.bin/mcp-inspector")
work=$(mktemp -d /tmp/agentdock-inspector.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home/projects/demo" "$work/data"
git -C "$work/home/projects/demo" init -q -b main
export HOME=$work/home AGENTDOCK_DATA_DIR=$work/data AGENTDOCK_CONFIG=$work/config.toml
printf '[mcp]\nallow_projects = ["nothing-else"]\n' >"$AGENTDOCK_CONFIG"
# the inspector hands the server only a few variables of its own: these go by -e
run() { "$inspector" --cli -e "HOME=$HOME" -e "AGENTDOCK_DATA_DIR=$AGENTDOCK_DATA_DIR" -e "AGENTDOCK_CONFIG=$AGENTDOCK_CONFIG" "$bin" mcp "$@"; }

run --method tools/list >"$work/tools.json"
python3 - "$work/tools.json" <<'PY'
import json, sys
tools = {t["name"]: t for t in json.load(open(sys.argv[1]))["tools"]}
want = ["projects_list", "task_run", "task_status", "task_wait", "task_result", "task_diff",
        "task_cancel", "exec", "file_read", "file_write", "file_list", "file_delete"]
missing = [w for w in want if w not in tools]
assert not missing, f"tools missing: {missing}"
for name in want:
    t = tools[name]
    assert t.get("description"), f"{name} has no description"
    assert t["inputSchema"]["type"] == "object", f"{name}: {t['inputSchema']}"
assert "prompt" in tools["task_run"]["inputSchema"]["required"]
print(f"mcp-inspector tools/list: {len(tools)} tools, each with a description and a schema")
PY

run --method tools/call --tool-name projects_list >"$work/projects.json"
python3 - "$work/projects.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r.get("isError") is False, r
assert r["structuredContent"] == {"projects": []}, r
print("mcp-inspector tools/call projects_list: none open (mcp.allow_projects)")
PY

# a refusal the caller can act on comes back as a tool error with its reason
run --method tools/call --tool-name task_run --tool-arg project=demo --tool-arg prompt=x >"$work/refused.json" || true
python3 - "$work/refused.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
assert "tool_is_error" in text or '"isError": true' in text, text
print("mcp-inspector tools/call task_run on a closed project: refused")
PY
run --method tools/call --tool-name task_run --tool-arg project=demo --tool-arg prompt=x --tool-arg bogus=1 >"$work/bogus.json" 2>&1 || true
grep -q 'unknown field\|tool_is_error' "$work/bogus.json" || { cat "$work/bogus.json"; exit 1; }
echo "mcp-inspector: ok"
