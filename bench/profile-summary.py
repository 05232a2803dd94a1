"""Summarize an ONNX Runtime profile (chrome-trace JSON written when LORA_STUDIO_PROFILE=prefix):
time per op type and the slowest nodes, per run.
    LORA_STUDIO_PROFILE=/tmp/p node --import tsx bench/train-step-one.ts small lora 4
    python3 bench/profile-summary.py /tmp/p*.json RUNS
"""
import collections, json, sys

ev = json.load(open(sys.argv[1]))
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
by_op, count, by_node = collections.Counter(), collections.Counter(), {}
for e in ev:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        op = e["args"].get("op_name")
        by_op[op] += e["dur"]
        count[op] += 1
        t, _, shp = by_node.get(e["name"], (0, op, None))
        by_node[e["name"]] = (t + e["dur"], op, e["args"].get("input_type_shape"))
total = sum(by_op.values())
print(f"kernel time per run: {total / runs / 1000:.1f} ms")
for op, d in by_op.most_common(20):
    print(f"  {op:26s} {d / runs / 1000:9.1f} ms  {100 * d / total:5.1f}%  nodes {count[op] // runs}")
print("slowest nodes:")
for name, (d, op, shp) in sorted(by_node.items(), key=lambda kv: -kv[1][0])[:15]:
    print(f"  {d / runs / 1000:8.1f} ms  {op:14s} {json.dumps(shp)[:110]}")
