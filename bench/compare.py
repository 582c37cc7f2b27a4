#!/usr/bin/env python3
"""Prints our benchmarks beside PyTorch's: one row per (bench, device), with
medians and the ratio torch/ours (> 1 means DifferNet is faster). PyTorch's
torch.compile rows (variant "compile") get their own columns beside eager.

    bench/compare.py OURS.jsonl [TORCH.jsonl]
Standard library only, so it runs wherever the benchmarks do."""
import json
import sys


def load(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    key = (r["bench"], r["device"], r.get("variant", ""))
                    rows[key] = r
    except FileNotFoundError:
        pass
    return rows


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ours = load(sys.argv[1])
    theirs = load(sys.argv[2]) if len(sys.argv) > 2 else {}
    # torch.compile rows sit beside the eager row of the same benchmark.
    compiled = {(b, d, ""): r for (b, d, v), r in theirs.items() if v == "compile"}
    theirs = {k: r for k, r in theirs.items() if k[2] != "compile"}
    fmt = lambda v: f"{v:10.3f}" if v is not None else f"{'-':>10}"
    ratio = lambda t, o: f"{t / o:10.2f}" if o and t else f"{'-':>10}"
    header = f"{'benchmark':<34} {'device':<6} {'ours ms':>10} {'torch ms':>10} {'torch/ours':>10}"
    if compiled:
        header += f" {'compile ms':>10} {'comp/ours':>10}"
    print(header + "  throughput")
    for key in sorted(set(ours) | set(theirs) | set(compiled)):
        name = key[0] + (f"[{key[2]}]" if key[2] else "")
        o, t, c = ours.get(key), theirs.get(key), compiled.get(key)
        om = o["median_ms"] if o else None
        tm = t["median_ms"] if t else None
        line = f"{name:<34} {key[1]:<6} {fmt(om)} {fmt(tm)} {ratio(tm, om)}"
        if compiled:
            cm = c["median_ms"] if c else None
            line += f" {fmt(cm)} {ratio(cm, om)}"
        extra = ""
        if o and "gflop_per_s" in o:
            extra = f"{o['gflop_per_s']:.1f} GFLOP/s"
        elif o and "gb_per_s" in o:
            extra = f"{o['gb_per_s']:.1f} GB/s"
        print(f"{line}  {extra}")


if __name__ == "__main__":
    main()
