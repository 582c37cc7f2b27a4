// Training and test batches: N transforms of each of B cached images become
// one float32 tensor [B*N, 3, S, S] on the cache's device (or, on the CPU,
// its uint8 pixels before the normalisation: BatchForm below).
//
// Sample k of a batch is transform k % N of image k / N. Its parameters
// (rotation angle, jitter factors and order) are drawn on the host from the
// caller's seeded std::mt19937_64, so the CPU and the GPU produce the same
// batch for the same seed. Each output pixel is then computed in one pass
// (data/batch_math.h), in the order of DifferNet's published transform:
//   RandomRotation (PIL nearest, 0 fill) -> ColorJitter (MTD only) ->
//   ToTensor -> Normalize,
// bit for bit what data/transforms.h's reference functions give for the
// cached (already resized) image. On the CPU samples run on OpenMP threads;
// on the GPU two kernels (data/batch_cuda.cu): the per-sample gray mean that
// contrast needs, then the fused transform.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "autograd/tensor.h"
#include "data/batch_math.h"
#include "data/image_cache.h"

namespace differnet::data {

enum class RotationMode {
  Random,  // training: uniform in [-max_degrees, max_degrees] (torchvision RandomRotation)
  Fixed,   // localisation: transform i of N rotates by i * 360 / N degrees
  None,    // no rotation
};

struct TransformOptions {
  int transforms_per_image = 1;  // N
  RotationMode rotation = RotationMode::Random;
  double max_degrees = 180.0;
  bool color_jitter = false;  // Magnetic Tile Defects only
  float jitter_low = 0.85f, jitter_high = 1.15f;
};

// One output sample: which image and how it is transformed.
struct SampleTransform {
  int image = 0;  // row of the cache
  double angle_degrees = 0.0;
  bool jitter = false;
  JitterParams jitter_params;
};

// What make_batch writes. Normalized: the float32 tensor the backbone reads.
// Pixels (CPU only): the transformed uint8 pixels before ToTensor + Normalize,
// a quarter of the memory (a 96-sample batch at 448 px: 58 MB instead of
// 231 MB); normalize_pixels turns any range of samples into exactly the
// Normalized values. The CPU training loop keeps its current and prefetched
// batches so and normalises one feature piece at a time (apps/common/model.h).
enum class BatchForm { Normalized, Pixels };

struct Batch {
  Tensor images;                 // float32 [B*N, 3, S, S] on the cache's device; uint8 for BatchForm::Pixels
  std::vector<int> labels;       // per sample: the image's label (0 good, 1 defect)
  std::vector<int> image_index;  // per sample: row of the cache
  std::vector<double> angles;    // per sample: rotation in degrees
};

// Draws the transforms of a batch: for each image in turn, for each of its N
// transforms, the angle (one 53-bit uniform, when Random) then, with
// color_jitter, sample_jitter's factors and order.
std::vector<SampleTransform> draw_transforms(const std::vector<int>& image_indices, const TransformOptions& options,
                                             std::mt19937_64& rng);

// The batch for explicit per-sample transforms, on the cache's device
// (BatchForm::Pixels: a CPU cache only).
Batch make_batch(const ImageCache& cache, const std::vector<SampleTransform>& samples,
                 BatchForm form = BatchForm::Normalized);

// draw_transforms + make_batch.
Batch make_batch(const ImageCache& cache, const std::vector<int>& image_indices, const TransformOptions& options,
                 std::mt19937_64& rng, BatchForm form = BatchForm::Normalized);

// ToTensor + Normalize of samples [start, start + count) of a BatchForm::Pixels
// batch's images (uint8 [n, 3, S, S] on the CPU): float32 [count, 3, S, S],
// bit for bit what BatchForm::Normalized gives for those samples.
Tensor normalize_pixels(const Tensor& pixels, int64_t start, int64_t count);

// The kernel-level parameters of the samples (rotation maps, cache rows).
std::vector<SampleParams> sample_params(const ImageCache& cache, const std::vector<SampleTransform>& samples);

// Per sample, the sum of the L values that ImageEnhance.Contrast averages
// (0 for samples without jitter), computed on the cache's device. make_batch
// runs this first; exposed for the parity tests.
std::vector<uint64_t> contrast_luma_sums(const ImageCache& cache, const std::vector<SampleTransform>& samples);

}  // namespace differnet::data
