#include "data/transforms.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autograd/error.h"

namespace differnet::data {
namespace {

// precompute_coeffs in Pillow's Resample.c for the bilinear filter and the full
// box (0, in_size): per output sample, the first input index, the tap count and
// the fixed-point weights (ksize per sample, unused ones zero).
struct ResampleCoeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

ResampleCoeffs resample_coeffs(int in_size, int out_size) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);  // PIL keeps the box in float
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;  // bilinear support 1, widened when shrinking
  ResampleCoeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bilinear_filter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      c.weights[static_cast<size_t>(xx) * c.ksize + x] = resample_fixed_weight(k[x]);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

Image resample_horizontal(const Image& in, int out_width) {
  const ResampleCoeffs c = resample_coeffs(in.width, out_width);
  Image out(out_width, in.height, in.channels);
  const int ch = in.channels;
  for (int y = 0; y < in.height; ++y)
    for (int xx = 0; xx < out_width; ++xx)
      for (int k = 0; k < ch; ++k)
        out.at(xx, y, k) = resample_taps(in.ptr(c.first[xx], y, k), ch, &c.weights[size_t(xx) * c.ksize], c.count[xx]);
  return out;
}

Image resample_vertical(const Image& in, int out_height) {
  const ResampleCoeffs c = resample_coeffs(in.height, out_height);
  Image out(in.width, out_height, in.channels);
  const int ch = in.channels;
  const long stride = static_cast<long>(in.width) * ch;
  for (int yy = 0; yy < out_height; ++yy)
    for (int x = 0; x < in.width; ++x)
      for (int k = 0; k < ch; ++k)
        out.at(x, yy, k) = resample_taps(in.ptr(x, c.first[yy], k), stride, &c.weights[size_t(yy) * c.ksize], c.count[yy]);
  return out;
}

// Python's float modulo: the result takes the sign of the divisor.
double python_mod(double x, double m) {
  double r = std::fmod(x, m);
  if (r != 0.0) {
    if ((m < 0) != (r < 0)) r += m;
  } else {
    r = std::copysign(0.0, m);
  }
  return r;
}

// Python's round(x, 15): correctly rounded to 15 decimals (glibc printf rounds exactly).
double round15(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15f", x);
  return std::strtod(buf, nullptr);
}

// PIL's FIX(): 16.16 fixed point, FLOOR(v * 65536 + 0.5).
int32_t fix16(double v) { return static_cast<int32_t>(std::floor(v * 65536.0 + 0.5)); }

// Image.rotate builds the inverse matrix [a b c; d e f] (output -> source).
struct AffineDouble {
  double a[6];
};

AffineDouble pil_rotation_matrix(int width, int height, double angle_degrees) {
  const double angle = -(python_mod(angle_degrees, 360.0) * (M_PI / 180.0));  // -math.radians(angle)
  const double cx = width / 2.0, cy = height / 2.0;
  AffineDouble m{{round15(std::cos(angle)), round15(std::sin(angle)), 0.0, round15(-std::sin(angle)),
                  round15(std::cos(angle)), 0.0}};
  m.a[2] = m.a[0] * -cx + m.a[1] * -cy + 0.0;
  m.a[5] = m.a[3] * -cx + m.a[4] * -cy + 0.0;
  m.a[2] += cx;
  m.a[5] += cy;
  return m;
}

// Whole-image moves: PIL's exact fast paths (transpose) for 180 and square 90/270.
enum class Turn { Quarter, Half, ThreeQuarters };
Image turn(const Image& in, Turn t) {
  const bool swap = t != Turn::Half;
  Image out(swap ? in.height : in.width, swap ? in.width : in.height, in.channels);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = 0, sy = 0;
      switch (t) {
        case Turn::Quarter: sx = in.width - 1 - y; sy = x; break;  // 90 counter-clockwise
        case Turn::Half: sx = in.width - 1 - x; sy = in.height - 1 - y; break;
        case Turn::ThreeQuarters: sx = y; sy = in.height - 1 - x; break;
      }
      for (int k = 0; k < in.channels; ++k) out.at(x, y, k) = in.at(sx, sy, k);
    }
  return out;
}

void check_image(const Image& in, const char* op) {
  DIFFERNET_CHECK(in.width > 0 && in.height > 0 && (in.channels == 1 || in.channels == 3) &&
                      in.pixels.size() == size_t(in.width) * in.height * in.channels,
                  op, ": expected a non-empty gray or RGB image, got ", in.width, "x", in.height, "x", in.channels);
}

}  // namespace

Image resize_bilinear(const Image& in, int out_width, int out_height) {
  check_image(in, "resize_bilinear");
  DIFFERNET_CHECK(out_width > 0 && out_height > 0, "resize_bilinear: bad output size ", out_width, "x", out_height);
  Image out = in;  // PIL skips a pass whose size does not change (that pass is the identity)
  if (out_width != in.width) out = resample_horizontal(out, out_width);
  if (out_height != in.height) out = resample_vertical(out, out_height);
  return out;
}

AffineFixed pil_rotation_fixed(int width, int height, double angle_degrees) {
  const AffineDouble m = pil_rotation_matrix(width, height, angle_degrees);
  const double* a = m.a;
  return AffineFixed{fix16(a[0]), fix16(a[1]), fix16(a[2] + a[0] * 0.5 + a[1] * 0.5),
                     fix16(a[3]), fix16(a[4]), fix16(a[5] + a[3] * 0.5 + a[4] * 0.5)};
}

Image rotate_nearest(const Image& in, double angle_degrees) {
  check_image(in, "rotate_nearest");
  const double angle = python_mod(angle_degrees, 360.0);
  if (angle == 0.0) return in;
  if (angle == 180.0) return turn(in, Turn::Half);
  if ((angle == 90.0 || angle == 270.0) && in.width == in.height)
    return turn(in, angle == 90.0 ? Turn::Quarter : Turn::ThreeQuarters);
  const AffineDouble md = pil_rotation_matrix(in.width, in.height, angle_degrees);
  if (md.a[1] == 0.0 && md.a[3] == 0.0)  // sin rounded to 0: PIL's scaling path is the identity or a half turn
    return md.a[0] > 0 ? in : turn(in, Turn::Half);
  // PIL's fixed-point path applies while every corner maps inside +-32768, always
  // true for images within kMaxImageSide.
  DIFFERNET_CHECK(in.width <= 16384 && in.height <= 16384, "rotate_nearest: image too large");
  const AffineFixed m = pil_rotation_fixed(in.width, in.height, angle_degrees);
  Image out(in.width, in.height, in.channels, 0);
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x) {
      int sx, sy;
      affine_fixed_source(m, x, y, &sx, &sy);
      if (sx < 0 || sx >= in.width || sy < 0 || sy >= in.height) continue;
      for (int k = 0; k < in.channels; ++k) out.at(x, y, k) = in.at(sx, sy, k);
    }
  return out;
}

Image adjust_brightness(const Image& in, float factor) {
  check_image(in, "adjust_brightness");
  Image out = in;
  for (uint8_t& v : out.pixels) v = pil_blend(0, v, factor);
  return out;
}

Image adjust_contrast(const Image& in, float factor) {
  check_image(in, "adjust_contrast");
  uint64_t sum = 0;
  const size_t n = size_t(in.width) * in.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &in.pixels[i * in.channels];
    sum += in.channels == 3 ? pil_luma(p[0], p[1], p[2]) : p[0];
  }
  const uint8_t mean = static_cast<uint8_t>(static_cast<int>(static_cast<double>(sum) / n + 0.5));
  Image out = in;
  for (uint8_t& v : out.pixels) v = pil_blend(mean, v, factor);
  return out;
}

JitterParams sample_jitter(std::mt19937_64& rng, float low, float high) {
  auto uniform = [&] {  // 53 random bits -> [0, 1), written out so every platform agrees
    const double u = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>(low + (high - low) * u);
  };
  JitterParams p;
  p.brightness = uniform();
  p.contrast = uniform();
  p.order = (rng() & 1) ? JitterOrder::ContrastThenBrightness : JitterOrder::BrightnessThenContrast;
  return p;
}

Image color_jitter(const Image& in, const JitterParams& p) {
  if (p.order == JitterOrder::BrightnessThenContrast) return adjust_contrast(adjust_brightness(in, p.brightness), p.contrast);
  return adjust_brightness(adjust_contrast(in, p.contrast), p.brightness);
}

double fixed_rotation_degrees(int i, int count) {
  DIFFERNET_CHECK(count > 0 && i >= 0 && i < count, "fixed_rotation_degrees: transform ", i, " of ", count);
  return i * 360.0 / count;
}

std::vector<float> to_normalized_chw(const Image& in) {
  DIFFERNET_CHECK(in.channels == 3 && in.pixels.size() == size_t(in.width) * in.height * 3,
                  "to_normalized_chw: expected an RGB image, got ", in.channels, " channels");
  const size_t plane = size_t(in.width) * in.height;
  std::vector<float> out(plane * 3);
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < plane; ++i) out[c * plane + i] = normalize_sample(in.pixels[i * 3 + c], c);
  return out;
}

}  // namespace differnet::data
