#!/usr/bin/env python3
"""Prints our benchmarks beside PyTorch's: one row per (bench, device), with
medians and the ratio torch/ours (> 1 means DifferNet is faster). PyTorch's
torch.compile rows (variant "compile") get their own columns beside eager.

    bench/compare.py OURS.jsonl [TORCH.jsonl]

A file may hold several rounds (scripts/bench_compare.sh --rounds): the i-th
row of a benchmark in one file is paired with the i-th in the other. Then
the medians printed are the medians of the rounds' medians, and the ratio is
the median of the per-round ratios, with their range and count after it.
Standard library only, so it runs wherever the benchmarks do."""
import json
import sys


def load(path):
    """{(bench, device, variant): [row of round 1, row of round 2, ...]}"""
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    key = (r["bench"], r["device"], r.get("variant", ""))
                    rows.setdefault(key, []).append(r)
    except FileNotFoundError:
        pass
    return rows


def median(values):
    v = sorted(values)
    n = len(v)
    return None if n == 0 else (v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2]))


def times(rows):
    return [r["median_ms"] for r in rows or []]


def paired_ratios(theirs, ours):
    """theirs_i / ours_i for the rounds both files have."""
    return [t / o for t, o in zip(times(theirs), times(ours)) if o and t]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ours = load(sys.argv[1])
    theirs = load(sys.argv[2]) if len(sys.argv) > 2 else {}
    # torch.compile rows sit beside the eager row of the same benchmark.
    compiled = {(b, d, ""): r for (b, d, v), r in theirs.items() if v == "compile"}
    theirs = {k: r for k, r in theirs.items() if k[2] != "compile"}
    fmt = lambda v: f"{v:10.3f}" if v is not None else f"{'-':>10}"
    rounds = max([len(v) for v in ours.values()] + [1])

    def ratio(t, o):
        r = paired_ratios(t, o)
        if not r:
            return f"{'-':>10}", ""
        spread = f" ({min(r):.2f}-{max(r):.2f}, {len(r)} rounds)" if len(r) > 1 else ""
        return f"{median(r):10.2f}", spread

    header = f"{'benchmark':<34} {'device':<6} {'ours ms':>10} {'torch ms':>10} {'torch/ours':>10}"
    if compiled:
        header += f" {'compile ms':>10} {'comp/ours':>10}"
    print(header + "  throughput" + (f"  (medians of {rounds} rounds)" if rounds > 1 else ""))
    for key in sorted(set(ours) | set(theirs) | set(compiled)):
        name = key[0] + (f"[{key[2]}]" if key[2] else "")
        o, t, c = ours.get(key), theirs.get(key), compiled.get(key)
        r, spread = ratio(t, o)
        line = f"{name:<34} {key[1]:<6} {fmt(median(times(o)))} {fmt(median(times(t)))} {r}"
        if compiled:
            line += f" {fmt(median(times(c)))} {ratio(c, o)[0]}"
        extra = ""
        last = o[-1] if o else None
        if last and "gflop_per_s" in last:
            extra = f"{median([x['gflop_per_s'] for x in o]):.1f} GFLOP/s"
        elif last and "gb_per_s" in last:
            extra = f"{median([x['gb_per_s'] for x in o]):.1f} GB/s"
        print(f"{line}  {extra}{spread}")

if __name__ == "__main__":
    main()
