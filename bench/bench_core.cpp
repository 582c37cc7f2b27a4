// Core benchmarks: a linear layer of the flow's subnets, and Adam over the
// flow's 172 million parameters.
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/random.h"
#include "bench/bench.h"
#include "layers/adam.h"

namespace differnet::bench {

// One Linear(2048, 2048) of a subnet at batch 96: forward and backward
// (input, weight and bias gradients): 3 GEMMs of 2*96*2048*2048 FLOPs.
DIFFERNET_BENCHMARK(linear_fwd_bwd) {
  const int64_t batch = 96, in = 2048, out = 2048;
  Generator gen(0);
  Tensor x = randn({batch, in}, gen, DType::Float32, state.device());
  Tensor w = randn({out, in}, gen, DType::Float32, state.device(), 0.0, 0.02);
  Tensor b = randn({out}, gen, DType::Float32, state.device(), 0.0, 0.02);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  state.set("batch", double(batch));
  state.set("in_features", double(in));
  state.set("out_features", double(out));
  state.set_flops(3.0 * 2.0 * double(batch) * double(in) * double(out));
  state.measure([&] { sum(linear(x, w, b)).backward(); });
}

// The fused Adam update over one flat buffer of 172 million float32
// parameters (the DifferNet flow). Memory-bound: it reads p, g, m, v and
// writes p, m, v: 7 x 4 bytes per parameter.
DIFFERNET_BENCHMARK(adam_step) {
  const int64_t n = state.quick() ? 8'000'000 : 172'000'000;
  Generator gen(0);
  Tensor p = randn({n}, gen, DType::Float32, state.device(), 0.0, 0.02);
  p.set_requires_grad(true);
  Adam adam({p}, AdamOptions::differnet());
  Tensor g = randn({n}, gen, DType::Float32, state.device(), 0.0, 0.01);
  p.grad().copy_(g);
  state.set("parameters", double(n));
  state.set_bytes(7.0 * 4.0 * double(n));
  state.measure([&] { adam.step(); });
}

}  // namespace differnet::bench
