#!/usr/bin/env python3
"""Writes the small golden files under tests/fixtures/data/ that the data/ tests
compare against. Not part of the product; needs `pip install pillow numpy`.

  python3 scripts/make_data_fixtures.py

PNG flavours are written by the tiny encoder below (so every colour type and bit
depth is exactly what we ask for) with the expected 8-bit RGB beside each as raw
bytes (<name>.rgb, height x width x 3). JPEG and every transform result come from
Pillow itself: decoding, Image.resize(BILINEAR), Image.rotate(NEAREST, fillcolor=0)
and ImageEnhance.Brightness / Contrast, the calls torchvision makes on PIL images.
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageEnhance

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "data")


def png_bytes(width, height, color_type, depth, rows, palette=None, trns=None):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def png_flavours():
    w, h = 7, 5
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, size=(h, w, 3), dtype=np.uint16)
    gray16 = rgb16[:, :, 0]
    alpha16 = rgb16[:, :, 1]
    hi = lambda a: (a >> 8).astype(np.uint8)  # 16-bit samples keep their high byte
    gray8, rgb8, alpha8 = hi(gray16), hi(rgb16), hi(alpha16)
    rep = lambda g: np.repeat(g[:, :, None], 3, axis=2)
    be16 = lambda a: a.astype(">u2").tobytes()
    cases = {
        "gray8": (0, 8, [gray8[y].tobytes() for y in range(h)], rep(gray8)),
        "gray16": (0, 16, [be16(gray16[y]) for y in range(h)], rep(gray8)),
        "graya8": (4, 8, [np.stack([gray8[y], alpha8[y]], 1).tobytes() for y in range(h)], rep(gray8)),
        "rgb8": (2, 8, [rgb8[y].tobytes() for y in range(h)], rgb8),
        "rgba8": (6, 8, [np.concatenate([rgb8[y], alpha8[y][:, None]], 1).tobytes() for y in range(h)], rgb8),
        "rgb16": (2, 16, [be16(rgb16[y]) for y in range(h)], rgb8),
    }
    for name, (ct, depth, rows, expect) in cases.items():
        write(f"png_{name}.png", png_bytes(w, h, ct, depth, rows))
        write(f"png_{name}.rgb", expect.tobytes())
    # 4-bit gray: values 0..15 scale to 0..255 (x17)
    g4 = rng.integers(0, 16, size=(h, w), dtype=np.uint8)
    rows4 = [bytes(((g4[y, 2 * i] << 4) | (g4[y, 2 * i + 1] if 2 * i + 1 < w else 0)) for i in range((w + 1) // 2))
             for y in range(h)]
    write("png_gray4.png", png_bytes(w, h, 0, 4, rows4))
    write("png_gray4.rgb", rep(g4 * 17).tobytes())
    # palette with transparency (alpha is dropped)
    pal = rng.integers(0, 256, size=(6, 3), dtype=np.uint8)
    idx = rng.integers(0, 6, size=(h, w), dtype=np.uint8)
    write("png_palette.png", png_bytes(w, h, 3, 8, [idx[y].tobytes() for y in range(h)],
                                       palette=pal.tobytes(), trns=bytes([0, 128, 255])))
    write("png_palette.rgb", pal[idx].tobytes())


def jpegs():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:16, 0:24]
    base = (xx * 9 + yy * 5 + rng.integers(0, 30, size=(16, 24))).clip(0, 255).astype(np.uint8)
    colour = np.stack([base, 255 - base, (base // 2 + 60).astype(np.uint8)], 2)
    Image.fromarray(base, "L").save(os.path.join(OUT, "jpeg_gray.jpg"), quality=90)
    Image.fromarray(colour, "RGB").save(os.path.join(OUT, "jpeg_rgb.jpg"), quality=90)
    for name in ("jpeg_gray", "jpeg_rgb"):
        decoded = Image.open(os.path.join(OUT, name + ".jpg")).convert("RGB")
        write(name + ".rgb", np.asarray(decoded).tobytes())


def transforms():
    rng = np.random.default_rng(0)
    src = Image.fromarray(rng.integers(0, 256, size=(29, 37, 3), dtype=np.uint8), "RGB")
    src.save(os.path.join(OUT, "src_37x29.png"))
    square = Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8), "RGB")
    square.save(os.path.join(OUT, "src_16x16.png"))
    for w, h in ((16, 16), (50, 50), (20, 41), (37, 10)):
        src.resize((w, h), Image.BILINEAR).save(os.path.join(OUT, f"resize_{w}x{h}.png"))
    square.resize((7, 7), Image.BILINEAR).save(os.path.join(OUT, "resize_square_7x7.png"))
    for angle in ("0", "90", "180", "270", "33.7", "-120.5", "359.9", "-45"):
        src.rotate(float(angle), Image.NEAREST, expand=False, fillcolor=(0, 0, 0)).save(
            os.path.join(OUT, f"rotate_{angle}.png"))
    for angle in ("90", "270", "45"):
        square.rotate(float(angle), Image.NEAREST, expand=False, fillcolor=(0, 0, 0)).save(
            os.path.join(OUT, f"rotate_square_{angle}.png"))
    bright = lambda im, f: ImageEnhance.Brightness(im).enhance(f)
    contrast = lambda im, f: ImageEnhance.Contrast(im).enhance(f)
    for f in ("0.87", "1.13"):
        bright(src, float(f)).save(os.path.join(OUT, f"brightness_{f}.png"))
    for f in ("0.9", "1.12"):
        contrast(src, float(f)).save(os.path.join(OUT, f"contrast_{f}.png"))
    contrast(bright(src, 0.87), 1.12).save(os.path.join(OUT, "jitter_b0.87_c1.12.png"))
    bright(contrast(src, 1.12), 0.87).save(os.path.join(OUT, "jitter_c1.12_b0.87.png"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    png_flavours()
    jpegs()
    transforms()
