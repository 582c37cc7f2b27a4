// CPU reference transforms against Pillow's own output (fixtures written by
// scripts/make_data_fixtures.py). Resize, rotation and the enhance blends are
// integer or single-rounding float pipelines reproduced step by step, so the
// match is required to be exact.
#define BOOST_TEST_MODULE data_transforms
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

#include "autograd/error.h"
#include "data/image_io.h"
#include "data/transforms.h"

using namespace differnet::data;

namespace {

const std::string kFixtures = std::string(DIFFERNET_SOURCE_DIR) + "/tests/fixtures/data/";

Image fixture(const std::string& name) { return load_rgb(kFixtures + name); }

int count_differences(const Image& a, const Image& b) {
  BOOST_REQUIRE_EQUAL(a.width, b.width);
  BOOST_REQUIRE_EQUAL(a.height, b.height);
  BOOST_REQUIRE_EQUAL(a.channels, b.channels);
  int n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(resize_matches_pil_bilinear) {
  const Image src = fixture("src_37x29.png");
  for (auto [w, h] : {std::pair{16, 16}, {50, 50}, {20, 41}, {37, 10}}) {
    const std::string name = "resize_" + std::to_string(w) + "x" + std::to_string(h) + ".png";
    BOOST_TEST_CONTEXT(name) { BOOST_TEST(count_differences(resize_bilinear(src, w, h), fixture(name)) == 0); }
  }
  BOOST_TEST(count_differences(resize_bilinear(fixture("src_16x16.png"), 7, 7), fixture("resize_square_7x7.png")) == 0);
  BOOST_TEST((resize_bilinear(src, 37, 29) == src));
}

BOOST_AUTO_TEST_CASE(rotate_matches_pil_nearest) {
  const Image src = fixture("src_37x29.png");
  for (const char* angle : {"0", "90", "180", "270", "33.7", "-120.5", "359.9", "-45"}) {
    BOOST_TEST_CONTEXT("angle " << angle) {
      BOOST_TEST(count_differences(rotate_nearest(src, std::stod(angle)), fixture(std::string("rotate_") + angle + ".png")) == 0);
    }
  }
  const Image square = fixture("src_16x16.png");
  for (const char* angle : {"90", "270", "45"}) {
    BOOST_TEST_CONTEXT("square, angle " << angle) {
      BOOST_TEST(count_differences(rotate_nearest(square, std::stod(angle)),
                                   fixture(std::string("rotate_square_") + angle + ".png")) == 0);
    }
  }
  // A gray image rotates like each channel of an RGB one.
  Image gray(37, 29, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = src.pixels[3 * i + 1];
  const Image r = rotate_nearest(src, 33.7), g = rotate_nearest(gray, 33.7);
  for (size_t i = 0; i < g.pixels.size(); ++i) BOOST_TEST_REQUIRE(g.pixels[i] == r.pixels[3 * i + 1]);
}

BOOST_AUTO_TEST_CASE(brightness_and_contrast_match_pil_enhance) {
  const Image src = fixture("src_37x29.png");
  BOOST_TEST(count_differences(adjust_brightness(src, 0.87f), fixture("brightness_0.87.png")) == 0);
  BOOST_TEST(count_differences(adjust_brightness(src, 1.13f), fixture("brightness_1.13.png")) == 0);
  BOOST_TEST(count_differences(adjust_contrast(src, 0.9f), fixture("contrast_0.9.png")) == 0);
  BOOST_TEST(count_differences(adjust_contrast(src, 1.12f), fixture("contrast_1.12.png")) == 0);
  JitterParams p;
  p.brightness = 0.87f;
  p.contrast = 1.12f;
  p.order = JitterOrder::BrightnessThenContrast;
  BOOST_TEST(count_differences(color_jitter(src, p), fixture("jitter_b0.87_c1.12.png")) == 0);
  p.order = JitterOrder::ContrastThenBrightness;
  BOOST_TEST(count_differences(color_jitter(src, p), fixture("jitter_c1.12_b0.87.png")) == 0);
}

BOOST_AUTO_TEST_CASE(jitter_sampling_is_seeded_and_in_range) {
  std::mt19937_64 a(5), b(5);
  int contrast_first = 0;
  for (int i = 0; i < 1000; ++i) {
    const JitterParams p = sample_jitter(a), q = sample_jitter(b);
    BOOST_TEST_REQUIRE(p.brightness == q.brightness);
    BOOST_TEST_REQUIRE(p.contrast == q.contrast);
    BOOST_TEST_REQUIRE((p.order == q.order));
    BOOST_TEST_REQUIRE((p.brightness >= 0.85f && p.brightness <= 1.15f && p.contrast >= 0.85f && p.contrast <= 1.15f));
    contrast_first += p.order == JitterOrder::ContrastThenBrightness;
  }
  BOOST_TEST((contrast_first > 400 && contrast_first < 600));
}

BOOST_AUTO_TEST_CASE(normalisation_is_totensor_then_normalize) {
  Image img(2, 1, 3);
  img.pixels = {0, 128, 255, 10, 20, 30};
  const std::vector<float> t = to_normalized_chw(img);
  BOOST_REQUIRE_EQUAL(t.size(), 6u);
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 2; ++i) {
      const double want = (img.pixels[i * 3 + c] / 255.0 - mean[c]) / stdv[c];
      BOOST_TEST(std::abs(t[c * 2 + i] - want) < 1e-6);  // float32 steps vs double
    }
  BOOST_CHECK_THROW(to_normalized_chw(Image(2, 2, 1)), differnet::Error);
}

BOOST_AUTO_TEST_CASE(fixed_test_rotations) {
  BOOST_TEST(fixed_rotation_degrees(0, 64) == 0.0);
  BOOST_TEST(fixed_rotation_degrees(16, 64) == 90.0);
  BOOST_TEST(fixed_rotation_degrees(63, 64) == 354.375);
  BOOST_CHECK_THROW(fixed_rotation_degrees(64, 64), differnet::Error);
}
