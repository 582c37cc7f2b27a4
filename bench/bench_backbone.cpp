// Backbone benchmarks: DifferNet's three-scale AlexNet features (448, 224, 112,
// frozen backbone) for a batch of images, forward only and forward + the
// gradient of the input pixels (what the localisation of paper eq. 7 costs).
// Batch 96 (the paper's training batch) by default; --quick: 2 images;
// DIFFERNET_BENCH_BACKBONE_BATCH=N picks another (a 2-core CPU takes seconds
// per image at 96). Divide median_ms by "batch" for the time per image.
// bench/torch_baseline.py (--filter alexnet3) times the same in PyTorch.
#include <cstdlib>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/ops_conv.h"
#include "autograd/random.h"
#include "bench/bench.h"
#include "layers/feature_extractor.h"

namespace differnet::bench {

double alexnet_conv_flops(int64_t size) {
  struct Layer { int64_t in, out, k, s, p; bool pool_after; };
  const Layer layers[] = {{3, 64, 11, 4, 2, true}, {64, 192, 5, 1, 2, true}, {192, 384, 3, 1, 1, false},
                          {384, 256, 3, 1, 1, false}, {256, 256, 3, 1, 1, true}};
  double flops = 0;
  for (const Layer& l : layers) {
    size = (size + 2 * l.p - l.k) / l.s + 1;
    flops += 2.0 * double(l.out * l.in * l.k * l.k) * double(size * size);
    if (l.pool_after) size = (size - 3) / 2 + 1;
  }
  return flops;
}

double feature_flops(const FeatureExtractor& extractor) {
  double flops = 0;
  for (int64_t s : extractor.scale_sizes()) flops += alexnet_conv_flops(s);
  return flops;
}

namespace {

int64_t backbone_batch(const BenchState& state) {
  if (const char* env = std::getenv("DIFFERNET_BENCH_BACKBONE_BATCH")) return std::max(1L, std::atol(env));
  return state.quick() ? 2 : 96;
}

void alexnet_three_scales(BenchState& state, bool input_gradient) {
  const int64_t batch = backbone_batch(state), size = 448;
  const FeatureExtractor extractor(make_backbone("alexnet", 0, DType::Float32, state.device()), size, 3);
  Generator gen(0);
  Tensor x = randn({batch, 3, size, size}, gen, DType::Float32, state.device());
  const Tensor w = randn({batch, extractor.feature_dim()}, gen, DType::Float32, state.device());
  state.set("batch", double(batch));
  state.set("image_size", double(size));
  // The input gradient costs one more pass of the same size (no weight gradients).
  const double flops = double(batch) * feature_flops(extractor) * (input_gradient ? 2.0 : 1.0);
  state.set_flops(flops);
  state.set_floor(flops, 0);
  if (input_gradient) {
    x.set_requires_grad(true);
    state.measure([&] { sum(mul(extractor.forward(x), w)).backward(); });
  } else {
    state.measure([&] {
      NoGradGuard no_grad;
      extractor.forward(x);
    });
  }
}

}  // namespace

// One convolution of AlexNet (with its ReLU, as the backbone runs it) at the
// 448-pixel scale: where the time of the three-scale pass goes, layer by layer.
struct AlexNetLayer {
  int64_t in, out, k, s, p, size;  // size: the input's height and width at 448 px
};
constexpr AlexNetLayer kAlexNetLayers[] = {
    {3, 64, 11, 4, 2, 448}, {64, 192, 5, 1, 2, 55}, {192, 384, 3, 1, 1, 27}, {384, 256, 3, 1, 1, 27}, {256, 256, 3, 1, 1, 27}};

void alexnet_layer(BenchState& state, int index, bool input_gradient) {
  const AlexNetLayer& l = kAlexNetLayers[index];
  const int64_t batch = backbone_batch(state);
  Generator gen(1);
  Tensor x = randn({batch, l.in, l.size, l.size}, gen, DType::Float32, state.device());
  const Tensor w = mul_scalar(randn({l.out, l.in, l.k, l.k}, gen, DType::Float32, state.device()), 0.05);
  const Tensor b = randn({l.out}, gen, DType::Float32, state.device());
  const int64_t o = (l.size + 2 * l.p - l.k) / l.s + 1;
  const Tensor gy = randn({batch, l.out, o, o}, gen, DType::Float32, state.device());
  state.set("batch", double(batch));
  state.set("layer", double(index + 1));
  const double flops = 2.0 * double(batch * l.out * l.in * l.k * l.k * o * o);
  state.set_flops(flops * (input_gradient ? 2.0 : 1.0));
  state.set_floor(flops * (input_gradient ? 2.0 : 1.0), 0);
  if (input_gradient) {
    x.set_requires_grad(true);
    state.measure([&] { conv2d_relu(x, w, b, l.s, l.p).backward(gy); });
  } else {
    state.measure([&] {
      NoGradGuard no_grad;
      conv2d_relu(x, w, b, l.s, l.p);
    });
  }
}

DIFFERNET_BENCHMARK(alexnet_conv1_fwd) { alexnet_layer(state, 0, false); }
DIFFERNET_BENCHMARK(alexnet_conv2_fwd) { alexnet_layer(state, 1, false); }
DIFFERNET_BENCHMARK(alexnet_conv3_fwd) { alexnet_layer(state, 2, false); }
DIFFERNET_BENCHMARK(alexnet_conv4_fwd) { alexnet_layer(state, 3, false); }
DIFFERNET_BENCHMARK(alexnet_conv5_fwd) { alexnet_layer(state, 4, false); }
DIFFERNET_BENCHMARK(alexnet_conv1_fwd_input_grad) { alexnet_layer(state, 0, true); }
DIFFERNET_BENCHMARK(alexnet_conv2_fwd_input_grad) { alexnet_layer(state, 1, true); }
DIFFERNET_BENCHMARK(alexnet_conv3_fwd_input_grad) { alexnet_layer(state, 2, true); }
DIFFERNET_BENCHMARK(alexnet_conv4_fwd_input_grad) { alexnet_layer(state, 3, true); }
DIFFERNET_BENCHMARK(alexnet_conv5_fwd_input_grad) { alexnet_layer(state, 4, true); }

DIFFERNET_BENCHMARK(alexnet3_features_fwd) { alexnet_three_scales(state, false); }

DIFFERNET_BENCHMARK(alexnet3_features_fwd_input_grad) { alexnet_three_scales(state, true); }

}  // namespace differnet::bench
