#include "apps/common/localization.h"

#include <algorithm>
#include <cmath>

#include "autograd/error.h"
#include "data/transform_math.h"
#include "data/transforms.h"

namespace differnet::app {

Map rotate_map(const Map& map, double angle_degrees) {
  const data::AffineFixed m = data::pil_rotation_fixed(map.width, map.height, angle_degrees);
  Map out{map.width, map.height, std::vector<float>(map.values.size(), 0.0f)};
  for (int y = 0; y < map.height; ++y)
    for (int x = 0; x < map.width; ++x) {
      int sx, sy;
      data::affine_fixed_source(m, x, y, &sx, &sy);
      if (sx >= 0 && sx < map.width && sy >= 0 && sy < map.height)
        out.values[size_t(y) * size_t(map.width) + size_t(x)] = map.values[size_t(sy) * size_t(map.width) + size_t(sx)];
    }
  return out;
}

namespace {
// scipy's reflect mode: the edge sample is repeated (half-sample symmetric).
int reflect(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}
}  // namespace

Map gaussian_blur(const Map& map, double sigma) {
  DIFFERNET_CHECK(sigma > 0, "gaussian_blur: sigma must be positive, got ", sigma);
  const int radius = int(4.0 * sigma + 0.5);  // scipy: truncate = 4.0
  std::vector<double> kernel(size_t(2 * radius + 1));
  double total = 0;
  for (int i = -radius; i <= radius; ++i) total += kernel[size_t(i + radius)] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& k : kernel) k /= total;
  const int w = map.width, h = map.height;
  std::vector<float> tmp(map.values.size());
  Map out{w, h, std::vector<float>(map.values.size())};
#pragma omp parallel for
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        acc += kernel[size_t(i + radius)] * map.values[size_t(y) * size_t(w) + size_t(reflect(x + i, w))];
      tmp[size_t(y) * size_t(w) + size_t(x)] = float(acc);
    }
#pragma omp parallel for
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        acc += kernel[size_t(i + radius)] * tmp[size_t(reflect(y + i, h)) * size_t(w) + size_t(x)];
      out.values[size_t(y) * size_t(w) + size_t(x)] = float(acc);
    }
  return out;
}

Map defect_map(const std::vector<std::vector<float>>& gradients, const std::vector<double>& angles, int width,
               int height, double sigma) {
  DIFFERNET_CHECK(!gradients.empty() && gradients.size() == angles.size(), "defect_map: ", gradients.size(),
                  " gradients for ", angles.size(), " angles");
  const size_t plane = size_t(width) * size_t(height);
  Map sum{width, height, std::vector<float>(plane, 0.0f)};
  for (size_t t = 0; t < gradients.size(); ++t) {
    DIFFERNET_CHECK(gradients[t].size() == 3 * plane, "defect_map: gradient ", t, " has ", gradients[t].size(),
                    " values, expected 3 x ", width, " x ", height);
    for (int c = 0; c < 3; ++c) {
      Map channel{width, height, std::vector<float>(gradients[t].begin() + long(c * plane),
                                                    gradients[t].begin() + long((c + 1) * plane))};
      const Map blurred = gaussian_blur(rotate_map(channel, -angles[t]), sigma);
      for (size_t i = 0; i < plane; ++i) sum.values[i] += std::abs(blurred.values[i]);
    }
  }
  const float scale = 1.0f / float(3 * gradients.size());
  for (float& v : sum.values) v *= scale;
  return sum;
}

Map display_map(const Map& map) {
  Map out = map;
  float lo = INFINITY, hi = -INFINITY;
  for (float& v : out.values) {
    v = v * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const float range = hi > lo ? hi - lo : 1.0f;
  for (float& v : out.values) v = (v - lo) / range;
  return out;
}

namespace {
// Black -> purple -> orange -> pale yellow, piecewise linear.
void ramp(float t, uint8_t rgb[3]) {
  static const float stops[5][3] = {{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  t = std::min(1.0f, std::max(0.0f, t)) * 4.0f;
  const int i = std::min(3, int(t));
  const float f = t - float(i);
  for (int c = 0; c < 3; ++c) rgb[c] = uint8_t(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]) + 0.5f);
}
}  // namespace

data::Image heatmap_image(const Map& unit_map) {
  data::Image img(unit_map.width, unit_map.height, 3);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) ramp(unit_map.values[size_t(y) * size_t(img.width) + size_t(x)], &img.at(x, y, 0));
  return img;
}

data::Image overlay_image(const data::Image& rgb, const Map& unit_map) {
  DIFFERNET_CHECK(rgb.width == unit_map.width && rgb.height == unit_map.height && rgb.channels == 3,
                  "overlay_image: the image is ", rgb.width, "x", rgb.height, "x", rgb.channels, ", the map ",
                  unit_map.width, "x", unit_map.height);
  const data::Image heat = heatmap_image(unit_map);
  data::Image out = rgb;
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = uint8_t((int(rgb.pixels[i]) + int(heat.pixels[i]) + 1) / 2);
  return out;
}

}  // namespace differnet::app
