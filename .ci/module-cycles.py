#!/usr/bin/env python3
"""Reads `cargo modules dependencies --no-fns --no-traits --no-types --no-owns` (a graph of the
crate's modules and their `use` edges, in dot) on stdin and fails when the modules form a cycle.
With --depth N, modules are first merged into their ancestor N levels below the crate root
(depth 1: the top-level modules, so `domain::spec` counts as `domain`)."""
import re
import sys

depth = None
if len(sys.argv) == 3 and sys.argv[1] == "--depth":
    depth = int(sys.argv[2])

def node(path):
    parts = path.split("::")
    return "::".join(parts[: depth + 1]) if depth else path

edges = {}
for line in sys.stdin:
    m = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line)
    if not m:
        continue
    a, b = node(m.group(1)), node(m.group(2))
    if a != b and not b.startswith(a + "::") and not a.startswith(b + "::"):
        edges.setdefault(a, set()).add(b)

# depth-first search for a back edge; report the cycle it closes
state, stack, cycles = {}, [], []
def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(edges.get(n, ())):
        if state.get(m) == 1:
            cycles.append(stack[stack.index(m):] + [m])
        elif m not in state:
            visit(m)
    stack.pop()
    state[n] = 2
for n in sorted(edges):
    if n not in state:
        visit(n)
nodes = set(edges) | {b for bs in edges.values() for b in bs}
if cycles:
    for c in cycles:
        print("import cycle: " + " -> ".join(c))
    sys.exit(1)
print(f"no import cycle among {len(nodes)} modules ({sum(map(len, edges.values()))} use edges)")
