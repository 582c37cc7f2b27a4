// The seeded generator: same seed, same numbers; sensible distributions.
#define BOOST_TEST_MODULE random
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "autograd/random.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

BOOST_AUTO_TEST_CASE(same_seed_same_numbers) {
  Generator a(42), b(42), c(43);
  const auto x = randn({1001}, a).to_vector<float>();
  BOOST_CHECK(x == randn({1001}, b).to_vector<float>());
  BOOST_CHECK(x != randn({1001}, c).to_vector<float>());
  BOOST_CHECK(x != randn({1001}, a).to_vector<float>());  // the stream moves on
}

BOOST_AUTO_TEST_CASE(state_is_seed_and_offset) {
  Generator a(7);
  randn({10}, a);
  Generator b(a.seed(), a.offset());
  BOOST_CHECK(randn({5}, a).to_vector<float>() == randn({5}, b).to_vector<float>());
}

BOOST_AUTO_TEST_CASE(distributions) {
  Generator gen(1);
  const auto n = values(randn({200000}, gen, DType::Float64));
  double mean = 0, var = 0;
  for (double v : n) mean += v / double(n.size());
  for (double v : n) var += (v - mean) * (v - mean) / double(n.size());
  BOOST_CHECK_SMALL(mean, 0.01);
  BOOST_CHECK_CLOSE(var, 1.0, 2.0);
  const auto u = values(rand_uniform({100000}, -2.0, 3.0, gen, DType::Float64));
  double lo = 1e9, hi = -1e9, um = 0;
  for (double v : u) lo = std::min(lo, v), hi = std::max(hi, v), um += v / double(u.size());
  BOOST_CHECK_GE(lo, -2.0);
  BOOST_CHECK_LT(hi, 3.0);
  BOOST_CHECK_CLOSE(um, 0.5, 3.0);
}
