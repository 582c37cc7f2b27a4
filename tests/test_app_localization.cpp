// Defect-map post-processing (paper eq. 7) and the .npy writer.
#define BOOST_TEST_MODULE app_localization
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "apps/common/localization.h"
#include "apps/common/npy.h"

using namespace differnet::app;

BOOST_AUTO_TEST_CASE(blur_of_a_delta_is_the_normalised_gaussian) {
  Map m{41, 41, std::vector<float>(41 * 41, 0.0f)};
  m.values[20 * 41 + 20] = 1.0f;
  const Map b = gaussian_blur(m, 3.0);
  double total = 0;
  for (float v : b.values) total += v;
  BOOST_CHECK_CLOSE(total, 1.0, 1e-4);
  // Separable: the centre value is k(0)^2 with k(0) = 1 / sum_{|i|<=12} exp(-i^2/18).
  double norm = 0;
  for (int i = -12; i <= 12; ++i) norm += std::exp(-i * i / 18.0);
  BOOST_CHECK_CLOSE(b.values[20 * 41 + 20], 1.0 / (norm * norm), 1e-4);
  BOOST_CHECK_CLOSE(b.values[20 * 41 + 23], std::exp(-9 / 18.0) / (norm * norm), 1e-4);
  BOOST_CHECK_EQUAL(b.values[20 * 41 + 33], 0.0f);  // beyond the truncation radius of 12
}

BOOST_AUTO_TEST_CASE(blur_reflects_at_the_edges_and_keeps_constants) {
  Map c{7, 5, std::vector<float>(35, 2.5f)};
  for (float v : gaussian_blur(c, 3.0).values) BOOST_CHECK_CLOSE(v, 2.5f, 1e-4);
  // scipy.ndimage.gaussian_filter1d([1, 0, 0, 0], 1) with mode reflect:
  // the edge value mirrors as d c b a | a b c d, so mass stays in the signal.
  Map row{4, 1, {1.0f, 0.0f, 0.0f, 0.0f}};
  double total = 0;
  for (float v : gaussian_blur(row, 1.0).values) total += v;
  BOOST_CHECK_CLOSE(total, 1.0, 1e-4);
}

BOOST_AUTO_TEST_CASE(rotation_by_quarter_turns) {
  Map m{4, 4, {}};
  for (int i = 0; i < 16; ++i) m.values.push_back(float(i));
  const Map r = rotate_map(m, 90.0);  // counter-clockwise: the top row becomes the left column
  BOOST_CHECK_EQUAL(r.values[0 * 4 + 0], m.values[0 * 4 + 3]);
  BOOST_CHECK_EQUAL(r.values[3 * 4 + 0], m.values[0 * 4 + 0]);
  const Map back = rotate_map(r, -90.0);
  BOOST_CHECK(back.values == m.values);
}

BOOST_AUTO_TEST_CASE(defect_map_averages_absolute_blurred_gradients) {
  const int w = 16, h = 16;
  std::vector<float> g(3 * w * h, 0.0f);
  g[size_t(8 * w + 8)] = -3.0f;  // channel 0
  const Map m = defect_map({g, g}, {0.0, 0.0}, w, h, 1.0);
  double total = 0;
  for (float v : m.values) total += v;
  BOOST_CHECK_CLOSE(total, 3.0 / 3.0, 1e-3);  // |-3| spread by the blur, averaged over 3 channels
  const Map d = display_map(m);
  BOOST_CHECK_EQUAL(*std::max_element(d.values.begin(), d.values.end()), 1.0f);
  BOOST_CHECK_EQUAL(*std::min_element(d.values.begin(), d.values.end()), 0.0f);
}

BOOST_AUTO_TEST_CASE(npy_header_is_numpy_format_1_0) {
  const std::string b = npy_bytes({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  BOOST_CHECK_EQUAL(b.substr(0, 6), "\x93NUMPY");
  const size_t header_len = size_t(uint8_t(b[8])) | size_t(uint8_t(b[9])) << 8;
  BOOST_CHECK_EQUAL((10 + header_len) % 64, 0u);
  BOOST_CHECK_NE(b.find("'shape': (2, 3)"), std::string::npos);
  BOOST_CHECK_EQUAL(b.size(), 10 + header_len + 24);
  BOOST_CHECK_NE(npy_bytes({1.0f}, {1}).find("'shape': (1,)"), std::string::npos);
}
