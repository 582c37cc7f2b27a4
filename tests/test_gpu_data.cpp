// CPU-vs-CUDA parity of the batch kernels (data/batch_cuda.cu): the per-sample
// contrast luma sums and the fused rotation + jitter + normalisation, on seeded
// random images whose sides are not multiples of the block size. Both paths
// run the same integer / single-rounding math, so the match must be exact.
// Skipped, with the reason, when no CUDA device is present.
#define BOOST_TEST_MODULE gpu_data
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <random>
#include <string>

#include "autograd/error.h"
#include "data/batch.h"
#include "data/image_cache.h"
#include "data/prefetch.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::data;
using differnet::testing::gpu_test_main;

namespace {

std::vector<Image> random_images(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Image> images;
  for (int i = 0; i < count; ++i) {
    Image img(int(20 + rng() % 90), int(20 + rng() % 90), i % 3 == 2 ? 1 : 3);
    for (uint8_t& v : img.pixels) v = uint8_t(rng());
    images.push_back(img);
  }
  return images;
}

int count_bit_differences(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to(Device::CPU).to_vector<float>(), y = b.to(Device::CPU).to_vector<float>();
  BOOST_REQUIRE_EQUAL(x.size(), y.size());
  int n = 0;
  for (size_t i = 0; i < x.size(); ++i) n += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
  return n;
}

struct Caches {
  ImageCache cpu, gpu;
  Caches(const std::vector<Image>& images, int size)
      : cpu(ImageCache::from_images(images, {}, size, Device::CPU)),
        gpu(ImageCache::from_images(images, {}, size, Device::CUDA)) {}
};

// Sides around the 256-thread block: 1, 15 (225 px), 16 (256), 17 (289), 37, 100, 257.
const std::vector<int> kSizes{1, 15, 16, 17, 37, 100, 257};

}  // namespace

BOOST_AUTO_TEST_CASE(cache_upload) {
  const Caches c(random_images(5, 1), 37);
  BOOST_TEST((c.gpu.device() == Device::CUDA));
  BOOST_TEST((c.gpu.pixels().to_vector<uint8_t>() == c.cpu.pixels().to_vector<uint8_t>()));
  BOOST_TEST((c.gpu.image(3) == c.cpu.image(3)));
}

BOOST_AUTO_TEST_CASE(contrast_luma_sums_parity) {
  for (int size : kSizes) {
    BOOST_TEST_CONTEXT("size " << size) {
      const Caches c(random_images(4, uint32_t(size)), size);
      std::mt19937_64 rng(static_cast<uint64_t>(size));
      TransformOptions options;
      options.transforms_per_image = 7;
      options.color_jitter = true;
      std::vector<SampleTransform> samples = draw_transforms({3, 0, 2, 1}, options, rng);
      samples[4].jitter = false;
      const std::vector<uint64_t> cpu = contrast_luma_sums(c.cpu, samples), gpu = contrast_luma_sums(c.gpu, samples);
      BOOST_TEST(cpu == gpu);
      BOOST_TEST(gpu[4] == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(transform_batch_parity) {
  for (int size : kSizes) {
    for (RotationMode rotation : {RotationMode::Random, RotationMode::Fixed, RotationMode::None}) {
      for (bool jitter : {false, true}) {
        BOOST_TEST_CONTEXT("size " << size << ", rotation " << int(rotation) << ", jitter " << jitter) {
          const Caches c(random_images(3, uint32_t(size) + 100), size);
          TransformOptions options;
          options.transforms_per_image = 8;  // Fixed: multiples of 45 degrees, PIL's transposes included
          options.rotation = rotation;
          options.color_jitter = jitter;
          std::mt19937_64 a(uint64_t(size) * 7 + jitter), b(uint64_t(size) * 7 + jitter);
          const Batch cpu = make_batch(c.cpu, {0, 2, 1, 2}, options, a);
          const Batch gpu = make_batch(c.gpu, {0, 2, 1, 2}, options, b);
          BOOST_TEST((gpu.images.device() == Device::CUDA));
          BOOST_TEST((gpu.images.shape() == cpu.images.shape()));
          BOOST_TEST(count_bit_differences(gpu.images, cpu.images) == 0);
          BOOST_TEST(gpu.angles == cpu.angles);
          BOOST_TEST(gpu.image_index == cpu.image_index);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(training_batch_at_448) {
  const Caches c(random_images(24, 7), 448);
  std::vector<int> images(24);
  for (int i = 0; i < 24; ++i) images[size_t(i)] = 23 - i;
  TransformOptions options;
  options.transforms_per_image = 4;
  options.color_jitter = true;
  std::mt19937_64 a(11), b(11);
  const Batch cpu = make_batch(c.cpu, images, options, a), gpu = make_batch(c.gpu, images, options, b);
  BOOST_TEST(count_bit_differences(gpu.images, cpu.images) == 0);
}

BOOST_AUTO_TEST_CASE(pixel_batches_are_cpu_only) {
  // The GPU keeps float batches (data/batch.h, BatchForm): asking for uint8 is an error, not a silent float batch.
  const Caches c(random_images(2, 13), 16);
  try {
    make_batch(c.gpu, std::vector<SampleTransform>(2), BatchForm::Pixels);
    BOOST_ERROR("expected an error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("uint8 pixel batches are made on the CPU only") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(prefetched_gpu_batches) {
  // Kernels launched from the prefetch thread give the same batches in order.
  const Caches c(random_images(6, 9), 64);
  TransformOptions options;
  options.transforms_per_image = 4;
  options.color_jitter = true;
  std::mt19937_64 producer_rng(5), check_rng(5);
  int left = 6;
  Prefetcher prefetch([&]() -> std::optional<Batch> {
    if (left-- == 0) return std::nullopt;
    return make_batch(c.gpu, {left % 6, (left + 1) % 6}, options, producer_rng);
  });
  for (int i = 5; i >= 0; --i) {
    std::optional<Batch> b = prefetch.next();
    BOOST_REQUIRE(b.has_value());
    const Batch expected = make_batch(c.cpu, {i % 6, (i + 1) % 6}, options, check_rng);
    BOOST_TEST(count_bit_differences(b->images, expected.images) == 0);
  }
  BOOST_TEST(!prefetch.next().has_value());
}

int main(int argc, char* argv[]) { return gpu_test_main(argc, argv, &init_unit_test, "CUDA batch-transform parity tests"); }
