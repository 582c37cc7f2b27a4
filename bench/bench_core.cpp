// Core benchmarks: a linear layer of the flow's subnets (whole, and its three
// GEMMs one by one), Adam over the flow's 172 million parameters, whole-tensor
// reductions over as many, and the CPU GEMMs of a convolution.
#include <cblas.h>
#include <omp.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/random.h"
#include "bench/bench.h"
#include "layers/adam.h"
#include "kernels/kernels.h"
#include "kernels/sgemm_avx512.h"

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
  state.set_floor(3.0 * 2.0 * double(batch) * double(in) * double(out), 0);
  state.measure([&] { sum(linear(x, w, b)).backward(); });
}

// The three GEMMs of one subnet Linear(in, out) at batch 96, timed one by one
// through kernels::cpu::gemm_parallel (the CPU engine's GEMM, all threads), so
// that each layout's share of the FMA peak is visible: forward y = x W^T
// (A B^T, 96 rows), input gradient g W (A B, 96 rows) and weight gradient
// g^T x (A^T B, depth 96, written with accumulate=false as the engine does on
// the first write of a step).
enum class LinearGemm { forward, input_grad, weight_grad };

void linear_gemm(BenchState& state, LinearGemm layout, int64_t in, int64_t out) {
  if (state.device() != Device::CPU) return;  // a CPU kernel: no row on other devices
  const int64_t batch = 96;
  Generator gen(5);
  const Tensor x = randn({batch, in}, gen, DType::Float32, Device::CPU);
  const Tensor w = randn({out, in}, gen, DType::Float32, Device::CPU, 0.0, 0.02);
  const Tensor g = randn({batch, out}, gen, DType::Float32, Device::CPU);
  Tensor c = Tensor::empty({layout == LinearGemm::weight_grad ? out : batch, layout == LinearGemm::forward ? out : in},
                           DType::Float32, Device::CPU);
  const float *xp = x.data<float>(), *wp = w.data<float>(), *gp = g.data<float>();
  float* cp = c.data<float>();
  const double flops = 2.0 * double(batch) * double(in) * double(out);
  state.set("batch", double(batch));
  state.set("in_features", double(in));
  state.set("out_features", double(out));
  state.set_flops(flops);
  state.set_floor(flops, 0);
  state.measure([&] {
    switch (layout) {
      case LinearGemm::forward:  // [96 x out] = x [96 x in] W^T
        kernels::cpu::gemm_parallel(false, true, batch, out, in, xp, in, wp, in, cp, out, false);
        break;
      case LinearGemm::input_grad:  // [96 x in] = g [96 x out] W [out x in]
        kernels::cpu::gemm_parallel(false, false, batch, in, out, gp, out, wp, in, cp, in, false);
        break;
      case LinearGemm::weight_grad:  // [out x in] = g^T [out x 96] x [96 x in]
        kernels::cpu::gemm_parallel(true, false, out, in, batch, gp, out, xp, in, cp, in, false);
        break;
    }
  });
}

DIFFERNET_BENCHMARK(linear_gemm_forward_2048x2048) { linear_gemm(state, LinearGemm::forward, 2048, 2048); }
DIFFERNET_BENCHMARK(linear_gemm_input_grad_2048x2048) { linear_gemm(state, LinearGemm::input_grad, 2048, 2048); }
DIFFERNET_BENCHMARK(linear_gemm_weight_grad_2048x2048) { linear_gemm(state, LinearGemm::weight_grad, 2048, 2048); }
// The subnets' first (in 384) and last (out 768) layers: the other input and
// weight gradient shapes of the flow step.
DIFFERNET_BENCHMARK(linear_gemm_input_grad_384x2048) { linear_gemm(state, LinearGemm::input_grad, 384, 2048); }
DIFFERNET_BENCHMARK(linear_gemm_weight_grad_384x2048) { linear_gemm(state, LinearGemm::weight_grad, 384, 2048); }
DIFFERNET_BENCHMARK(linear_gemm_input_grad_2048x768) { linear_gemm(state, LinearGemm::input_grad, 2048, 768); }
DIFFERNET_BENCHMARK(linear_gemm_weight_grad_2048x768) { linear_gemm(state, LinearGemm::weight_grad, 2048, 768); }

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
  state.set_floor(0, 7.0 * 4.0 * double(n));
  state.measure([&] { adam.step(); });
}

// sum() over all 172 million elements of a flat buffer the size of the flow's
// parameters (one row: the multi-block reduction). Memory-bound: 4 bytes read
// per element; the .item() read back is part of what a caller pays.
DIFFERNET_BENCHMARK(sum_all) {
  const int64_t n = state.quick() ? 8'000'000 : 172'000'000;
  Generator gen(0);
  const Tensor x = rand_uniform({n}, -1.0, 1.0, gen, DType::Float32, state.device());
  state.set("elements", double(n));
  state.set_bytes(4.0 * double(n));
  state.measure([&] { (void)sum(x).item(); });
}

// The non-finite guard of a training step: all_finite over the flow's flat
// gradients and parameters (2 x 172 million floats, one flag read back).
DIFFERNET_BENCHMARK(all_finite_flow) {
  const int64_t n = state.quick() ? 8'000'000 : 172'000'000;
  Generator gen(0);
  const Tensor g = rand_uniform({n}, -1.0, 1.0, gen, DType::Float32, state.device());
  const Tensor p = rand_uniform({n}, -1.0, 1.0, gen, DType::Float32, state.device());
  state.set("elements", 2.0 * double(n));
  state.set_bytes(8.0 * double(n));
  state.measure([&] { (void)all_finite({g, p}); });
}

// The GEMMs of AlexNet's second convolution at 448 px, one image, one thread:
// the CPU BLAS against kernels/sgemm_avx512.h. fwd: weight [192 x 1600] x
// im2col [1600 x 3025]; bwd: weight^T [1600 x 192] x gradient [192 x 3025].
void conv_gemm(BenchState& state, bool fast, bool backward) {
  if (state.device() != Device::CPU) return;  // a CPU kernel: no row on other devices
  DIFFERNET_CHECK(!fast || kernels::cpu::avx512_supported(), "no AVX-512F on this CPU");
  const int64_t m = backward ? 1600 : 192, n = 3025, k = backward ? 192 : 1600;
  Generator gen(3);
  const Tensor a = randn({backward ? k : m, backward ? m : k}, gen, DType::Float32, Device::CPU);
  const Tensor b = randn({k, n}, gen, DType::Float32, Device::CPU);
  Tensor c = Tensor::empty({m, n}, DType::Float32, Device::CPU);
  state.set("m", double(m));
  state.set("n", double(n));
  state.set("k", double(k));
  state.set_flops(2.0 * double(m * n * k));
  const int saved = openblas_get_num_threads(), saved_omp = omp_get_max_threads();
  openblas_set_num_threads(1);
  omp_set_num_threads(1);
  state.measure([&] {
    if (fast)
      kernels::cpu::gemm_fast(backward, false, m, n, k, a.data<float>(), backward ? m : k, b.data<float>(), n,
                              c.data<float>(), n, false);
    else
      kernels::cpu::gemm<float>(backward, false, m, n, k, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
  });
  openblas_set_num_threads(saved);
  omp_set_num_threads(saved_omp);
}

DIFFERNET_BENCHMARK(sgemm_conv2_fwd_blas) { conv_gemm(state, false, false); }
DIFFERNET_BENCHMARK(sgemm_conv2_fwd_avx512) { conv_gemm(state, true, false); }
DIFFERNET_BENCHMARK(sgemm_conv2_bwd_blas) { conv_gemm(state, false, true); }
DIFFERNET_BENCHMARK(sgemm_conv2_bwd_avx512) { conv_gemm(state, true, true); }

}  // namespace differnet::bench
