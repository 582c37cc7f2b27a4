#!/usr/bin/env python3
"""bench/compare.py's pairing of rounds (scripts/bench_compare.sh --rounds):
the i-th row of a benchmark in one file goes with the i-th in the other, and
the ratio printed is the median of the per-round ratios, not the ratio of
the medians. Run by CTest as test_bench_compare."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

COMPARE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "compare.py")


def write(path, rows):
    with open(path, "w") as f:
        f.write("a line that is not JSON, as the benchmarks' logs have\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")


def row(bench, ms, **extra):
    return dict(bench=bench, device="cpu", median_ms=ms, **extra)


def compare(ours, theirs=None):
    with tempfile.TemporaryDirectory() as d:
        o, t = os.path.join(d, "ours.jsonl"), os.path.join(d, "torch.jsonl")
        write(o, ours)
        args = [sys.executable, COMPARE, o]
        if theirs is not None:
            write(t, theirs)
            args.append(t)
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return {line.split()[0]: line for line in out.splitlines()[1:]}


class Rounds(unittest.TestCase):
    def test_median_of_paired_ratios(self):
        # A drifting host: ours 10, 20, 40 ms, theirs 25, 40, 40; per round
        # 2.5, 2.0, 1.0.
        lines = compare([row("step", 10), row("step", 20), row("step", 40)],
                        [row("step", 25), row("step", 40), row("step", 40)])
        fields = lines["step"].split()
        self.assertEqual(fields[2], "20.000")  # median of ours
        self.assertEqual(fields[3], "40.000")  # median of theirs
        self.assertEqual(fields[4], "2.00")
        self.assertIn("(1.00-2.50, 3 rounds)", lines["step"])

    def test_pairs_by_round_not_by_value(self):
        # Per round 3.0, 1.0, 1.5, 3.0: median 2.25. The ratio of the
        # medians would be 30 / 25 = 1.2.
        lines = compare([row("s", 10), row("s", 30), row("s", 20), row("s", 40)],
                        [row("s", 30), row("s", 30), row("s", 30), row("s", 120)])
        self.assertEqual(lines["s"].split()[4], "2.25")

    def test_one_round_and_missing_baseline(self):
        lines = compare([row("a", 4, gflop_per_s=5.0), row("b", 2)], [row("a", 8)])
        self.assertEqual(lines["a"].split()[4], "2.00")
        self.assertNotIn("rounds)", lines["a"])
        self.assertIn("5.0 GFLOP/s", lines["a"])
        self.assertEqual(lines["b"].split()[3:5], ["-", "-"])
        lines = compare([row("a", 4)])
        self.assertEqual(lines["a"].split()[3:5], ["-", "-"])

    def test_compile_variant_beside_eager(self):
        lines = compare([row("a", 4)], [row("a", 8), dict(row("a", 2), variant="compile")])
        fields = lines["a"].split()
        self.assertEqual(fields[4], "2.00")
        self.assertEqual(fields[5:7], ["2.000", "0.50"])


if __name__ == "__main__":
    unittest.main()
