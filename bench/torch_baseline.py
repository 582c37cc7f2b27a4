#!/usr/bin/env python3
"""PyTorch (eager) baselines of differnet_bench's benchmarks: linear_fwd_bwd,
adam_step, the three-scale AlexNet features (and its five convolutions one by
one), one training epoch and one evaluation of the pipeline, and
flow_train_step: the paper's
flow (8 blocks, 768 features, hidden 2048, 172M parameters), batch 96,
forward + NLL (paper eq. 4) + backward + Adam (lr 2e-4, betas 0.8, eps 1e-4,
weight decay 1e-5). The flow module is scripts/make_flow_golden.py's.
Prints one JSON line per benchmark, in differnet_bench's format:
    {"bench": "flow_train_step", "device": "cpu", "median_ms": X, "impl": "torch", ...}
Compare:  bench/compare.py ours.jsonl torch.jsonl

    python3 bench/torch_baseline.py [--device cpu|cuda] [--repeats 5] [--warmup 1] [--quick] [--compile auto|off]
Where torch.compile exists (PyTorch 2), the flow step and the three-scale
features get a second row with "variant": "compile".
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_flow_golden import Flow, nll_loss  # noqa: E402


def compiled(module, args):
    """The module itself, or torch.compile(module) for the "compile" rows."""
    return torch.compile(module) if getattr(args, "compile_rows", False) else module


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
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats}


def flow_train_step(args):
    dims, hidden, blocks, batch = 768, 256 if args.quick else 2048, 8, 96
    torch.manual_seed(0)
    perms = [np.random.RandomState(k).permutation(dims) for k in range(blocks)]
    flow = Flow(dims, hidden, blocks, 3.0, perms).to(args.device)
    optimizer = torch.optim.Adam(flow.parameters(), lr=2e-4, betas=(0.8, 0.8), eps=1e-4, weight_decay=1e-5)
    y = torch.randn(batch, dims, device=args.device)
    forward = compiled(flow, args)

    def step():
        optimizer.zero_grad()
        z, log_jac_det = forward(y)
        nll_loss(z, log_jac_det).backward()
        optimizer.step()

    times = measure(step, args.device, args.warmup, args.repeats)
    params = sum(p.numel() for p in flow.parameters())
    return {"batch": batch, "hidden": hidden, "parameters": params, **times}


def linear_fwd_bwd(args):
    """One Linear(2048, 2048) of a subnet at batch 96: forward, then the input,
    weight and bias gradients (differnet_bench's linear_fwd_bwd)."""
    torch.manual_seed(0)
    x = torch.randn(96, 2048, device=args.device, requires_grad=True)
    w = (0.02 * torch.randn(2048, 2048, device=args.device)).requires_grad_()
    b = (0.02 * torch.randn(2048, device=args.device)).requires_grad_()

    def step():
        torch.nn.functional.linear(x, w, b).sum().backward()

    return {"batch": 96, "in_features": 2048, "out_features": 2048, **measure(step, args.device, args.warmup, args.repeats)}


def adam_step(args):
    """torch.optim.Adam's step over one 172M-element float32 parameter (fused
    where this PyTorch has it; foreach otherwise), DifferNet's settings."""
    n = 8_000_000 if args.quick else 172_000_000
    p = torch.nn.Parameter(0.02 * torch.randn(n, device=args.device))
    p.grad = 0.01 * torch.randn(n, device=args.device)
    kwargs = dict(lr=2e-4, betas=(0.8, 0.8), eps=1e-4, weight_decay=1e-5)
    variant = "default"
    if args.device == "cuda":
        try:
            optimizer = torch.optim.Adam([p], fused=True, **kwargs)
            variant = "fused"
        except (TypeError, RuntimeError):
            optimizer = torch.optim.Adam([p], **kwargs)
    else:
        optimizer = torch.optim.Adam([p], **kwargs)
    times = measure(optimizer.step, args.device, args.warmup, args.repeats)
    return {"parameters": n, "torch_variant": variant, **times}


def three_scale_features(features, x):
    """DifferNet's extractor: the input and its nearest-neighbour resizes to 1/2
    and 1/4, each through AlexNet `features`, globally average-pooled, concatenated."""
    import torch.nn.functional as F
    out = []
    for k in range(3):
        scaled = x if k == 0 else F.interpolate(x, size=(x.shape[2] >> k, x.shape[3] >> k))
        out.append(features(scaled).mean(dim=(2, 3)))
    return torch.cat(out, 1)


# AlexNet's convolutions at the 448-pixel scale: (in, out, kernel, stride, padding, input size).
ALEXNET_LAYERS = [(3, 64, 11, 4, 2, 448), (64, 192, 5, 1, 2, 55), (192, 384, 3, 1, 1, 27), (384, 256, 3, 1, 1, 27),
                  (256, 256, 3, 1, 1, 27)]


def alexnet_layer(index, input_gradient):
    """One convolution + ReLU of AlexNet at 448 px, as differnet_bench's
    alexnet_convN_fwd[_input_grad] (batch as alexnet3)."""
    def run(args):
        import torch.nn.functional as F
        cin, cout, k, s, p, size = ALEXNET_LAYERS[index]
        batch = int(os.environ.get("DIFFERNET_BENCH_BACKBONE_BATCH", 2 if args.quick else 96))
        torch.manual_seed(1)
        x = torch.randn(batch, cin, size, size, device=args.device, requires_grad=input_gradient)
        w = 0.05 * torch.randn(cout, cin, k, k, device=args.device)
        b = torch.randn(cout, device=args.device)
        o = (size + 2 * p - k) // s + 1
        gy = torch.randn(batch, cout, o, o, device=args.device)

        def step():
            if input_gradient:
                x.grad = None
                F.relu(F.conv2d(x, w, b, s, p)).backward(gy)
            else:
                with torch.no_grad():
                    F.relu(F.conv2d(x, w, b, s, p))
        return {"batch": batch, "layer": index + 1, **measure(step, args.device, args.warmup, args.repeats)}
    return run


def alexnet3(input_gradient):
    """Three-scale torchvision AlexNet features (random weights, frozen) of a
    batch at 448: forward under no_grad, or forward + backward of
    sum(features * w) to the input pixels. differnet_bench's batch: 96, 2 with
    --quick, or DIFFERNET_BENCH_BACKBONE_BATCH."""
    def run(args):
        import torchvision  # only when asked
        batch = int(os.environ.get("DIFFERNET_BENCH_BACKBONE_BATCH", 2 if args.quick else 96))
        torch.manual_seed(0)
        features = torchvision.models.alexnet().features.to(args.device).eval()
        for p in features.parameters():
            p.requires_grad_(False)
        x = torch.randn(batch, 3, 448, 448, device=args.device, requires_grad=input_gradient)
        w = torch.randn(batch, 768, device=args.device)
        features = compiled(features, args)

        def step():
            if input_gradient:
                x.grad = None
                (three_scale_features(features, x) * w).sum().backward()
            else:
                with torch.no_grad():
                    three_scale_features(features, x)

        return {"batch": batch, "image_size": 448, **measure(step, args.device, args.warmup, args.repeats)}
    return run


def rotated_batch(images, angles_deg):
    """Each uint8 image [N, 3, S, S] rotated by its angle (bilinear, zero
    outside) and ImageNet-normalised: one affine_grid + grid_sample for the
    batch, the eager-PyTorch way to do what data/batch.h's fused kernel does."""
    import math
    import torch.nn.functional as F
    x = images.float() / 255.0
    a = torch.tensor([math.radians(v) for v in angles_deg], device=images.device)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406], device=images.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=images.device).view(1, 3, 1, 1)
    return (x - mean) / std


def pipeline_parts(args, images):
    """differnet_bench's pipeline setup: random uint8 images on the device, a
    frozen AlexNet with random weights, the paper's flow (hidden 256 and 256 px with --quick)."""
    import torchvision
    size, hidden = (256, 256) if args.quick else (448, 2048)
    torch.manual_seed(0)
    cache = torch.randint(0, 256, (images, 3, size, size), dtype=torch.uint8, device=args.device)
    features = torchvision.models.alexnet().features.to(args.device).eval()
    for p in features.parameters():
        p.requires_grad_(False)
    perms = [np.random.RandomState(k).permutation(768) for k in range(8)]
    flow = Flow(768, hidden, 8, 3.0, perms).to(args.device)
    return size, hidden, cache, features, flow


def train_epoch(args):
    """One epoch of an MVTec-sized category (250 images; 24 with --quick): per
    batch of 24 images x 4 random rotations, the transform, the three-scale
    features (no grad), the flow's NLL (paper eq. 4), backward and Adam."""
    images, batch, transforms = (24 if args.quick else 250), 24, 4
    size, hidden, cache, features, flow = pipeline_parts(args, images)
    optimizer = torch.optim.Adam(flow.parameters(), lr=2e-4, betas=(0.8, 0.8), eps=1e-4, weight_decay=1e-5)
    rng = np.random.RandomState(0)

    def epoch():
        for start in range(0, images, batch):
            rows = torch.arange(start, min(images, start + batch), device=args.device).repeat_interleave(transforms)
            x = rotated_batch(cache[rows], rng.uniform(0, 360, len(rows)).tolist())
            with torch.no_grad():
                y = three_scale_features(features, x)
            optimizer.zero_grad()
            z, log_jac_det = flow(y)
            nll_loss(z, log_jac_det).backward()
            optimizer.step()

    times = measure(epoch, args.device, args.warmup, 1)
    return {"images": images, "batch": batch * transforms, "image_size": size, "hidden": hidden, **times}


def evaluation(args):
    """One evaluation: 120 test images (8 with --quick) x 64 fixed rotations (8),
    features in batches of 256 image-transforms, the flow, and the anomaly score
    (paper eq. 5: the mean of z^2 over the transforms and the features)."""
    images, transforms = (8, 8) if args.quick else (120, 64)
    size, hidden, cache, features, flow = pipeline_parts(args, images)
    angles = [360.0 * t / transforms for t in range(transforms)]
    pairs = [(i, a) for i in range(images) for a in angles]

    def run():
        with torch.no_grad():
            zs = []
            for start in range(0, len(pairs), 256):
                chunk = pairs[start:start + 256]
                rows = torch.tensor([i for i, _ in chunk], device=args.device)
                x = rotated_batch(cache[rows], [a for _, a in chunk])
                z, _ = flow(three_scale_features(features, x))
                zs.append(z)
            z = torch.cat(zs).view(images, transforms, -1)
            return (z ** 2).mean(dim=(1, 2))

    times = measure(run, args.device, args.warmup, 1)
    return {"images": images, "transforms": transforms, "image_size": size,
            "image_transforms_per_s": images * transforms / (times["median_ms"] / 1e3), **times}


# Benchmarks that also get a torch.compile row (variant "compile") where this
# PyTorch has torch.compile (2.0 and later) and compiling works on the device.
COMPILABLE = {"flow_train_step", "alexnet3_features_fwd", "alexnet3_features_fwd_input_grad"}

BENCHMARKS = {"linear_fwd_bwd": linear_fwd_bwd,
              "adam_step": adam_step,
              "flow_train_step": flow_train_step,
              "train_epoch": train_epoch,
              "evaluation": evaluation,
              "alexnet3_features_fwd": alexnet3(False),
              "alexnet3_features_fwd_input_grad": alexnet3(True),
              **{f"alexnet_conv{i + 1}_fwd": alexnet_layer(i, False) for i in range(5)},
              **{f"alexnet_conv{i + 1}_fwd_input_grad": alexnet_layer(i, True) for i in range(5)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--filter", default="")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--compile", choices=["auto", "off"], default="auto",
                        help="auto: a second row with torch.compile for %s where available" % ", ".join(sorted(COMPILABLE)))
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    exact = args.filter in BENCHMARKS  # a whole name selects that benchmark only, as in differnet_bench
    for name, bench in BENCHMARKS.items():
        if (name != args.filter) if exact else (args.filter not in name):
            continue
        result = bench(args)
        line = {"bench": name, "device": args.device, "impl": "torch", "median_ms": result.pop("median_ms"),
                "torch": torch.__version__, "threads": torch.get_num_threads(), **result}
        print(json.dumps(line), flush=True)
        if name in COMPILABLE and args.compile == "auto" and hasattr(torch, "compile"):
            # Compilation happens in the first calls: at least two untimed ones.
            compile_args = argparse.Namespace(**{**vars(args), "compile_rows": True, "warmup": max(args.warmup, 2)})
            try:
                result = bench(compile_args)
            except Exception as e:  # noqa: BLE001 -- a backend that cannot compile here: say so, keep going
                print(f"torch_baseline: torch.compile row of {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            line = {"bench": name, "device": args.device, "impl": "torch", "variant": "compile",
                    "median_ms": result.pop("median_ms"), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), **result}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
