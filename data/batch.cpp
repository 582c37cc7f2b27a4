#include "data/batch.h"

#include <array>
#include <cstring>

#include "autograd/error.h"
#include "data/batch_cuda.h"

namespace differnet::data {
namespace {

// 53 random bits -> [0, 1), written out so every platform draws the same angles.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }

void check_samples(const ImageCache& cache, const std::vector<SampleTransform>& samples) {
  DIFFERNET_CHECK(cache.count() > 0, "make_batch: the image cache is empty");
  DIFFERNET_CHECK(!samples.empty(), "make_batch: no samples");
  DIFFERNET_CHECK(samples.size() <= 65535, "make_batch: ", samples.size(), " samples in one batch (at most 65535)");
  for (const SampleTransform& s : samples)
    DIFFERNET_CHECK(s.image >= 0 && s.image < cache.count(), "make_batch: image ", s.image, " is not in a cache of ",
                    cache.count());
}

// ToTensor + Normalize for every uint8 value of each channel, at
// [c * 256 + v]: the CPU paths look values up; the table holds exactly what
// normalize_sample computes.
const float* normalize_table() {
  static const std::array<float, 3 * 256> table = [] {
    std::array<float, 3 * 256> t{};
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) t[size_t(c) * 256 + size_t(v)] = normalize_sample(uint8_t(v), c);
    return t;
  }();
  return table.data();
}

uint64_t luma_sum_cpu(const uint8_t* image, int size, const SampleParams& p) {
  uint64_t sum = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      uint8_t rgb[3];
      rotated_pixel(image, size, p.rotation, x, y, rgb);
      sum += contrast_input_luma(rgb, p.jitter_params);
    }
  return sum;
}

std::vector<uint64_t> luma_sums_cpu(const ImageCache& cache, const std::vector<SampleParams>& params) {
  const int size = cache.size();
  const uint8_t* images = cache.pixels().data<uint8_t>();
  const size_t image_bytes = size_t(size) * size * 3;
  std::vector<uint64_t> sums(params.size(), 0);
  const int64_t n = int64_t(params.size());
#pragma omp parallel for schedule(dynamic)
  for (int64_t s = 0; s < n; ++s) {
    const SampleParams& p = params[size_t(s)];
    if (p.jitter) sums[size_t(s)] = luma_sum_cpu(images + size_t(p.image) * image_bytes, size, p);
  }
  return sums;
}

// The transformed pixels of every sample, before ToTensor + Normalize: put(s,
// c, i, v) receives value v of channel c at pixel i (row-major) of sample s.
template <class Put>
void transform_pixels_cpu(const ImageCache& cache, const std::vector<SampleParams>& params,
                          const std::vector<uint64_t>& sums, Put put) {
  const int size = cache.size();
  const int64_t plane = int64_t(size) * size;
  const uint8_t* images = cache.pixels().data<uint8_t>();
  const int64_t n = int64_t(params.size());
#pragma omp parallel for schedule(dynamic)
  for (int64_t s = 0; s < n; ++s) {
    const SampleParams& p = params[size_t(s)];
    const uint8_t* image = images + p.image * plane * 3;
    const uint8_t gray = p.jitter ? contrast_gray_level(sums[size_t(s)], plane) : 0;
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) {
        uint8_t rgb[3];
        rotated_pixel(image, size, p.rotation, x, y, rgb);
        if (p.jitter) jitter_pixel(rgb, p.jitter_params, gray);
        const int64_t i = int64_t(y) * size + x;
        for (int c = 0; c < 3; ++c) put(s, c, i, rgb[c]);
      }
  }
}

#if DIFFERNET_WITH_CUDA
// The parameters as raw bytes on the device (SampleParams is trivially copyable).
Tensor params_on_device(const std::vector<SampleParams>& params) {
  std::vector<uint8_t> bytes(params.size() * sizeof(SampleParams));
  std::memcpy(bytes.data(), params.data(), bytes.size());
  return Tensor::from_vector(bytes, {int64_t(bytes.size())}, Device::CUDA);
}

// Runs the luma-sum kernel; the sums stay on the device (uint64 as bytes).
Tensor luma_sums_cuda(const ImageCache& cache, const Tensor& params, int64_t samples) {
  Tensor sums = Tensor::empty({samples * int64_t(sizeof(uint64_t))}, DType::UInt8, Device::CUDA);
  cuda::contrast_luma_sums(cache.pixels().data<uint8_t>(), cache.size(),
                           static_cast<const SampleParams*>(params.raw_data()), int(samples),
                           static_cast<uint64_t*>(sums.raw_data()));
  return sums;
}
#endif

}  // namespace

std::vector<SampleTransform> draw_transforms(const std::vector<int>& image_indices, const TransformOptions& options,
                                             std::mt19937_64& rng) {
  const int n = options.transforms_per_image;
  DIFFERNET_CHECK(n > 0, "draw_transforms: transforms_per_image must be positive, got ", n);
  DIFFERNET_CHECK(options.max_degrees >= 0, "draw_transforms: max_degrees must not be negative");
  std::vector<SampleTransform> samples;
  samples.reserve(image_indices.size() * size_t(n));
  for (int image : image_indices)
    for (int t = 0; t < n; ++t) {
      SampleTransform s;
      s.image = image;
      switch (options.rotation) {
        case RotationMode::Random:
          s.angle_degrees = -options.max_degrees + 2.0 * options.max_degrees * uniform01(rng);
          break;
        case RotationMode::Fixed: s.angle_degrees = fixed_rotation_degrees(t, n); break;
        case RotationMode::None: s.angle_degrees = 0.0; break;
      }
      if (options.color_jitter) {
        s.jitter = true;
        s.jitter_params = sample_jitter(rng, options.jitter_low, options.jitter_high);
      }
      samples.push_back(s);
    }
  return samples;
}

std::vector<SampleParams> sample_params(const ImageCache& cache, const std::vector<SampleTransform>& samples) {
  check_samples(cache, samples);
  std::vector<SampleParams> params(samples.size());
  for (size_t k = 0; k < samples.size(); ++k) {
    const SampleTransform& s = samples[k];
    // On a square image PIL's fixed-point map reproduces its exact transposes
    // (0, 90, 180, 270 degrees) too, so one map serves every angle.
    params[k].rotation = pil_rotation_fixed(cache.size(), cache.size(), s.angle_degrees);
    params[k].image = s.image;
    params[k].jitter = s.jitter ? 1 : 0;
    params[k].jitter_params = s.jitter_params;
  }
  return params;
}

std::vector<uint64_t> contrast_luma_sums(const ImageCache& cache, const std::vector<SampleTransform>& samples) {
  const std::vector<SampleParams> params = sample_params(cache, samples);
  if (cache.device() == Device::CPU) return luma_sums_cpu(cache, params);
#if DIFFERNET_WITH_CUDA
  const Tensor sums = luma_sums_cuda(cache, params_on_device(params), int64_t(params.size()));
  const std::vector<uint8_t> bytes = sums.to_vector<uint8_t>();
  std::vector<uint64_t> out(params.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
#else
  throw Error("this build of DifferNet has no CUDA backend");
#endif
}

Batch make_batch(const ImageCache& cache, const std::vector<SampleTransform>& samples, BatchForm form) {
  DIFFERNET_CHECK(form == BatchForm::Normalized || cache.device() == Device::CPU,
                  "make_batch: uint8 pixel batches are made on the CPU only (this cache is on ",
                  device_name(cache.device()), ")");
  const std::vector<SampleParams> params = sample_params(cache, samples);
  const int64_t n = int64_t(samples.size()), size = cache.size();
  Batch batch;
  batch.images = Tensor::empty({n, 3, size, size}, form == BatchForm::Pixels ? DType::UInt8 : DType::Float32,
                               cache.device());
  for (const SampleTransform& s : samples) {
    batch.labels.push_back(cache.label(s.image));
    batch.image_index.push_back(s.image);
    batch.angles.push_back(s.angle_degrees);
  }
  if (cache.device() == Device::CPU) {
    const int64_t plane = size * size;
    const std::vector<uint64_t> sums = luma_sums_cpu(cache, params);
    if (form == BatchForm::Pixels) {
      uint8_t* out = batch.images.data<uint8_t>();
      transform_pixels_cpu(cache, params, sums,
                           [=](int64_t s, int c, int64_t i, uint8_t v) { out[(s * 3 + c) * plane + i] = v; });
    } else {
      float* out = batch.images.data<float>();
      const float* table = normalize_table();
      transform_pixels_cpu(cache, params, sums, [=](int64_t s, int c, int64_t i, uint8_t v) {
        out[(s * 3 + c) * plane + i] = table[c * 256 + v];
      });
    }
    return batch;
  }
#if DIFFERNET_WITH_CUDA
  const Tensor device_params = params_on_device(params);
  const Tensor sums = luma_sums_cuda(cache, device_params, n);
  cuda::transform_batch(cache.pixels().data<uint8_t>(), cache.size(),
                        static_cast<const SampleParams*>(device_params.raw_data()),
                        static_cast<const uint64_t*>(sums.raw_data()), int(n), batch.images.data<float>());
  return batch;
#else
  throw Error("this build of DifferNet has no CUDA backend");
#endif
}

Batch make_batch(const ImageCache& cache, const std::vector<int>& image_indices, const TransformOptions& options,
                 std::mt19937_64& rng, BatchForm form) {
  return make_batch(cache, draw_transforms(image_indices, options, rng), form);
}

Tensor normalize_pixels(const Tensor& pixels, int64_t start, int64_t count) {
  check_defined("normalize_pixels", pixels, "pixels");
  DIFFERNET_CHECK(pixels.dtype() == DType::UInt8 && pixels.device() == Device::CPU && pixels.dim() == 4 &&
                      pixels.size(1) == 3,
                  "normalize_pixels: expected uint8 pixels [n, 3, S, S] on the CPU, got ", pixels.describe());
  DIFFERNET_CHECK(start >= 0 && count >= 1 && start + count <= pixels.size(0), "normalize_pixels: samples [", start,
                  ", ", start + count, ") of a batch of ", pixels.size(0));
  const int64_t plane = pixels.size(2) * pixels.size(3), planes = count * 3;
  Tensor out = Tensor::empty({count, 3, pixels.size(2), pixels.size(3)}, DType::Float32, Device::CPU);
  const uint8_t* in = pixels.data<uint8_t>() + start * 3 * plane;
  float* o = out.data<float>();
  const float* table = normalize_table();
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < planes; ++q) {
    const float* t = table + (q % 3) * 256;
    for (int64_t i = q * plane; i < (q + 1) * plane; ++i) o[i] = t[in[i]];
  }
  return out;
}

}  // namespace differnet::data
