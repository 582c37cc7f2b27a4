// Matrix products through BLAS (CPU) and cuBLAS (CUDA): matmul and linear.
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {
namespace {

// c = alpha * op(a) @ op(b) + beta * c, row-major, on the tensors' device.
void gemm(const char* name, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const Tensor& a, const Tensor& b,
          double beta, Tensor& c) {
  if (a.device() == Device::CPU) {
    detail::dispatch_floating(name, a, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), b.data<T>(), T(beta), c.data<T>());
    });
  } else {
    detail::check_cuda_float32(name, a);
    DIFFERNET_ON_CUDA(kernels::cuda::gemm(ta, tb, m, n, k, 1.f, a.data<float>(), b.data<float>(), float(beta),
                                          c.data<float>()));
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
  gemm("matmul", ta, tb, m, n, k, a, b, 0.0, c);
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

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_matrices("linear", x, weight);
  DIFFERNET_CHECK(x.size(1) == weight.size(1), "linear: input ", x.describe(), " has ", x.size(1),
                  " features but weight ", weight.describe(), " expects ", weight.size(1));
  const int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  Tensor y = Tensor::empty({batch, out}, x.dtype(), x.device());
  if (bias.defined()) {
    check_same_device("linear", x, bias);
    check_same_dtype("linear", x, bias);
    DIFFERNET_CHECK(bias.shape() == Shape{out}, "linear: bias ", bias.describe(), " does not match weight ",
                    weight.describe());
    // y = bias broadcast over rows, then y += x W^T in the GEMM (beta = 1).
    y.fill_(0.0);
    if (x.device() == Device::CPU) {
      detail::dispatch_floating("linear", x, [&](auto tag) {
        using T = decltype(tag);
        kernels::cpu::add_row_vector<T>(y.data<T>(), bias.data<T>(), batch, out);
      });
    } else {
      DIFFERNET_ON_CUDA(kernels::cuda::add_row_vector(y.data<float>(), bias.data<float>(), batch, out));
    }
    gemm("linear", false, true, batch, out, in, x, weight, 1.0, y);
  } else {
    gemm("linear", false, true, batch, out, in, x, weight, 0.0, y);
  }
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  const Tensor weight_leaf = weight;  // the parameter itself: its gradient buffer may take the weight gradient
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  record("linear", inputs, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
    std::vector<Tensor> grads(needs.size());
    if (!g[0].defined()) return grads;
    if (needs[0]) grads[0] = matmul(g[0], w_saved);  // [batch, out] @ [out, in]
    if (needs[1]) {                                  // [out, batch] @ [batch, in]
      // A leaf weight that already has a gradient buffer (Adam's flat one) gets
      // g^T x added in the GEMM itself (beta = 1): no temporary, no extra pass.
      // That is exactly the engine's accumulation, done in place.
      if (weight_leaf.is_leaf() && weight_leaf.has_grad() && weight_leaf.grad().dtype() == g[0].dtype()) {
        Tensor wgrad = weight_leaf.grad();
        gemm("linear backward", true, false, out, in, batch, g[0], x_saved, 1.0, wgrad);
      } else {
        grads[1] = matmul(g[0], x_saved, true, false);
      }
    }
    if (needs.size() > 2 && needs[2]) grads[2] = sum(g[0], 0);      // [out]
    return grads;
  });
  return y;
}

}  // namespace differnet
