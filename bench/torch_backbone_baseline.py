#!/usr/bin/python3
"""PyTorch (eager) baseline of differnet_bench's backbone benchmarks: torchvision
AlexNet `features` (random weights, frozen) on three scales of a batch of
448x448 images (the input and its nearest-neighbour resizes to 224 and 112),
global average pool per scale, concatenated:
  alexnet3_features_fwd              forward under torch.no_grad()
  alexnet3_features_fwd_input_grad   forward + backward of sum(features * w) to the input pixels
Prints one JSON line per benchmark in differnet_bench's format:
    {"bench": NAME, "device": "cpu", "median_ms": X, "impl": "torch", "batch": N, ...}

    /usr/bin/python3 bench/torch_backbone_baseline.py [--device cpu|cuda] [--batch 96] [--repeats 5] [--warmup 1] [--threads N]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(fn, device, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def three_scale_features(features, x):
    out = []
    for k in range(3):
        scaled = x if k == 0 else F.interpolate(x, size=(x.shape[2] >> k, x.shape[3] >> k))
        out.append(features(scaled).mean(dim=(2, 3)))
    return torch.cat(out, 1)


def alexnet3(args, input_gradient):
    torch.manual_seed(0)
    features = torchvision.models.alexnet().features.to(args.device).eval()
    for p in features.parameters():
        p.requires_grad_(False)
    x = torch.randn(args.batch, 3, 448, 448, device=args.device)
    w = torch.randn(args.batch, 768, device=args.device)
    if input_gradient:
        x.requires_grad_(True)

        def step():
            x.grad = None
            (three_scale_features(features, x) * w).sum().backward()
    else:
        def step():
            with torch.no_grad():
                three_scale_features(features, x)

    return {"batch": args.batch, "image_size": 448, "median_ms": measure(step, args.device, args.warmup, args.repeats)}


BENCHMARKS = {
    "alexnet3_features_fwd": lambda args: alexnet3(args, False),
    "alexnet3_features_fwd_input_grad": lambda args: alexnet3(args, True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=int(os.environ.get("DIFFERNET_BENCH_BACKBONE_BATCH", 96)))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--filter", default="")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for name, bench in BENCHMARKS.items():
        if args.filter not in name:
            continue
        result = bench(args)
        line = {"bench": name, "device": args.device, "impl": "torch", "median_ms": result.pop("median_ms"),
                "torch": torch.__version__, "threads": torch.get_num_threads(), **result}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
