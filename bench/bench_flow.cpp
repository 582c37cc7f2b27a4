// Flow benchmarks: the affine coupling's forward + backward, fused (one
// kernel each way) against the same math in core ops, at the paper's batch
// (96 samples, 768 features: half 384); and one full training step of the
// paper's flow (forward, NLL, backward, Adam). bench/torch_baseline.py times
// the same training step in PyTorch under the same name.
#include <algorithm>
#include <cstdlib>

#include "autograd/ops.h"
#include "autograd/random.h"
#include "bench/bench.h"
#include "flow/coupling_op.h"
#include "flow/flow.h"
#include "layers/adam.h"

namespace differnet::bench {

double linear_weights(const Module& flow) {
  double weights = 0;
  for (const Tensor& p : flow.parameters())
    if (p.dim() == 2) weights += double(p.numel());
  return weights;
}

namespace {

constexpr int64_t kBatch = 96;

void coupling_benchmark(BenchState& state, CouplingResult (*op)(const Tensor&, const Tensor&, double)) {
  const int64_t half = 384;
  Generator gen(0);
  Tensor x = randn({kBatch, half}, gen, DType::Float32, state.device()).set_requires_grad(true);
  Tensor r = randn({kBatch, 2 * half}, gen, DType::Float32, state.device()).set_requires_grad(true);
  const Tensor gy = randn({kBatch, half}, gen, DType::Float32, state.device());
  const Tensor gl = randn({kBatch}, gen, DType::Float32, state.device());
  state.set("batch", double(kBatch));
  state.set("half", double(half));
  // Bytes a single pass must move: x, s, t, y, clamped y, log-det forward;
  // x, s, t, dy, dlog-det in and dx, ds, dt out backward.
  state.set_bytes(4.0 * (double(kBatch * half) * 5 + kBatch + double(kBatch * half) * 7 + kBatch));
  state.measure([&] {
    const CouplingResult out = op(x, r, 3.0);
    add(sum(mul(out.y_clamped, gy)), sum(mul(out.log_det, gl))).backward();
  });
}

}  // namespace

DIFFERNET_BENCHMARK(coupling_fused_fwd_bwd) { coupling_benchmark(state, &coupling_affine); }

DIFFERNET_BENCHMARK(coupling_unfused_fwd_bwd) { coupling_benchmark(state, &coupling_affine_unfused); }

// One training step of the paper's flow (8 blocks, 768 features, hidden 2048:
// 172M parameters) at batch 96, with DifferNet's Adam settings. --quick: hidden 256;
// DIFFERNET_BENCH_FLOW_HIDDEN=N picks another width (the CPU demo's is 512).
DIFFERNET_BENCHMARK(flow_train_step) {
  FlowConfig config;
  if (state.quick()) config.hidden = 256;
  if (const char* env = std::getenv("DIFFERNET_BENCH_FLOW_HIDDEN")) config.hidden = std::max(1L, std::atol(env));
  DifferNetFlow flow(config, DType::Float32, state.device());
  Adam adam(flow.parameters(), AdamOptions::differnet());
  Generator gen(1);
  const Tensor y = randn({kBatch, config.dims}, gen, DType::Float32, state.device());
  const double weights = linear_weights(flow);
  state.set("batch", double(kBatch));
  state.set("parameters", double(adam.num_elements()));
  state.set("hidden", double(config.hidden));
  state.set_flops(6.0 * kBatch * weights);  // forward GEMM + two backward GEMMs per Linear
  // Floor: the GEMMs at the FMA peak plus Adam's 7 x 4 bytes per parameter at
  // the streaming bandwidth (docs/performance.md counts both).
  state.set_floor(6.0 * kBatch * weights, 28.0 * double(adam.num_elements()));
  state.measure([&] {
    adam.zero_grad();
    const FlowOutput out = flow.forward(y);
    nll_loss(out.z, out.log_jac_det).backward();
    adam.step();
  });
}

}  // namespace differnet::bench
