#!/usr/bin/python3
"""Writes the PyTorch golden files of the backbone tests (tests/fixtures/backbone/).

Run with Debian's torch (CPU): /usr/bin/python3 scripts/make_backbone_golden.py [/work/shared]

small_net.safetensors: a small conv/pool network with random weights that uses
every op of the backbones (conv with stride, padding and bias, ReLU, max-pool
with and without ceil_mode and with padding, a Fire-like channel concat, global
average pool): its weights, input x, output y, the weights w of the loss
sum(y * w) and the input gradient grad_x of that loss.

squeezenet1_1_features.safetensors: torchvision SqueezeNet 1.1 `features` with
the ImageNet weights of <shared>/weights/squeezenet1_1-features.pth on one fixed
1x3x64x64 input: the input, the feature map, its global average, and the input
gradient of sum(pooled * w).

squeezenet1_1_extractor.safetensors: DifferNet's multi-scale extractor with that
backbone on one fixed 1x3x128x128 input, scales 128, 64, 32 (F.interpolate,
nearest): the input, the 3 x 512 = 1536 features, and the input gradient of
sum(features * w).

The files are written by hand (header JSON + raw little-endian float32), so the
safetensors package is not needed.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "backbone")


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


class SmallNet(nn.Module):
    """conv k11 s4 p2 -> ReLU -> max-pool k3 s2 ceil -> Fire(6; 4, 5, 5) -> max-pool k3 s2
    -> conv k3 p1 -> ReLU -> max-pool k2 s2 p1 ceil -> global average pool."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(3, 6, 11, stride=4, padding=2)
        self.squeeze = nn.Conv2d(6, 4, 1)
        self.expand1x1 = nn.Conv2d(4, 5, 1)
        self.expand3x3 = nn.Conv2d(4, 5, 3, padding=1)
        self.conv_c = nn.Conv2d(10, 8, 3, padding=1)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv_a(x)), 3, 2, ceil_mode=True)
        s = F.relu(self.squeeze(h))
        h = torch.cat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], 1)
        h = F.max_pool2d(h, 3, 2)
        h = F.max_pool2d(F.relu(self.conv_c(h)), 2, 2, padding=1, ceil_mode=True)
        return h.mean(dim=(2, 3))


def pattern(shape):
    """A fixed, smooth-but-varied input: the C++ test reads it from the file."""
    n, c, h, w = shape
    ii = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1)
    jj = torch.arange(w, dtype=torch.float64).view(1, 1, 1, w)
    cc = torch.arange(c, dtype=torch.float64).view(1, c, 1, 1)
    nn_ = torch.arange(n, dtype=torch.float64).view(n, 1, 1, 1)
    return (torch.sin(0.37 * ii * (cc + 1) + 0.11 * jj + nn_) + 0.5 * torch.cos(0.23 * jj * (cc + 2) - 0.05 * ii)).float()


def small_net():
    torch.manual_seed(1234)
    net = SmallNet()
    x = torch.randn(2, 3, 47, 51).requires_grad_(True)
    y = net(x)
    w = torch.randn(y.shape)
    (y * w).sum().backward()
    tensors = {name: p for name, p in net.state_dict().items()}
    tensors.update({"x": x, "y": y, "w": w, "grad_x": x.grad})
    write_safetensors(os.path.join(OUT, "small_net.safetensors"), tensors,
                      {"torch": torch.__version__, "made_by": "scripts/make_backbone_golden.py"})
    print("small_net: y", tuple(y.shape))


def load_squeezenet(shared):
    path = os.path.join(shared, "weights", "squeezenet1_1-features.pth")
    features = torchvision.models.squeezenet1_1().features
    state = torch.load(path, map_location="cpu")
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in state.items()}
    features.load_state_dict(state)
    return features.eval()


def squeezenet(shared):
    features = load_squeezenet(shared)
    x = pattern((1, 3, 64, 64)).requires_grad_(True)
    fmap = features(x)
    pooled = fmap.mean(dim=(2, 3))
    torch.manual_seed(99)
    w = torch.randn(pooled.shape)
    (pooled * w).sum().backward()
    write_safetensors(os.path.join(OUT, "squeezenet1_1_features.safetensors"),
                      {"x": x, "feature_map": fmap, "pooled": pooled, "w": w, "grad_x": x.grad},
                      {"torch": torch.__version__, "torchvision": torchvision.__version__,
                       "weights": "squeezenet1_1-features.pth", "made_by": "scripts/make_backbone_golden.py"})
    print("squeezenet1_1: feature map", tuple(fmap.shape))


def squeezenet_extractor(shared):
    """The paper's extractor (implementation-facts.md): scales S, S/2, S/4 by nearest
    resize, backbone, global average pool, concatenated largest first."""
    features = load_squeezenet(shared)
    x = pattern((1, 3, 128, 128)).requires_grad_(True)
    pooled = []
    for k in range(3):
        scaled = x if k == 0 else F.interpolate(x, size=(128 >> k, 128 >> k))
        pooled.append(features(scaled).mean(dim=(2, 3)))
    out = torch.cat(pooled, 1)
    torch.manual_seed(7)
    w = torch.randn(out.shape)
    (out * w).sum().backward()
    write_safetensors(os.path.join(OUT, "squeezenet1_1_extractor.safetensors"),
                      {"x": x, "features": out, "w": w, "grad_x": x.grad},
                      {"torch": torch.__version__, "torchvision": torchvision.__version__,
                       "weights": "squeezenet1_1-features.pth", "made_by": "scripts/make_backbone_golden.py"})
    print("squeezenet1_1 extractor: features", tuple(out.shape))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    small_net()
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared")
    squeezenet(shared)
    squeezenet_extractor(shared)
