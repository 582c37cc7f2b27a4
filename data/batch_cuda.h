// The CUDA kernels of the batch transform (data/batch_cuda.cu). Pointers are
// device memory; everything runs on the default stream, in order. The CPU
// twins live in data/batch.cpp and run the same data/batch_math.h functions.
#pragma once
#include <cstdint>

#include "data/batch_math.h"

namespace differnet::data::cuda {

// sums[s] = sum over the S x S pixels of contrast_input_luma (0 where sample s
// has no jitter). images: uint8 [count, S, S, 3].
void contrast_luma_sums(const uint8_t* images, int size, const SampleParams* params, int samples, uint64_t* sums);

// out: float32 [samples, 3, S, S]; rotation, jitter (gray level from sums) and
// normalisation per output pixel.
void transform_batch(const uint8_t* images, int size, const SampleParams* params, const uint64_t* sums, int samples,
                     float* out);

}  // namespace differnet::data::cuda
