// CPU-vs-CUDA parity of the fused coupling kernels (forward, backward,
// inverse) at widths that are and are not multiples of the warp and block
// sizes, and of a whole flow's forward, backward and inverse. Skipped, with
// the reason, when no CUDA device is present.
#define BOOST_TEST_MODULE gpu_flow
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "autograd/grad_mode.h"
#include "flow/coupling_op.h"
#include "flow/flow.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {

Tensor rand32(const Shape& shape, uint64_t seed, double lo = -3.0, double hi = 3.0) {
  return random_tensor(shape, seed, lo, hi, DType::Float32);
}

Tensor joined(const CouplingResult& r) { return concat({r.y, reshape(r.log_det, {-1, 1})}, 1); }

// Scale-free error (mse(gpu, cpu) / mse(cpu, 0)) of every output and gradient below 1e-10.
constexpr double kTol = 1e-10;

}  // namespace

BOOST_AUTO_TEST_CASE(coupling_kernels_match_the_cpu) {
  for (int64_t rows : {1, 3, 96})
    for (int64_t half : {1, 7, 31, 32, 33, 255, 256, 257, 384, 1000}) {
      BOOST_TEST_CONTEXT("rows " << rows << " half " << half) {
        const Tensor x = rand32({rows, half}, uint64_t(rows * 1000 + half));
        const Tensor r = rand32({rows, 2 * half}, uint64_t(rows * 1000 + half + 1), -8, 8);
        Tensor xc = x.clone().set_requires_grad(true), rc = r.clone().set_requires_grad(true);
        Tensor xg = x.to(Device::CUDA).set_requires_grad(true), rg = r.to(Device::CUDA).set_requires_grad(true);
        const Tensor yc = joined(coupling_affine(xc, rc, 3.0)), yg = joined(coupling_affine(xg, rg, 3.0));
        BOOST_REQUIRE(yg.device() == Device::CUDA);
        BOOST_CHECK_LE(normalized_mse(values(yg), values(yc)), kTol);
        const Tensor seed = rand32(yc.shape(), 99, -1, 1);
        yc.backward(seed);
        yg.backward(seed.to(Device::CUDA));
        BOOST_CHECK_LE(normalized_mse(values(xg.grad()), values(xc.grad())), kTol);
        BOOST_CHECK_LE(normalized_mse(values(rg.grad()), values(rc.grad())), kTol);
        const Tensor inv_c = coupling_affine_inverse(x, r, 3.0);
        const Tensor inv_g = coupling_affine_inverse(x.to(Device::CUDA), r.to(Device::CUDA), 3.0);
        BOOST_CHECK_LE(normalized_mse(values(inv_g), values(inv_c)), kTol);
      }
    }
}

BOOST_AUTO_TEST_CASE(hard_clamp_on_the_gpu) {
  const Tensor x = Tensor::from_vector(std::vector<float>{2e6f, -3e6f, 0.5f}, {1, 3}).to(Device::CUDA);
  const Tensor r = Tensor::zeros({1, 6}, DType::Float32, Device::CUDA);
  const auto y = values(coupling_affine(x, r, 3.0).y);
  BOOST_CHECK_EQUAL(y[0], 1e6);
  BOOST_CHECK_EQUAL(y[1], -1e6);
  BOOST_CHECK_EQUAL(y[2], 0.5);
}

BOOST_AUTO_TEST_CASE(flow_forward_backward_inverse_match_the_cpu) {
  FlowConfig config;
  config.dims = 66;  // half 33: not a multiple of 32
  config.hidden = 128;
  config.blocks = 3;
  DifferNetFlow cpu(config), gpu(config);
  gpu.to(Device::CUDA);
  const Tensor y = rand32({96, 66}, 5, -2, 2);
  Tensor yc = y.clone().set_requires_grad(true), yg = y.to(Device::CUDA).set_requires_grad(true);
  const FlowOutput oc = cpu.forward(yc), og = gpu.forward(yg);
  BOOST_CHECK_LE(normalized_mse(values(og.z), values(oc.z)), kTol);
  BOOST_CHECK_LE(normalized_mse(values(og.log_jac_det), values(oc.log_jac_det)), kTol);
  check_finite(og.z, "GPU flow output");
  nll_loss(oc.z, oc.log_jac_det).backward();
  nll_loss(og.z, og.log_jac_det).backward();
  BOOST_CHECK_LE(normalized_mse(values(yg.grad()), values(yc.grad())), kTol);
  const auto pc = cpu.named_parameters(), pg = gpu.named_parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    BOOST_TEST_CONTEXT(pc[i].first) BOOST_CHECK_LE(normalized_mse(values(pg[i].second.grad()), values(pc[i].second.grad())), kTol);
  // Round trip on the GPU, and sampling there.
  const Tensor back = gpu.inverse(og.z.detach());
  const auto bv = values(back), yv = values(y);
  double worst = 0;
  for (size_t i = 0; i < bv.size(); ++i) worst = std::max(worst, std::abs(bv[i] - yv[i]));
  BOOST_CHECK_LE(worst, 1e-4);
  Generator gen(6);
  const Tensor s = gpu.sample(10, gen);
  BOOST_CHECK(s.device() == Device::CUDA && s.shape() == (Shape{10, 66}));
  check_finite(s, "GPU samples");
}

// --seed means the same model on either device: a flow initialised on the GPU
// has the CPU's parameters, bit for bit (kernels/random_math.h).
BOOST_AUTO_TEST_CASE(initialisation_is_device_independent) {
  FlowConfig config;
  config.dims = 66;
  config.hidden = 128;
  config.blocks = 3;
  config.seed = 11;
  const DifferNetFlow cpu(config), gpu(config, DType::Float32, Device::CUDA);
  const auto pc = cpu.named_parameters(), pg = gpu.named_parameters();
  BOOST_REQUIRE_EQUAL(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i)
    BOOST_TEST_CONTEXT(pc[i].first) {
      BOOST_REQUIRE(pg[i].second.device() == Device::CUDA);
      BOOST_CHECK(pg[i].second.to(Device::CPU).to_vector<float>() == pc[i].second.to_vector<float>());
    }
}

int main(int argc, char* argv[]) { return gpu_test_main(argc, argv, &init_unit_test, "CUDA flow tests"); }
