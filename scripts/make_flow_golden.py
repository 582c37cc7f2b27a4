#!/usr/bin/python3
"""Golden files for the flow (tests/test_flow_io.cpp), computed by PyTorch.

A small DifferNet flow (16 features, hidden 32, 2 blocks, alpha 3), written
here as a plain PyTorch module that follows docs/flow.md and the published
DifferNet code (FrEIA glow_coupling_layer), independently of our C++ code:

    tests/fixtures/flow/golden_flow.safetensors  the flow, in our flow-file layout
                                                 (flow/flow_io.h), float64
    tests/fixtures/flow/golden_io.safetensors    input y [5, 16], z, log_jac_det,
                                                 the NLL (paper eq. 4) and its
                                                 gradient with respect to y; and
                                                 the same with the suffix
                                                 "_clamp" for large inputs whose
                                                 coupling outputs reach the hard
                                                 clamp (|y1| > 1e6: subnet1 reads
                                                 the unclamped y1, only the block
                                                 output is clamped)

The safetensors format is written and read by hand (struct + json), so the
script needs only torch and numpy:  /usr/bin/python3 scripts/make_flow_golden.py
`load_flow_file` also shows how any flow file maps onto the PyTorch module.
"""
import json
import os
import struct

import numpy as np
import torch
from torch import nn

DIMS, HIDDEN, BLOCKS, ALPHA, BATCH = 16, 32, 2, 3.0, 5
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "flow")


def subnet(size_in, size_out, hidden):
    # Sequential indices 0, 2, 4, 6 are the Linear layers (the names in the file).
    return nn.Sequential(nn.Linear(size_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, size_out))


class CouplingBlock(nn.Module):
    """Permutation, then GLOW affine coupling with soft clamp (paper eqs. 1, 2)."""

    def __init__(self, dims, hidden, alpha, perm):
        super().__init__()
        self.half, self.alpha = dims // 2, alpha
        self.register_buffer("perm", torch.as_tensor(perm, dtype=torch.int64))
        self.subnet1 = subnet(self.half, 2 * self.half, hidden)  # reads y1, gives s1 | t1
        self.subnet2 = subnet(self.half, 2 * self.half, hidden)  # reads x2, gives s2 | t2

    def log_e(self, s):
        return self.alpha * 0.636 * torch.atan(s / self.alpha)

    def forward(self, x, clamp_y1_early=False):
        """Returns the block output, its log-det and the pre-clamp [y1, y2].
        clamp_y1_early feeds subnet1 the clamped y1 (not the published code:
        only to check that the clamp case tells the two formulations apart)."""
        x = x[:, self.perm]
        h = self.half
        x1, x2 = x[:, :h], x[:, h:]
        r2 = self.subnet2(x2)
        s2, t2 = r2[:, :h], r2[:, h:]
        y1 = torch.exp(self.log_e(s2)) * x1 + t2
        r1 = self.subnet1(torch.clamp(y1, -1e6, 1e6) if clamp_y1_early else y1)
        s1, t1 = r1[:, :h], r1[:, h:]
        y2 = torch.exp(self.log_e(s1)) * x2 + t1
        y = torch.clamp(torch.cat([y1, y2], 1), -1e6, 1e6)  # published code: only the block output is clamped
        return y, self.log_e(s1).sum(1) + self.log_e(s2).sum(1), torch.cat([y1, y2], 1)


class Flow(nn.Module):
    def __init__(self, dims, hidden, blocks, alpha, perms):
        super().__init__()
        self.blocks = nn.ModuleList(CouplingBlock(dims, hidden, alpha, perms[k]) for k in range(blocks))

    def forward(self, y, clamp_y1_early=False):
        log_jac_det = torch.zeros(y.shape[0], dtype=y.dtype)
        self.pre_clamp = []  # every block's [y1, y2] before the clamp
        for block in self.blocks:
            y, ld, pre = block(y, clamp_y1_early)
            self.pre_clamp.append(pre.detach())
            log_jac_det = log_jac_det + ld
        return y, log_jac_det


def nll_loss(z, log_jac_det):
    # paper eq. 4
    return torch.mean(0.5 * torch.sum(z ** 2, 1) - log_jac_det) / z.shape[1]


# ---- safetensors by hand ----
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
TORCH_DTYPES = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        array = t.detach().contiguous().numpy()
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = TORCH_DTYPES[info["dtype"]]
        array = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=torch.empty(0, dtype=dtype).numpy().dtype)
        tensors[name] = torch.from_numpy(array.copy()).reshape(info["shape"])
    return tensors, metadata


def load_flow_file(path):
    """Any flow file (ours or this script's) as the PyTorch module above."""
    tensors, meta = read_safetensors(path)
    dims, hidden, blocks, alpha = int(meta["dims"]), int(meta["hidden"]), int(meta["blocks"]), float(meta["alpha"])
    perms = [tensors[f"flow.{k}.perm"] for k in range(blocks)]
    flow = Flow(dims, hidden, blocks, alpha, perms).double()
    # "flow.<k>.subnet1.<i>.weight" -> flow.blocks[k].subnet1[i].weight
    state = {"blocks." + name[len("flow."):]: t for name, t in tensors.items()}
    flow.load_state_dict(state, strict=True)
    return flow


def main():
    torch.manual_seed(0)
    # Permutations from NumPy (as the published code draws them); the file
    # stores them, so readers need not reproduce the generator.
    perms = [np.random.RandomState(k).permutation(DIMS) for k in range(BLOCKS)]
    flow = Flow(DIMS, HIDDEN, BLOCKS, ALPHA, perms).double()
    y = (1.5 * torch.randn(BATCH, DIMS, dtype=torch.float64)).requires_grad_(True)
    z, log_jac_det = flow(y)
    loss = nll_loss(z, log_jac_det)
    loss.backward()
    assert all(p.abs().max() < 1e6 for p in flow.pre_clamp)  # the ordinary case stays inside the clamp

    # Inputs large enough that coupling outputs pass the hard clamp.
    y_clamp = (1.5e4 * torch.randn(BATCH, DIMS, dtype=torch.float64)).requires_grad_(True)
    z_clamp, log_jac_det_clamp = flow(y_clamp)
    loss_clamp = nll_loss(z_clamp, log_jac_det_clamp)
    loss_clamp.backward()
    pre = torch.cat(flow.pre_clamp, 1).abs()
    clamped = int((pre > 1e6).sum())
    # Some values clamp; none lies within 2% of the bound, so float32 puts every value on the same side.
    assert clamped > 0 and not bool(((pre > 0.98e6) & (pre < 1.02e6)).any())
    with torch.no_grad():
        z_early, log_jac_det_early = flow(y_clamp.detach(), clamp_y1_early=True)
    z_gap = float((z_early - z_clamp).abs().max())
    ld_gap = float((log_jac_det_early - log_jac_det_clamp).abs().max())
    assert z_gap > 1e3 and ld_gap > 1, "the clamp case must tell the two formulations apart"

    os.makedirs(OUT_DIR, exist_ok=True)
    tensors = {}
    for k, block in enumerate(flow.blocks):
        tensors[f"flow.{k}.perm"] = block.perm
        for name, p in block.named_parameters():
            tensors[f"flow.{k}.{name}"] = p
    meta = {"format": "differnet-flow", "dims": str(DIMS), "hidden": str(HIDDEN), "blocks": str(BLOCKS),
            "alpha": repr(ALPHA), "source": "scripts/make_flow_golden.py, torch " + torch.__version__}
    flow_path = os.path.join(OUT_DIR, "golden_flow.safetensors")
    write_safetensors(flow_path, tensors, meta)
    write_safetensors(os.path.join(OUT_DIR, "golden_io.safetensors"),
                      {"y": y.detach(), "z": z.detach(), "log_jac_det": log_jac_det.detach(),
                       "nll": loss.detach().reshape(1), "grad_y": y.grad,
                       "y_clamp": y_clamp.detach(), "z_clamp": z_clamp.detach(),
                       "log_jac_det_clamp": log_jac_det_clamp.detach(), "nll_clamp": loss_clamp.detach().reshape(1),
                       "grad_y_clamp": y_clamp.grad},
                      {"source": "scripts/make_flow_golden.py"})

    # The file alone defines the flow: reading it back gives the same outputs.
    z2, ld2 = load_flow_file(flow_path)(y.detach())
    assert torch.equal(z2, z.detach()) and torch.equal(ld2, log_jac_det.detach())
    print(f"wrote {flow_path}: nll {loss.item():.12f}, log_jac_det {log_jac_det.detach().numpy()}")
    print(f"clamp case: {clamped} of {pre.numel()} coupling outputs clamped; clamping y1 before subnet1 "
          f"would change z by up to {z_gap:.3g} and the log-det by up to {ld_gap:.3g}")


if __name__ == "__main__":
    main()
