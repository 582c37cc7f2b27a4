// The tape: accumulation, no-grad mode, frozen parameters, and its errors.
#define BOOST_TEST_MODULE autograd
#include <boost/test/unit_test.hpp>
#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/block_cache.h"
#include "kernels/host_allocator.h"
#include "layers/linear.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

BOOST_AUTO_TEST_CASE(gradients_accumulate_across_backward_calls) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  x.set_requires_grad(true);
  sum(square(x)).backward();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), (std::vector<double>{2, 4, 6}), 0, 0);
  sum(mul_scalar(x, 10)).backward();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), (std::vector<double>{12, 14, 16}), 0, 0);
  x.zero_grad();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), (std::vector<double>{0, 0, 0}), 0, 0);
}

BOOST_AUTO_TEST_CASE(multiple_paths_sum) {
  Tensor x = Tensor::from_vector(std::vector<double>{0.5}, {1});
  x.set_requires_grad(true);
  Tensor y = mul(x, x);                  // x^2
  Tensor z = add(mul(y, x), exp(y));     // x^3 + e^{x^2}
  sum(z).backward();
  const double v = 0.5;
  BOOST_CHECK_CLOSE(x.grad().item(), 3 * v * v + 2 * v * std::exp(v * v), 1e-12);
}

BOOST_AUTO_TEST_CASE(no_grad_guard_records_nothing) {
  Tensor x = random_tensor({4}, 1);
  x.set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard guard;
    y = exp(x);
  }
  BOOST_CHECK(!y.requires_grad());
  BOOST_CHECK(y.is_leaf());
  BOOST_CHECK(exp(x).requires_grad());
}

BOOST_AUTO_TEST_CASE(frozen_layer_gives_input_gradient_without_weight_gradients) {
  Generator gen(3);
  Linear layer(4, 3, gen, DType::Float64);
  layer.set_trainable(false);
  Tensor x = random_tensor({2, 4}, 2);
  x.set_requires_grad(true);
  sum(square(layer.forward(x))).backward();
  BOOST_CHECK(x.has_grad());
  for (const Tensor& p : layer.parameters()) BOOST_CHECK(!p.has_grad());
  // The input gradient is still right: d/dx sum((xW^T+b)^2) = 2 (xW^T+b) W.
  NoGradGuard guard;
  const Tensor expected = matmul(mul_scalar(layer.forward(x), 2.0), layer.weight());
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), values(expected), 1e-14, 1e-12);
}

BOOST_AUTO_TEST_CASE(linear_layer_initialisation_is_pytorch_default) {
  Generator gen(0);
  Linear layer(384, 2048, gen);
  const double bound = 1.0 / std::sqrt(384.0);
  for (const Tensor& p : layer.parameters()) {
    const auto v = values(p);
    double lo = 1, hi = -1, mean = 0;
    for (double e : v) lo = std::min(lo, e), hi = std::max(hi, e), mean += e / double(v.size());
    BOOST_CHECK_GE(lo, -bound);
    BOOST_CHECK_LE(hi, bound);
    BOOST_CHECK_GT(hi, 0.95 * bound);  // fills the range
    BOOST_CHECK_LT(std::abs(mean), 0.05 * bound);
  }
  const auto names = layer.named_parameters("subnet1.0.");
  BOOST_CHECK_EQUAL(names[0].first, "subnet1.0.weight");
  BOOST_CHECK_EQUAL(names[1].first, "subnet1.0.bias");
}

BOOST_AUTO_TEST_CASE(linear_accumulates_weight_gradients_in_place) {
  // A weight with a gradient buffer receives g^T x inside the GEMM (beta = 1):
  // the result must equal the ordinary accumulation, and use the same buffer.
  Tensor x = random_tensor({5, 4}, 10), w = random_tensor({3, 4}, 11), b = random_tensor({3}, 12);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  sum(square(linear(x, w, b))).backward();
  const std::vector<double> once = values(w.grad());
  const Tensor buffer = w.grad();
  sum(square(linear(x, w, b))).backward();
  BOOST_CHECK(w.grad().shares_storage_with(buffer));
  std::vector<double> twice = once;
  for (double& v : twice) v *= 2;
  DIFFERNET_CHECK_CLOSE_VECTORS(values(w.grad()), twice, 1e-14, 1e-12);
  NoGradGuard guard;  // and once equals 2 (x W^T + b)^T x
  const Tensor expected = matmul(mul_scalar(linear(x, w, b), 2.0), x, true, false);
  DIFFERNET_CHECK_CLOSE_VECTORS(once, values(expected), 1e-14, 1e-12);
}

BOOST_AUTO_TEST_CASE(errors) {
  Tensor x = random_tensor({3}, 4);
  x.set_requires_grad(true);
  const std::string non_scalar = message_of([&] { exp(x).backward(); });
  BOOST_CHECK_NE(non_scalar.find("non-scalar"), std::string::npos);
  BOOST_CHECK_NE(non_scalar.find("[3]"), std::string::npos);

  const std::string never = message_of([&] { x.grad(); });
  BOOST_CHECK_NE(never.find("never computed"), std::string::npos);

  Tensor c = random_tensor({3}, 5);
  BOOST_CHECK_NE(message_of([&] { sum(c).backward(); }).find("does not require grad"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { exp(x).set_requires_grad(false); }).find("only leaves"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { exp(x).backward(Tensor::ones({4}, DType::Float64)); }).find("backward"),
                 std::string::npos);
  BOOST_CHECK_NE(message_of([&] { Tensor::from_vector(std::vector<float>{1, 2}, {3}); }).find("do not fill"),
                 std::string::npos);
  BOOST_CHECK_NE(message_of([&] { parse_device("tpu"); }).find("tpu"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(explicit_seed_for_non_scalar_backward) {
  Tensor x = random_tensor({3}, 6);
  x.set_requires_grad(true);
  Tensor g = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  mul_scalar(x, 2).backward(g);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), (std::vector<double>{2, 4, 6}), 0, 0);
}

BOOST_AUTO_TEST_CASE(a_graph_does_not_keep_itself_alive) {
  std::weak_ptr<TensorImpl> weak;
  {
    Tensor x = random_tensor({8}, 7);
    x.set_requires_grad(true);
    Tensor y = exp(x);  // exp's backward keeps its output's data: must not keep y itself
    weak = y.impl_ptr();
  }
  BOOST_CHECK(weak.expired());
}

BOOST_AUTO_TEST_CASE(device_and_dtype_conversions) {
  const Tensor x = random_tensor({2, 3}, 8);
  const Tensor f = x.to(DType::Float32);
  BOOST_CHECK(f.dtype() == DType::Float32);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(f), values(x), 1e-7, 1e-7);
  BOOST_CHECK(x.to(Device::CPU).shares_storage_with(x));
  if (!cuda_available()) {
    BOOST_CHECK_NE(message_of([&] { x.to(Device::CUDA); }).find("cannot move"), std::string::npos);
  }
}

// Large CPU fills and copies (autograd/storage.cpp) run in 1 MiB chunks on
// the threads: every byte is written, the ragged last chunk too.
BOOST_AUTO_TEST_CASE(large_zero_fills_and_copies_cover_every_byte) {
  const int64_t n = (int64_t(9) << 20) + 13;
  Tensor a = Tensor::full({n}, 7.0, DType::UInt8);
  zero_bytes(a.raw_data(), Device::CPU, size_t(n));
  const uint8_t* bytes = a.data<uint8_t>();  // read in place: to_vector copies through the same code
  BOOST_CHECK(std::all_of(bytes, bytes + n, [](uint8_t v) { return v == 0; }));
  std::vector<uint8_t> pattern(static_cast<size_t>(n));
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = uint8_t(i * 2654435761u >> 24);
  a.copy_(Tensor::from_vector(pattern, {n}));
  BOOST_CHECK(std::equal(pattern.begin(), pattern.end(), bytes));
}

// kernels/host_allocator.h: large CPU tensors reuse freed blocks of their size.
BOOST_AUTO_TEST_CASE(large_host_blocks_are_reused) {
  const int64_t n = (int64_t(3) << 20) / 4 + 5;  // a little over 3 MiB of float32
  if (host::host_cache_limit() == 0) {
    BOOST_TEST_MESSAGE("host cache off (AddressSanitizer build or DIFFERNET_HOST_CACHE_MB=0): nothing to reuse");
    const Tensor t = Tensor::zeros({n}, DType::Float32, Device::CPU);
    BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(t.data<float>()) % 64, 0u);
    return;
  }
  const void* first = nullptr;
  {
    const Tensor t = Tensor::zeros({n}, DType::Float32, Device::CPU);
    first = t.data<float>();
    BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  const auto before = host::host_allocator_stats();
  BOOST_CHECK_GE(before.bytes_cached, size_t(4) << 20);  // rounded up to whole MiB
  {
    // The same size class (a slightly larger request) gets the cached block back.
    const Tensor t = Tensor::empty({n + 1000}, DType::Float32, Device::CPU);
    BOOST_CHECK_EQUAL(t.data<float>(), first);
    const auto during = host::host_allocator_stats();
    BOOST_CHECK_EQUAL(during.cache_hits, before.cache_hits + 1);
    BOOST_CHECK_EQUAL(during.system_allocations, before.system_allocations);
  }
  host::empty_cache();
  BOOST_CHECK_EQUAL(host::host_allocator_stats().bytes_cached, 0u);
  {
    // With nothing kept, a large block comes from the system: the peak of the
    // held bytes (docs/performance.md's breakdown) covers it.
    const Tensor t = Tensor::empty({n}, DType::Float32, Device::CPU);
    const auto now = host::host_allocator_stats();
    BOOST_CHECK_GE(now.bytes_in_use, size_t(4) << 20);
    BOOST_CHECK_GE(now.bytes_held_peak, now.bytes_in_use + now.bytes_cached);
  }
  // Small tensors come from malloc, still aligned for SIMD loads.
  const Tensor small = Tensor::zeros({3}, DType::Float64, Device::CPU);
  BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(small.data<double>()) % 64, 0u);
}

// The order a full cache gives blocks back in (both allocators share it): the
// longest-kept first; a size asked for again gets its most recently kept block.
// Blocks of 2 MiB and more start on a huge-page boundary (so that the
// kernel can back them with transparent huge pages) and come in whole huge
// pages; smaller large blocks keep the 64-byte alignment every block has.
BOOST_AUTO_TEST_CASE(large_host_blocks_sit_on_huge_page_boundaries) {
  const size_t huge = size_t(2) << 20;
  void* small = host::host_alloc(size_t(300) << 10);
  BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(small) % 64, 0u);
  if (!host::huge_pages()) {
    BOOST_TEST_MESSAGE("huge pages off (DIFFERNET_HUGE_PAGES=1 turns them on): no huge-page placement to check");
    host::host_free(small);
    return;
  }
  const size_t in_use = host::host_allocator_stats().bytes_in_use;
  void* big = host::host_alloc(huge + 1);
  BOOST_CHECK_EQUAL(reinterpret_cast<uintptr_t>(big) % huge, 0u);
  BOOST_CHECK_EQUAL(host::host_allocator_stats().bytes_in_use - in_use, 2 * huge);  // whole huge pages
  static_cast<char*>(big)[2 * huge - 1] = 1;  // all of it is ours
  host::host_free(big);
  host::host_free(small);
}

BOOST_AUTO_TEST_CASE(block_cache_releases_the_longest_kept_first) {
  kernels::BlockCache cache;
  int a = 0, b = 0, c = 0, d = 0;
  for (int* p : {&a, &b, &c, &d}) cache.hand_out(p, p == &b ? 200 : 100);
  for (int* p : {&a, &b, &c, &d}) cache.keep(p, cache.take_back(p));
  BOOST_CHECK_EQUAL(cache.bytes_cached(), 500u);
  BOOST_CHECK_EQUAL(cache.reuse(100), &d);  // the most recently kept of that size
  std::vector<void*> released;
  BOOST_CHECK_EQUAL(cache.release_oldest(1, [&](void* p) { released.push_back(p); }), 100u);
  BOOST_CHECK(released == std::vector<void*>({&a}));
  BOOST_CHECK_EQUAL(cache.release_oldest(250, [&](void* p) { released.push_back(p); }), 300u);
  BOOST_CHECK(released == std::vector<void*>({&a, &b, &c}));
  BOOST_CHECK_EQUAL(cache.bytes_cached(), 0u);
  BOOST_CHECK(cache.reuse(100) == nullptr);
  BOOST_CHECK_EQUAL(cache.release_oldest(1, [&](void* p) { released.push_back(p); }), 0u);
  BOOST_CHECK_EQUAL(cache.take_back(&d), 100u);
}

// A cache filled with blocks of a size not asked for again (Adam's per-parameter
// blocks, freed once) still keeps the blocks each step frees and asks for again:
// the flow's 768 KiB activations, which malloc would map and zero-fill anew.
BOOST_AUTO_TEST_CASE(a_full_host_cache_makes_room_for_the_blocks_freed_last) {
  const size_t limit = host::host_cache_limit();
  if (limit == 0) {
    BOOST_TEST_MESSAGE("host cache off (AddressSanitizer build or DIFFERNET_HOST_CACHE_MB=0): nothing kept");
    return;
  }
  host::empty_cache();
  const size_t stale = size_t(16) << 20, hot = size_t(768) << 10;
  std::vector<void*> stale_blocks;
  for (size_t held = 0; held + stale <= limit; held += stale) stale_blocks.push_back(host::host_alloc(stale));
  for (void* p : stale_blocks) host::host_free(p);
  const size_t full = stale_blocks.size() * stale;
  BOOST_CHECK_EQUAL(host::host_allocator_stats().bytes_cached, full);
  void* first = host::host_alloc(hot);
  host::host_free(first);
  const auto kept = host::host_allocator_stats();
  BOOST_CHECK_LE(kept.bytes_cached, limit);
  if (full + hot > limit) BOOST_CHECK_EQUAL(kept.bytes_cached, full - stale + hot);  // one stale block made room
  void* again = host::host_alloc(hot);
  BOOST_CHECK_EQUAL(again, first);
  BOOST_CHECK_EQUAL(host::host_allocator_stats().cache_hits, kept.cache_hits + 1);
  host::host_free(again);
  host::empty_cache();
}
