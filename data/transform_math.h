// Per-pixel arithmetic of the pre-processing transforms, written once for the
// CPU reference (data/transforms.cpp) and the GPU kernels that will be checked
// against it. Each function reproduces one piece of Pillow / torchvision bit
// for bit; the comment names the Pillow source it follows.
#pragma once
#include <cstdint>

#include "kernels/hd.h"

namespace differnet::data {

// ---- resize: Pillow src/libImaging/Resample.c (8 bits per channel) ----------
// Coefficients are fixed point with 32 - 8 - 2 fractional bits (two bits of
// headroom for filters with negative lobes).
constexpr int kResamplePrecisionBits = 32 - 8 - 2;

// Triangle ("bilinear") filter with support 1; its support is widened by the
// downscale factor when shrinking, which is what makes PIL's resize antialiased.
DIFFERNET_HD double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// normalize_coeffs_8bpc: a normalised double weight -> fixed point, rounded half away from 0.
DIFFERNET_HD int32_t resample_fixed_weight(double w) {
  return w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kResamplePrecisionBits))
               : static_cast<int32_t>(0.5 + w * (1 << kResamplePrecisionBits));
}

// clip8 after the weighted sum: the sum starts at one half (rounding), shifts
// out the fraction and saturates to 0..255.
DIFFERNET_HD uint8_t resample_clip8(int32_t sum) {
  const int32_t v = sum >> kResamplePrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One output sample: n taps of `src` spaced `stride` bytes apart, weights `w`.
DIFFERNET_HD uint8_t resample_taps(const uint8_t* src, long stride, const int32_t* w, int n) {
  int32_t sum = 1 << (kResamplePrecisionBits - 1);
  for (int i = 0; i < n; ++i) sum += static_cast<int32_t>(src[i * stride]) * w[i];
  return resample_clip8(sum);
}

// ---- rotation: Pillow src/libImaging/Geometry.c, affine_fixed ----------------
// The inverse affine map (output pixel -> source pixel) in 16.16 fixed point;
// a2/a5 already include the half-pixel centre offsets. PIL walks a row adding
// a0/a3 and a1/a4 per row in 32-bit integers; the closed form below gives the
// same integers (PIL only takes this path when no corner overflows).
struct AffineFixed {
  int32_t a0, a1, a2, a3, a4, a5;
};

// Source pixel of output (x, y); outside the source (x or y < 0 or >= size)
// means fill with 0.
DIFFERNET_HD void affine_fixed_source(const AffineFixed& m, int x, int y, int* x_in, int* y_in) {
  const int64_t xx = int64_t(m.a2) + int64_t(x) * m.a0 + int64_t(y) * m.a1;
  const int64_t yy = int64_t(m.a5) + int64_t(x) * m.a3 + int64_t(y) * m.a4;
  *x_in = static_cast<int>(xx >> 16);  // arithmetic shift = floor, as in PIL
  *y_in = static_cast<int>(yy >> 16);
}

// ---- brightness / contrast: Pillow src/libImaging/Blend.c -------------------
// out = in1 + alpha * (in2 - in1) in float, truncated toward zero and saturated;
// ImageEnhance.Brightness blends from black, Contrast from the gray mean image.
DIFFERNET_HD uint8_t pil_blend(uint8_t in1, uint8_t in2, float alpha) {
#if defined(__CUDA_ARCH__)
  const float t = __fadd_rn(float(in1), __fmul_rn(alpha, float(int(in2) - int(in1))));  // no FMA: match the CPU
#else
  const float t = float(in1) + alpha * float(int(in2) - int(in1));
#endif
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return static_cast<uint8_t>(t);
}

// PIL's RGB -> "L" conversion (Convert.c, rgb2l): ITU-R 601-2 luma in 16-bit fixed point.
DIFFERNET_HD uint8_t pil_luma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

// ---- to tensor and normalise: torchvision ToTensor + Normalize --------------
// float32 throughout: v / 255, then (x - mean) / std, each step rounded once.
DIFFERNET_HD float imagenet_mean(int c) { return c == 0 ? 0.485f : (c == 1 ? 0.456f : 0.406f); }
DIFFERNET_HD float imagenet_std(int c) { return c == 0 ? 0.229f : (c == 1 ? 0.224f : 0.225f); }

DIFFERNET_HD float normalize_sample(uint8_t v, int c) {
  const float unit = float(v) / 255.0f;
  return (unit - imagenet_mean(c)) / imagenet_std(c);
}

}  // namespace differnet::data
