#!/usr/bin/env python3
"""Prints our benchmarks beside PyTorch's: one row per (bench, device), with
medians and the ratio torch/ours (> 1 means DifferNet is faster).

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
    print(f"{'benchmark':<34} {'device':<6} {'ours ms':>10} {'torch ms':>10} {'torch/ours':>10}  throughput")
    for key in sorted(set(ours) | set(theirs)):
        name = key[0] + (f"[{key[2]}]" if key[2] else "")
        o, t = ours.get(key), theirs.get(key)
        om = o["median_ms"] if o else None
        tm = t["median_ms"] if t else None
        ratio = f"{tm / om:10.2f}" if om and tm else f"{'-':>10}"
        extra = ""
        if o and "gflop_per_s" in o:
            extra = f"{o['gflop_per_s']:.1f} GFLOP/s"
        elif o and "gb_per_s" in o:
            extra = f"{o['gb_per_s']:.1f} GB/s"
        fmt = lambda v: f"{v:10.3f}" if v is not None else f"{'-':>10}"
        print(f"{name:<34} {key[1]:<6} {fmt(om)} {fmt(tm)} {ratio}  {extra}")


if __name__ == "__main__":
    main()
