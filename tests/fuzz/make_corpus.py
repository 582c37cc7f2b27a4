#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Standard library only. The checkpoints are laid out byte by byte as torch.save
writes them (the same recipe as tests/fixtures/weights/craft.h); the images are
copies of small fixtures of tests/fixtures/data/. Run from anywhere:
    python3 tests/fuzz/make_corpus.py
"""
import json
import pathlib
import shutil
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FIXTURES = HERE.parent / "fixtures" / "data"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---- pickles (protocol 2) ----------------------------------------------------
PROTO, MARK, TUPLE, REDUCE, STOP, EMPTY_TUPLE, SETITEMS, FALSE = b"\x80\x02", b"(", b"t", b"R", b".", b")", b"u", b"\x89"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def int4(v):
    return b"J" + struct.pack("<i", v)


def int_tuple(values):
    return MARK + b"".join(int4(v) for v in values) + TUPLE


def state_dict_pickle(tensors, legacy):
    """tensors: (name, storage key, storage class, storage numel, offset, size, stride)."""
    p = PROTO + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK
    for name, key, cls, numel, offset, size, stride in tensors:
        p += ustr(name) + glob("torch._utils", "_rebuild_tensor_v2") + MARK
        p += MARK + ustr("storage") + glob("torch", cls) + ustr(key) + ustr("cpu") + int4(numel)
        p += (b"N" if legacy else b"") + TUPLE + b"Q"
        p += int4(offset) + int_tuple(size) + int_tuple(stride) + FALSE
        p += glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
    return p + SETITEMS + STOP


def legacy_checkpoint(state_pickle, storages):
    f = PROTO + b"\x8a\x0a" + bytes.fromhex("6cfc9c46f9206aa85019") + STOP
    f += PROTO + b"M" + struct.pack("<H", 1001) + STOP
    f += PROTO + b"}" + MARK + ustr("protocol_version") + b"M" + struct.pack("<H", 1001)
    f += ustr("little_endian") + b"\x88" + SETITEMS + STOP
    f += state_pickle
    f += PROTO + b"]" + MARK + b"".join(ustr(k) for k, _ in storages) + b"e" + STOP
    for _, data in storages:
        f += struct.pack("<q", len(data) // 4) + data
    return f


def zip_archive(entries):
    out, central = b"", b""
    for name, data in entries:
        crc, n, offset = zlib.crc32(data), len(data), len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, n, n, len(name), 0) + name.encode() + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, n, n, len(name), 0, 0, 0, 0,
                               0, offset) + name.encode()
    return out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                                       len(out), 0)


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def pytorch_seeds():
    storage = floats(range(12))
    specs = [("layer.weight", "0", "FloatStorage", 12, 0, [3, 4], [4, 1]),
             ("layer.weight_t", "0", "FloatStorage", 12, 0, [4, 3], [1, 4]),
             ("layer.bias", "0", "FloatStorage", 12, 5, [2], [1])]

    def torch_zip(pickle, data=storage):
        return zip_archive([("archive/data.pkl", pickle), ("archive/byteorder", b"little"),
                            ("archive/data/0", data), ("archive/version", b"3\n")])

    write("pytorch_checkpoint", "legacy_views.pth", legacy_checkpoint(state_dict_pickle(specs, True), [("0", storage)]))
    write("pytorch_checkpoint", "zip_views.pth", torch_zip(state_dict_pickle(specs, False)))
    ints = [("ids", "0", "LongStorage", 3, 0, [3], [1])]
    write("pytorch_checkpoint", "zip_long.pth", torch_zip(state_dict_pickle(ints, False), struct.pack("<3q", 7, -1, 1 << 40)))
    # {"epoch": 3, "state_dict": OrderedDict(...)}
    sd = state_dict_pickle(specs[:1], False)[2:-1]
    nested = PROTO + b"}" + MARK + ustr("epoch") + b"K\x03" + ustr("state_dict") + sd + SETITEMS + STOP
    write("pytorch_checkpoint", "zip_nested.pth", torch_zip(nested))
    # Refused: the classic os.system exploit, and a memo/cycle pickle.
    write("pytorch_checkpoint", "zip_evil.pth", torch_zip(PROTO + glob("os", "system") + ustr("id") + b"\x85" + REDUCE + STOP))
    write("pytorch_checkpoint", "zip_memo.pth",
          torch_zip(PROTO + b"}q\x00" + ustr("a") + b"]q\x01" + b"h\x01" + b"a" + b"s" + ustr("b") + b"h\x01s" + STOP))


# ---- safetensors -------------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    write("safetensors", "f32_i64_meta.safetensors",
          safetensors([("conv.weight", "F32", [2, 1, 2, 2], floats([1, 2, 3, 4, -5, 6.5, 7, 8])),
                       ("ids", "I64", [3], struct.pack("<3q", 7, -1, 1 << 40))], {"source": "fuzz seed"}))
    write("safetensors", "small_types.safetensors",
          safetensors([("h", "F16", [2], b"\x00\x3c\x00\xc0"), ("b", "BF16", [1], b"\x80\x3f"), ("u", "U8", [], b"\x2a"),
                       ("flag", "BOOL", [2], b"\x01\x00"), ("empty", "F64", [0, 4], b""),
                       ("s", "I16", [1], b"\x01\x00"), ("c", "I8", [1], b"\xff"), ("i", "I32", [1], b"\x01\x00\x00\x00")]))
    write("safetensors", "empty.safetensors", safetensors([]))
    write("safetensors", "unicode_name.safetensors",
          safetensors([("ids \"quoted\" \u00fc \U0001F600", "F32", [1], floats([1]))]))


# ---- images ------------------------------------------------------------------
def image_seeds():
    for name in ["png_gray4.png", "png_gray8.png", "png_palette.png", "png_gray16.png", "png_graya8.png", "png_rgb8.png",
                 "png_rgba8.png", "png_rgb16.png", "jpeg_gray.jpg", "jpeg_rgb.jpg"]:
        write("image_decode", name, (FIXTURES / name).read_bytes())


# ---- data-set trees (see fuzz_dataset_scan.cpp for the line format) ----------
def dataset_seeds():
    write("dataset_scan", "full_layout.txt", "\n".join([
        "cat/train/good/000.png", "cat/train/good/001.JPG", "cat/train/good/notes.txt",
        "cat/test/good/000.png", "cat/test/scratch/000.png", "cat/test/scratch/001.jpeg",
        "cat/ground_truth/scratch/000_mask.png", "other/train/good/", ""]))
    write("dataset_scan", "orphan_mask.txt", "cat/train/good/a.png\ncat/test/hole/a.png\ncat/ground_truth/hole/b_mask.png\n")
    write("dataset_scan", "symlinks.txt", "cat/train/good/a.png\nL cat/train/good/b.png a.png\nL cat/test x\n"
                                         "L cat/train/good/loop.png loop.png\n")
    write("dataset_scan", "empty_folders.txt", "cat/train/good/\ncat/test/\ncat/ground_truth/crack/x_mask.png\n")


# ---- train_mvtec config files --------------------------------------------------
def config_seeds():
    write("train_config", "full.cfg", "\n".join([
        "# every key", "data = /tmp/data", "category = bottle,cable", "out = runs/x", "device = cpu",
        "backbone = alexnet", "weights = w.pth", "image-size = 448", "scales = 3", "blocks = 8", "hidden = 2048",
        "alpha = 3.0", "train-transforms = 4", "test-transforms = 64", "batch-size = 24", "meta-epochs = 24",
        "sub-epochs = 8", "lr = 2e-4", "beta1 = 0.8", "beta2 = 0.8", "eps = 1e-4", "weight-decay = 1e-5",
        "rotate = false", "jitter = auto", "shots = 0", "feature-pool = 0", "seed = 18446744073709551615",
        "localize = defective", "localize-transforms = 64", "max-maps = 10", "report-images = 12",
        "on-bad-image = skip", "stop-after-steps = 0", "note = a note", ""]))
    write("train_config", "minimal.cfg", "data=d\ncategory=all\n")
    write("train_config", "sections.cfg", "[ignored]\ndata = d\ncategory = c\nimage-size = 64\nscales = 1\n")
    write("train_config", "bad_values.cfg", "data = d\ncategory = c\nscales = 40\nlr = nan\nrotate = maybe\n")
    write("train_config", "switches.cfg", "data = d\ncategory = c\nresume = true\nprofile = 1\ntf32 = yes\n")


def sweep_seeds():
    # differnet_sweep's grid files and manifest.json (tests/fuzz/fuzz_sweep_grid.cpp reads each input as both).
    write("sweep_grid", "variants.cfg", "\n".join([
        "# a grid", "data = d", "category = a, b+c", "seed = 0,1", "hidden = 64",
        "[A]  # a variant", "scales = 1", "paper.a = 84.5", "paper.mean = 84.4",
        "[B]", "test-transforms = 1, 4", ""]))
    write("sweep_grid", "bad_keys.cfg", "data = d\ncategory = all\nout = x\nhiden = 3\nseed = ,\n[A\npaper.z = 101\n")
    write("sweep_grid", "manifest.json", "\n".join([
        '{"format": "differnet-sweep-manifest-1", "grid": "/g.cfg", "rows": ["a"], "columns": ["A"],',
        ' "paper": [{"row": "a", "column": "A", "auroc": 84.4}, {"row": "mean", "column": "A", "auroc": 9e1}],',
        ' "runs": [{"id": 0, "dir": "runs/0000", "row": "a", "column": "A", "seed": "0",',
        '           "options": {"data": "/d", "category": "a", "lr": "2e-4"}}]}', ""]))


if __name__ == "__main__":
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    pytorch_seeds()
    safetensors_seeds()
    image_seeds()
    dataset_seeds()
    config_seeds()
    sweep_seeds()
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"wrote {sum(1 for p in CORPUS.rglob('*') if p.is_file())} seeds, {total} bytes, into {CORPUS}")
