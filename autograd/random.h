// Seeded random numbers. A Generator is (seed, offset): every draw consumes
// `offset` positions of a counter-based stream, so the same seed gives the same
// numbers on every run, and the state saves as two integers (checkpoints).
// Both devices compute the same stream (kernels/random_math.h: SplitMix64
// counters, Box-Muller), so one seed initialises the same model on either.
#pragma once
#include <cstdint>

#include "autograd/tensor.h"

namespace differnet {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves n positions of the stream and returns where they start.
  uint64_t advance(uint64_t n) {
    const uint64_t start = offset_;
    // Whole blocks of 4, as when the GPU drew from cuRAND's Philox (4 values per
    // counter): kept so that a seed's streams, and so earlier runs, stay as they were.
    offset_ += (n + 3) / 4 * 4;
    return start;
  }

 private:
  uint64_t seed_, offset_;
};

// Uniform in (low, high) and normal(mean, std) tensors on the given device.
Tensor rand_uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype = DType::Float32,
                    Device device = Device::CPU);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32, Device device = Device::CPU,
             double mean = 0.0, double std = 1.0);

}  // namespace differnet
