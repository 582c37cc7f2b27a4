// Matrix products through BLAS (CPU) and cuBLAS (CUDA): matmul and linear.
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "kernels/sgemm_avx512.h"

namespace differnet {
namespace {

// c = op(a) @ op(b) (+ c when accumulate), then the epilogue (CPU float32
// only: + bias per column, ReLU), on the tensors' device. CPU float32 runs
// kernels::cpu::gemm_parallel (OpenMP's threads: our AVX-512 GEMM or the BLAS
// on column chunks), float64 the BLAS.
void gemm(const char* name, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const Tensor& a, const Tensor& b,
          bool accumulate, Tensor& c, const kernels::cpu::GemmEpilogue* epilogue = nullptr) {
  if (a.device() == Device::CPU) {
    if (a.dtype() == DType::Float32) {
      kernels::cpu::gemm_parallel(ta, tb, m, n, k, a.data<float>(), ta ? m : k, b.data<float>(), tb ? k : n,
                                  c.data<float>(), n, accumulate, epilogue);
      return;
    }
    DIFFERNET_CHECK(!epilogue, name, ": no fused epilogue on this path");
    detail::dispatch_floating(name, a, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), b.data<T>(), T(accumulate ? 1 : 0), c.data<T>());
    });
  } else {
    DIFFERNET_CHECK(!epilogue, name, ": no fused epilogue on this path");
    detail::check_cuda_float32(name, a);
    DIFFERNET_ON_CUDA(kernels::cuda::gemm(ta, tb, m, n, k, 1.f, a.data<float>(), b.data<float>(),
                                          accumulate ? 1.f : 0.f, c.data<float>()));
  }
}

void check_matrices(const char* name, const Tensor& a, const Tensor& b) {
  check_defined(name, a, "first operand");
  check_defined(name, b, "second operand");
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  DIFFERNET_CHECK(a.dim() == 2 && b.dim() == 2, name, ": needs 2-D tensors, got ", a.describe(), " and ",
                  b.describe());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_matrices("matmul", a, b);
  const int64_t m = ta ? a.size(1) : a.size(0), k = ta ? a.size(0) : a.size(1);
  const int64_t kb = tb ? b.size(1) : b.size(0), n = tb ? b.size(0) : b.size(1);
  DIFFERNET_CHECK(k == kb, "matmul: inner sizes differ: ", a.describe(), (ta ? " (transposed)" : ""), " @ ",
                  b.describe(), (tb ? " (transposed)" : ""));
  Tensor c = Tensor::empty({m, n}, a.dtype(), a.device());
  gemm("matmul", ta, tb, m, n, k, a, b, false, c);
  const Tensor a_saved = a.detach(), b_saved = b.detach();
  record("matmul", {a, b}, {&c}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
    if (!g[0].defined()) return {Tensor(), Tensor()};
    Tensor ga, gb;
    // C = A B: dA = dC B^T, dB = A^T dC; the transposed cases follow by symmetry.
    if (needs[0]) ga = ta ? matmul(b_saved, g[0], tb, true) : matmul(g[0], b_saved, false, !tb);
    if (needs[1]) gb = tb ? matmul(g[0], a_saved, true, ta) : matmul(a_saved, g[0], !ta, false);
    return {ga, gb};
  });
  return c;
}

namespace {

// x W^T + b, then max(0, .) with relu: linear and linear_relu.
Tensor linear_op(const char* name, const Tensor& x, const Tensor& weight, const Tensor& bias, bool relu) {
  check_matrices(name, x, weight);
  DIFFERNET_CHECK(x.size(1) == weight.size(1), name, ": input ", x.describe(), " has ", x.size(1),
                  " features but weight ", weight.describe(), " expects ", weight.size(1));
  const int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  if (bias.defined()) {
    check_same_device(name, x, bias);
    check_same_dtype(name, x, bias);
    DIFFERNET_CHECK(bias.shape() == Shape{out}, name, ": bias ", bias.describe(), " does not match weight ",
                    weight.describe());
  }
  Tensor y = Tensor::empty({batch, out}, x.dtype(), x.device());
  if (x.device() == Device::CPU && x.dtype() == DType::Float32) {
    // Bias and ReLU in the GEMM's epilogue: y is written once (or, on the
    // BLAS, finished chunk by chunk while in cache).
    kernels::cpu::GemmEpilogue epilogue;
    epilogue.bias = bias.defined() ? bias.data<float>() : nullptr;
    epilogue.relu = relu;
    gemm(name, false, true, batch, out, in, x, weight, false, y, &epilogue);
  } else {
    if (bias.defined()) {  // y = bias broadcast over rows, then y += x W^T in the GEMM
      y.fill_(0.0);
      if (x.device() == Device::CPU) {
        detail::dispatch_floating(name, x, [&](auto tag) {
          using T = decltype(tag);
          kernels::cpu::add_row_vector<T>(y.data<T>(), bias.data<T>(), batch, out);
        });
      } else {
        DIFFERNET_ON_CUDA(kernels::cuda::add_row_vector(y.data<float>(), bias.data<float>(), batch, out));
      }
    }
    gemm(name, false, true, batch, out, in, x, weight, bias.defined(), y);
    if (relu) {  // in place
      if (x.device() == Device::CPU) {
        detail::dispatch_floating(name, x, [&](auto tag) {
          using T = decltype(tag);
          kernels::cpu::unary<T>(kernels::UnaryOp::Relu, y.data<T>(), y.data<T>(), y.numel(), T(0));
        });
      } else {
        DIFFERNET_ON_CUDA(
            kernels::cuda::unary(kernels::UnaryOp::Relu, y.data<float>(), y.data<float>(), y.numel(), 0.f));
      }
    }
  }
  const Tensor x_saved = x.detach(), w_saved = weight.detach(), y_saved = relu ? y.detach() : Tensor();
  const Tensor weight_leaf = weight;  // the parameter itself: its gradient buffer may take the weight gradient
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  record(name, inputs, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
    std::vector<Tensor> grads(needs.size());
    if (!g[0].defined()) return grads;
    Tensor gy = g[0];
    const bool bias_grad = needs.size() > 2 && needs[2];
    if (gy.device() == Device::CPU) {
      // One pass for the gradient before the ReLU (zero where y = 0: y > 0
      // exactly where the sum was) and the bias gradient (its column sums).
      if (relu) gy = Tensor::empty(g[0].shape(), g[0].dtype(), g[0].device());
      if (bias_grad) grads[2] = Tensor::empty({out}, g[0].dtype(), g[0].device());
      if (relu || bias_grad)
        detail::dispatch_floating(name, gy, [&](auto tag) {
          using T = decltype(tag);
          kernels::cpu::linear_backward_epilogue<T>(g[0].data<T>(), relu ? y_saved.data<T>() : nullptr,
                                                    relu ? gy.data<T>() : nullptr,
                                                    bias_grad ? grads[2].data<T>() : nullptr, batch, out);
        });
    } else {
      if (relu) {
        gy = Tensor::empty(g[0].shape(), g[0].dtype(), g[0].device());
        DIFFERNET_ON_CUDA(kernels::cuda::unary_backward(kernels::UnaryOp::Relu, y_saved.data<float>(),
                                                        y_saved.data<float>(), g[0].data<float>(),
                                                        gy.data<float>(), gy.numel(), 0.f));
      }
      if (bias_grad) grads[2] = sum(gy, 0);  // [out]
    }
    if (needs[0]) grads[0] = matmul(gy, w_saved);  // [batch, out] @ [out, in]
    if (needs[1]) {                                // [out, batch] @ [batch, in]
      // A leaf weight that already has a gradient buffer (Adam's flat one) gets
      // g^T x added in the GEMM itself (beta = 1), or written over it (beta =
      // 0) when zero_grad() left it pending: no temporary, no extra pass. That
      // is exactly the engine's accumulation, done in place.
      if (weight_leaf.is_leaf() && weight_leaf.has_grad() && weight_leaf.impl().grad->dtype == gy.dtype()) {
        bool add = true;
        Tensor wgrad = weight_leaf.grad_for_write(add);
        gemm(name, true, false, out, in, batch, gy, x_saved, add, wgrad);
      } else {
        grads[1] = matmul(gy, x_saved, true, false);
      }
    }
    return grads;
  });
  return y;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_op("linear", x, weight, bias, false);
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_op("linear_relu", x, weight, bias, true);
}

}  // namespace differnet
