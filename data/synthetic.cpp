#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "autograd/error.h"
#include "data/image_io.h"
#include "data/staging.h"

namespace fs = std::filesystem;

namespace differnet::data {
namespace {

constexpr double kTwoPi = 6.283185307179586;

// One generator per image, keyed by (seed, split, index) through splitmix64.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform double in [lo, hi) from 53 bits, identical on every platform.
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * (static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0));
}

// Smooth value noise on a lattice of `cell` pixels (smoothstep interpolation), in [0, 1).
class ValueNoise {
 public:
  ValueNoise(std::mt19937_64& rng, int size, int cell) : cell_(cell), n_(size / cell + 2), v_(size_t(n_) * n_) {
    for (double& v : v_) v = uniform(rng, 0.0, 1.0);
  }
  double at(int x, int y) const {
    const int gx = x / cell_, gy = y / cell_;
    const double fx = smooth(double(x % cell_) / cell_), fy = smooth(double(y % cell_) / cell_);
    const double top = lerp(v(gx, gy), v(gx + 1, gy), fx), bottom = lerp(v(gx, gy + 1), v(gx + 1, gy + 1), fx);
    return lerp(top, bottom, fy);
  }

 private:
  static double smooth(double t) { return t * t * (3 - 2 * t); }
  static double lerp(double a, double b, double t) { return a + (b - a) * t; }
  double v(int x, int y) const { return v_[size_t(y) * n_ + x]; }
  int cell_, n_;
  std::vector<double> v_;
};

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

// Woven fabric: two crossing thread waves, a slow weft band and blotchy noise,
// in a brownish tint; every parameter jittered per image.
Image render_fabric(std::mt19937_64& rng, int size) {
  const double theta = uniform(rng, -0.15, 0.15) + 0.35;  // radians, about 20 degrees +- 9
  const double period = uniform(rng, 8.5, 9.5);
  const double phase_u = uniform(rng, 0, kTwoPi), phase_w = uniform(rng, 0, kTwoPi), phase_band = uniform(rng, 0, kTwoPi);
  const double brightness = uniform(rng, -10, 10);
  const double thread = uniform(rng, 18, 24);
  const ValueNoise noise(rng, size, 24);
  const double c = std::cos(theta), s = std::sin(theta);
  // sin(k u + phase) with u = x c + y s splits into per-column and per-row
  // tables by the angle-addition formula, so the inner loop has no sin calls.
  struct Wave {
    std::vector<double> sin_x, cos_x, sin_y, cos_y;
    Wave(int n, double kx, double ky, double phase) : sin_x(n), cos_x(n), sin_y(n), cos_y(n) {
      for (int i = 0; i < n; ++i) {
        sin_x[i] = std::sin(kx * i), cos_x[i] = std::cos(kx * i);
        sin_y[i] = std::sin(ky * i + phase), cos_y[i] = std::cos(ky * i + phase);
      }
    }
    double at(int x, int y) const { return sin_x[x] * cos_y[y] + cos_x[x] * sin_y[y]; }
  };
  const double k = kTwoPi / period, k_band = kTwoPi / 41.0;
  const Wave along(size, k * c, k * s, phase_u), across(size, -k * s, k * c, phase_w), band(size, -k_band * s, k_band * c, phase_band);
  Image img(size, size, 3);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double v = 128 + brightness + thread * along.at(x, y) * across.at(x, y) + 8 * band.at(x, y) +
                       18 * (noise.at(x, y) - 0.5);
      img.at(x, y, 0) = clamp8(v * 1.05 + 8);
      img.at(x, y, 1) = clamp8(v * 0.93);
      img.at(x, y, 2) = clamp8(v * 0.78);
    }
  return img;
}

// Each kind marks its region in `mask` and changes exactly those pixels.
void plant_defect(std::mt19937_64& rng, DefectKind kind, Image& img, Image& mask) {
  const int size = img.width;
  const double margin = std::max(8.0, size * 0.1);
  const double cx = uniform(rng, margin, size - margin), cy = uniform(rng, margin, size - margin);
  auto mark = [&](int x, int y) {
    if (x >= 0 && y >= 0 && x < size && y < size) mask.at(x, y, 0) = 255;
  };
  auto thick = [&](double x, double y) {  // a 2-pixel-wide pen
    mark(int(x), int(y));
    mark(int(x) + 1, int(y));
    mark(int(x), int(y) + 1);
  };
  auto disc = [&](double r) {
    for (int y = int(cy - r) - 1; y <= int(cy + r) + 1; ++y)
      for (int x = int(cx - r) - 1; x <= int(cx + r) + 1; ++x)
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) mark(x, y);
  };
  const double scale = std::max(1.0, size / 256.0);  // defects keep their pixel size on small images
  switch (kind) {
    case DefectKind::Scratch: {  // thin straight light line
      const double angle = uniform(rng, 0, kTwoPi), length = uniform(rng, 50, 100) * scale;
      for (double t = -length / 2; t <= length / 2; t += 0.25) thick(cx + t * std::cos(angle), cy + t * std::sin(angle));
      break;
    }
    case DefectKind::Spot: disc(uniform(rng, 6, 10) * scale); break;  // darker blob
    case DefectKind::Crack: {  // jagged dark path
      double x = cx, y = cy, angle = uniform(rng, 0, kTwoPi);
      const int steps = int(uniform(rng, 70, 130) * scale);
      for (int i = 0; i < steps; ++i) {
        angle += uniform(rng, -0.6, 0.6);
        x += std::cos(angle);
        y += std::sin(angle);
        thick(x, y);
      }
      break;
    }
    case DefectKind::Hole: disc(uniform(rng, 7, 12) * scale); break;  // missing piece: dark background
    case DefectKind::Color: disc(uniform(rng, 14, 22) * scale); break;  // bluish discolouration
  }
  const double delta = kind == DefectKind::Scratch ? 30 : (kind == DefectKind::Spot ? -26 : -42);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      if (!mask.at(x, y, 0)) continue;
      for (int k = 0; k < 3; ++k) {
        uint8_t& p = img.at(x, y, k);
        switch (kind) {
          case DefectKind::Hole: p = static_cast<uint8_t>(22 - 3 * k); break;
          case DefectKind::Color: p = clamp8(p * (k == 0 ? 0.86 : (k == 1 ? 1.0 : 1.25))); break;
          default: p = clamp8(p + delta); break;
        }
      }
    }
}

}  // namespace

const char* defect_name(DefectKind kind) {
  switch (kind) {
    case DefectKind::Scratch: return "scratch";
    case DefectKind::Spot: return "spot";
    case DefectKind::Crack: return "crack";
    case DefectKind::Hole: return "hole";
    case DefectKind::Color: return "color";
  }
  return "?";
}

SyntheticSample synthetic_sample(const SyntheticOptions& o, SyntheticSplit split, int index) {
  DIFFERNET_CHECK(o.size >= 32 && o.size <= 4096, "synthetic: --size must be in 32..4096, got ", o.size);
  std::mt19937_64 rng(mix(mix(o.seed) ^ (uint64_t(split) << 32) ^ uint64_t(index)));
  SyntheticSample s;
  s.clean = render_fabric(rng, o.size);
  s.image = s.clean;
  s.mask = Image(o.size, o.size, 1, 0);
  if (split == SyntheticSplit::TestDefect) {
    s.kind = static_cast<DefectKind>(index % kDefectKinds);
    plant_defect(rng, s.kind, s.image, s.mask);
  }
  return s;
}

std::string write_synthetic_category(const std::string& out_dir, const SyntheticOptions& o, bool overwrite) {
  DIFFERNET_CHECK(o.train > 0 && o.test_good >= 0 && o.test_defect >= 0 && o.test_good + o.test_defect > 0,
                  "synthetic: need --train > 0 and at least one test image");
  StagingDir staging(out_dir, "synthetic", overwrite);
  const fs::path root = staging.path();
  auto name = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03d", i);
    return std::string(buf);
  };
  fs::create_directories(root / "train" / "good");
  for (int i = 0; i < o.train; ++i)
    save_png(synthetic_sample(o, SyntheticSplit::Train, i).image, (root / "train" / "good" / (name(i) + ".png")).string());
  if (o.test_good > 0) fs::create_directories(root / "test" / "good");
  for (int i = 0; i < o.test_good; ++i)
    save_png(synthetic_sample(o, SyntheticSplit::TestGood, i).image, (root / "test" / "good" / (name(i) + ".png")).string());
  for (int i = 0; i < o.test_defect; ++i) {
    const SyntheticSample s = synthetic_sample(o, SyntheticSplit::TestDefect, i);
    const std::string kind = defect_name(s.kind), file = name(i / kDefectKinds);
    fs::create_directories(root / "test" / kind);
    fs::create_directories(root / "ground_truth" / kind);
    save_png(s.image, (root / "test" / kind / (file + ".png")).string());
    save_png(s.mask, (root / "ground_truth" / kind / (file + "_mask.png")).string());
  }
  staging.commit();
  return staging.final_path().string();
}

}  // namespace differnet::data
