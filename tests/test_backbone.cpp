// Backbones and the multi-scale feature extractor: torchvision parameter names,
// state-dict loading and its errors, AlexNet's map sizes at 448/224/112, the
// input gradient through the frozen extractor (finite differences, no weight
// gradients), and golden values from PyTorch (scripts/make_backbone_golden.py).
#define BOOST_TEST_MODULE backbone
#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "autograd/ops_conv.h"
#include "layers/alexnet.h"
#include "layers/feature_extractor.h"
#include "layers/squeezenet.h"
#include "layers/state_dict.h"
#include "test_support.h"
#include "weights/safetensors.h"

using namespace differnet;
using namespace differnet::testing;

namespace {

const std::string kFixtures = std::string(DIFFERNET_SOURCE_DIR) + "/tests/fixtures/backbone/";
const std::string kSharedWeights = std::string(DIFFERNET_SHARED_DIR) + "/weights/";

std::map<std::string, Tensor> read_fixture(const std::string& name) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, raw] : weights::read_safetensors(kFixtures + name).tensors)
    out[key] = Tensor::from_vector(weights::as_float32(raw), raw.shape);
  return out;
}

// A checkpoint-like map of the module's own parameters (values as float32).
weights::RawTensorMap state_of(const Module& m, const std::string& prefix = "") {
  weights::RawTensorMap out;
  for (const auto& [name, p] : m.named_parameters()) out.emplace_back(prefix + name, weights::make_float32_tensor(p.shape(), p.to(DType::Float32).to_vector<float>()));
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool shared_weights_present(const std::string& file) {
  if (std::filesystem::exists(kSharedWeights + file)) return true;
  BOOST_TEST_MESSAGE("skipped: " << kSharedWeights << file << " is absent");
  return false;
}

// Float32 outputs against PyTorch: every element within 1e-4 relative, with an
// absolute floor at 1e-4 of the largest magnitude (near-zero sums cancel).
void check_matches_torch(const Tensor& ours, const Tensor& torch_values, const char* what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE(ours.shape() == torch_values.shape());
    const auto a = values(ours), b = values(torch_values);
    double scale = 0;
    for (double v : b) scale = std::max(scale, std::abs(v));
    BOOST_CHECK_LE(worst_error_ratio(a, b, 1e-4 * scale, 1e-4), 1.0);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(parameter_names_are_torchvisions) {
  const auto alexnet = make_backbone("alexnet");
  std::vector<std::string> names;
  for (const auto& [name, p] : alexnet->named_parameters()) names.push_back(name);
  const std::vector<std::string> expected{"features.0.weight",  "features.0.bias",  "features.3.weight",
                                          "features.3.bias",    "features.6.weight", "features.6.bias",
                                          "features.8.weight",  "features.8.bias",  "features.10.weight",
                                          "features.10.bias"};
  BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), expected.begin(), expected.end());
  BOOST_CHECK(alexnet->named_parameters()[0].second.shape() == (Shape{64, 3, 11, 11}));
  BOOST_CHECK_EQUAL(alexnet->feature_channels(), 256);

  const auto squeezenet = make_backbone("squeezenet1_1");
  const auto sq = squeezenet->named_parameters();
  BOOST_CHECK_EQUAL(sq.size(), 50u);
  BOOST_CHECK_EQUAL(sq[2].first, "features.3.squeeze.weight");
  BOOST_CHECK_EQUAL(sq[4].first, "features.3.expand1x1.weight");
  BOOST_CHECK_EQUAL(sq[6].first, "features.3.expand3x3.weight");
  BOOST_CHECK_EQUAL(sq.back().first, "features.12.expand3x3.bias");
  BOOST_CHECK(sq.back().second.shape() == (Shape{256}));
  BOOST_CHECK_EQUAL(squeezenet->feature_channels(), 512);
  for (const auto& [name, p] : sq) BOOST_CHECK(!p.requires_grad());  // frozen
}

BOOST_AUTO_TEST_CASE(unknown_backbone_lists_the_known_ones) {
  const std::string msg = error_of([] { make_backbone("resnet18"); });
  BOOST_CHECK(msg.find("resnet18") != std::string::npos);
  BOOST_CHECK(msg.find("alexnet") != std::string::npos);
  BOOST_CHECK(msg.find("squeezenet1_1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(state_dict_loads_with_or_without_features_prefix) {
  const auto source = make_backbone("squeezenet1_1", 1);
  for (const char* strip : {"", "features."}) {
    weights::RawTensorMap state;
    for (auto& [name, raw] : state_of(*source)) state.emplace_back(name.substr(std::string(strip).size()), raw);
    const auto target = make_backbone("squeezenet1_1", 2);
    load_state_dict(*target, state, "file.pth");
    const auto a = source->named_parameters(), b = target->named_parameters();
    for (size_t i = 0; i < a.size(); ++i) DIFFERNET_CHECK_CLOSE_VECTORS(values(b[i].second), values(a[i].second), 0, 0);
  }
}

BOOST_AUTO_TEST_CASE(state_dict_errors_name_every_problem_and_the_file) {
  const auto model = make_backbone("alexnet");
  weights::RawTensorMap state = state_of(*model);
  state.erase(state.begin() + 1);  // features.0.bias missing
  for (auto& [name, raw] : state)
    if (name == "features.6.weight") raw.shape = {256, 192, 3, 3};  // mis-shaped
  state.emplace_back("features.12.weight", weights::make_float32_tensor({1}, {0}));  // extra
  const Tensor before = model->named_parameters()[0].second.clone();
  const std::string msg = error_of([&] { load_state_dict(*model, state, "broken.pth"); });
  BOOST_TEST_MESSAGE(msg);
  for (const char* part : {"broken.pth", "features.0.bias", "features.6.weight", "[256, 192, 3, 3]", "[384, 192, 3, 3]",
                           "features.12.weight"})
    BOOST_CHECK_MESSAGE(msg.find(part) != std::string::npos, "'" << part << "' not in: " << msg);
  // Nothing was written.
  DIFFERNET_CHECK_CLOSE_VECTORS(values(model->named_parameters()[0].second), values(before), 0, 0);
}

BOOST_AUTO_TEST_CASE(alexnet_map_sizes_at_448_224_112) {
  const auto alexnet = make_backbone("alexnet", 3);
  const FeatureExtractor extractor(alexnet);
  BOOST_CHECK(extractor.scale_sizes() == (std::vector<int64_t>{448, 224, 112}));
  BOOST_CHECK_EQUAL(extractor.feature_dim(), 768);
  for (auto [size, map] : {std::pair{448, 13}, std::pair{224, 6}, std::pair{112, 2}})
    BOOST_CHECK(alexnet->forward(random_tensor({1, 3, size, size}, 5, -2, 2, DType::Float32)).shape() ==
                (Shape{1, 256, map, map}));
}

// The extractor is backbone -> global average per scale, concatenated largest first.
BOOST_AUTO_TEST_CASE(extractor_concatenates_the_pooled_scales) {
  const auto alexnet = make_backbone("alexnet", 3);
  const FeatureExtractor extractor(alexnet, 256, 3);
  const Tensor x = random_tensor({2, 3, 256, 256}, 5, -2, 2, DType::Float32);
  std::vector<Tensor> pooled;
  for (int64_t size : {256, 128, 64})
    pooled.push_back(global_avg_pool2d(alexnet->forward(size == 256 ? x : resize_nearest2d(x, size, size))));
  const Tensor features = extractor.forward(x);
  BOOST_REQUIRE(features.shape() == (Shape{2, 768}));
  DIFFERNET_CHECK_CLOSE_VECTORS(values(features), values(concat(pooled, 1)), 0, 0);
}

BOOST_AUTO_TEST_CASE(squeezenet_extractor_gives_three_times_512) {
  const FeatureExtractor extractor(make_backbone("squeezenet1_1", 4), 128, 3);
  BOOST_CHECK_EQUAL(extractor.feature_dim(), 1536);
  BOOST_CHECK(extractor.forward(random_tensor({2, 3, 128, 128}, 6, -1, 1, DType::Float32)).shape() == (Shape{2, 1536}));
  BOOST_CHECK_THROW(FeatureExtractor(make_backbone("alexnet"), 100, 4), Error);  // 100 / 8 is not whole
}

// Backward from a scalar through the frozen extractor: the input gradient
// matches finite differences and no parameter gets a gradient.
BOOST_AUTO_TEST_CASE(input_gradient_through_the_frozen_extractor) {
  // The smallest inputs each backbone takes at two scales.
  for (auto [name, size] : {std::pair{"alexnet", 128}, std::pair{"squeezenet1_1", 64}}) {
    BOOST_TEST_CONTEXT(name) {
      const FeatureExtractor extractor(make_backbone(name, 7, DType::Float64), size, 2);
      const Tensor x = random_tensor({1, 3, size, size}, 8).set_requires_grad(true);
      const Tensor w = random_tensor({1, extractor.feature_dim()}, 9);
      auto loss = [&](const Tensor& input) { return sum(mul(extractor.forward(input), w)); };
      loss(x).backward();
      for (const auto& [pname, p] : extractor.named_parameters()) BOOST_CHECK_MESSAGE(!p.has_grad(), pname);
      const auto analytic = values(x.grad());
      double* data = x.data<double>();
      const double eps = 1e-6;
      int checked = 0;
      for (size_t i = 17; i < analytic.size(); i += analytic.size() / 10 + 1, ++checked) {
        const double saved = data[i];
        data[i] = saved + eps;
        const double up = loss(x.detach()).item();
        data[i] = saved - eps;
        const double down = loss(x.detach()).item();
        data[i] = saved;
        BOOST_TEST_CONTEXT("pixel " << i) {
          DIFFERNET_CHECK_CLOSE_VECTORS(std::vector<double>{analytic[i]}, std::vector<double>{(up - down) / (2 * eps)},
                                        1e-7, 1e-5);
        }
      }
      BOOST_CHECK_GE(checked, 10);
    }
  }
}

BOOST_AUTO_TEST_CASE(small_network_matches_pytorch) {
  auto t = read_fixture("small_net.safetensors");
  Tensor x = t["x"].clone().set_requires_grad(true);
  Tensor h = max_pool2d(relu(conv2d(x, t["conv_a.weight"], t["conv_a.bias"], 4, 2)), 3, 2, 0, true);
  const Tensor s = relu(conv2d(h, t["squeeze.weight"], t["squeeze.bias"]));
  h = concat({relu(conv2d(s, t["expand1x1.weight"], t["expand1x1.bias"])),
              relu(conv2d(s, t["expand3x3.weight"], t["expand3x3.bias"], 1, 1))},
             1);
  h = max_pool2d(h, 3, 2);
  h = max_pool2d(relu(conv2d(h, t["conv_c.weight"], t["conv_c.bias"], 1, 1)), 2, 2, 1, true);
  const Tensor y = global_avg_pool2d(h);
  check_matches_torch(y, t["y"], "output");
  sum(mul(y, t["w"])).backward();
  check_matches_torch(x.grad(), t["grad_x"], "input gradient");
}

BOOST_AUTO_TEST_CASE(squeezenet_with_imagenet_weights_matches_torchvision) {
  auto t = read_fixture("squeezenet1_1_features.safetensors");
  for (const char* file : {"squeezenet1_1-features.pth", "squeezenet1_1-features-legacy.pth"}) {
    if (!shared_weights_present(file)) return;
    BOOST_TEST_CONTEXT(file) {
      const auto backbone = make_backbone("squeezenet1_1");
      load_backbone_weights(*backbone, kSharedWeights + file);
      const Tensor x = t["x"].clone().set_requires_grad(true);
      const Tensor fmap = backbone->forward(x);
      BOOST_CHECK(fmap.shape() == (Shape{1, 512, 3, 3}));
      check_matches_torch(fmap, t["feature_map"], "feature map");
      const Tensor pooled = global_avg_pool2d(fmap);
      check_matches_torch(pooled, t["pooled"], "pooled features");
      sum(mul(pooled, t["w"])).backward();
      check_matches_torch(x.grad(), t["grad_x"], "input gradient");
    }
  }
}

// The whole multi-scale extractor (nearest resizes, backbone, pooling, concat) against PyTorch.
BOOST_AUTO_TEST_CASE(squeezenet_extractor_matches_pytorch) {
  if (!shared_weights_present("squeezenet1_1-features.pth")) return;
  auto t = read_fixture("squeezenet1_1_extractor.safetensors");
  const auto backbone = make_backbone("squeezenet1_1");
  load_backbone_weights(*backbone, kSharedWeights + "squeezenet1_1-features.pth");
  const FeatureExtractor extractor(backbone, 128, 3);
  const Tensor x = t["x"].clone().set_requires_grad(true);
  const Tensor features = extractor.forward(x);
  check_matches_torch(features, t["features"], "features");
  sum(mul(features, t["w"])).backward();
  check_matches_torch(x.grad(), t["grad_x"], "input gradient");
}

BOOST_AUTO_TEST_CASE(alexnet_weights_load_when_present) {
  const std::string path = std::string(DIFFERNET_SOURCE_DIR) + "/weights/alexnet-features.safetensors";
  if (!std::filesystem::exists(path)) {
    BOOST_TEST_MESSAGE("skipped: " << path << " is absent (weights/fetch_alexnet.sh makes it)");
    return;
  }
  const auto backbone = make_backbone("alexnet");
  load_backbone_weights(*backbone, path);
  const Tensor features = FeatureExtractor(backbone, 112, 1).forward(random_tensor({1, 3, 112, 112}, 3, -2, 2, DType::Float32));
  for (double v : values(features)) BOOST_CHECK(std::isfinite(v) && v >= 0);
}
