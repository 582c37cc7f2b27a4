// The batch pipeline on the CPU: image cache (decode + resize once, bad-image
// policy), per-sample transforms drawn from a seed, the fused batch transform
// against data/transforms.h's PIL-exact reference functions applied one by
// one (required to match bit for bit), and the background prefetcher.
#define BOOST_TEST_MODULE data_batch
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "autograd/error.h"
#include "data/batch.h"
#include "data/image_cache.h"
#include "data/image_io.h"
#include "data/prefetch.h"
#include "data/transforms.h"

using namespace differnet;
using namespace differnet::data;
namespace fs = std::filesystem;

namespace {

Image random_image(int w, int h, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img(w, h, channels);
  // Smooth-ish content plus noise, so rotations and contrast see structure.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        img.at(x, y, c) = uint8_t((x * 7 + y * 3 + c * 50 + int(rng() % 90)) % 256);
  return img;
}

// The reference for one sample: data/transforms.h step by step, in DifferNet's
// order (resize -> rotation -> jitter -> normalise).
std::vector<float> reference_sample(const Image& source, int size, const SampleTransform& s) {
  Image img = cache_image(source, size);
  img = rotate_nearest(img, s.angle_degrees);
  if (s.jitter) img = color_jitter(img, s.jitter_params);
  return to_normalized_chw(img);
}

std::vector<float> sample_of(const Batch& b, size_t k) {
  const int64_t per = b.images.numel() / b.images.size(0);
  const Tensor host = b.images.to(Device::CPU);
  const float* p = host.data<float>() + int64_t(k) * per;
  return std::vector<float>(p, p + per);
}

int count_differences(const std::vector<float>& a, const std::vector<float>& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

void check_against_reference(const std::vector<Image>& sources, const ImageCache& cache,
                             const std::vector<SampleTransform>& samples, const Batch& batch) {
  BOOST_REQUIRE_EQUAL(batch.images.size(0), int64_t(samples.size()));
  for (size_t k = 0; k < samples.size(); ++k) {
    const SampleTransform& s = samples[k];
    BOOST_TEST_CONTEXT("sample " << k << ": image " << s.image << ", angle " << s.angle_degrees << ", jitter "
                                 << s.jitter << " (" << s.jitter_params.brightness << ", "
                                 << s.jitter_params.contrast << ", order " << int(s.jitter_params.order) << ")") {
      BOOST_TEST(count_differences(sample_of(batch, k), reference_sample(sources[size_t(s.image)], cache.size(), s)) ==
                 0);
    }
  }
}

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("differnet_batch_" + std::to_string(std::random_device{}()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    BOOST_ERROR("expected an error containing '" << needle << "'");
  } catch (const Error& e) {
    BOOST_TEST_CONTEXT("message: " << e.what()) { BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos); }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(cache_holds_resized_rgb_images) {
  const std::vector<Image> sources{random_image(53, 41, 3, 1), random_image(30, 30, 1, 2), random_image(20, 60, 3, 3)};
  const ImageCache cache = ImageCache::from_images(sources, {0, 1, 0}, 37, Device::CPU);
  BOOST_TEST(cache.count() == 3);
  BOOST_TEST(cache.size() == 37);
  BOOST_TEST((cache.pixels().shape() == Shape{3, 37, 37, 3}));
  BOOST_TEST((cache.pixels().dtype() == DType::UInt8));
  BOOST_TEST((cache.labels() == std::vector<int>{0, 1, 0}));
  BOOST_TEST((cache.image(0) == resize_bilinear(sources[0], 37, 37)));
  BOOST_TEST((cache.image(2) == resize_bilinear(sources[2], 37, 37)));
  // Gray is replicated to three channels (PIL convert("RGB")), before or after the resize alike.
  const Image gray_resized = resize_bilinear(sources[1], 37, 37);
  const Image cached_gray = cache.image(1);
  for (int y = 0; y < 37; ++y)
    for (int x = 0; x < 37; ++x)
      for (int c = 0; c < 3; ++c) BOOST_REQUIRE_EQUAL(int(cached_gray.at(x, y, c)), int(gray_resized.at(x, y, 0)));
}

BOOST_AUTO_TEST_CASE(batch_matches_reference_transforms) {
  const std::vector<Image> sources{random_image(53, 41, 3, 11), random_image(29, 29, 1, 12),
                                   random_image(64, 48, 3, 13)};
  for (int size : {37, 48}) {  // odd and even sides: the rotation centre falls between or on pixels
    const ImageCache cache = ImageCache::from_images(sources, {1, 0, 1}, size, Device::CPU);
    for (bool jitter : {false, true}) {
      BOOST_TEST_CONTEXT("size " << size << ", jitter " << jitter) {
        std::mt19937_64 rng(size * 10 + jitter);
        TransformOptions options;
        options.transforms_per_image = 5;
        options.color_jitter = jitter;
        const std::vector<SampleTransform> samples = draw_transforms({2, 0, 1, 0}, options, rng);
        const Batch batch = make_batch(cache, samples);
        BOOST_TEST((batch.images.shape() == Shape{20, 3, size, size}));
        check_against_reference(sources, cache, samples, batch);
        BOOST_TEST((batch.image_index == std::vector<int>{2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}));
        BOOST_TEST((batch.labels == std::vector<int>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
        for (size_t k = 0; k < samples.size(); ++k) BOOST_TEST(batch.angles[k] == samples[k].angle_degrees);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pixel_batches_normalise_to_the_float_batch) {
  // The uint8 form the CPU training loop keeps: any range of its samples,
  // normalised, is bit for bit the float batch's (the normalisation is one-to-one
  // per channel, so the pixels are the transformed pixels too).
  const std::vector<Image> sources{random_image(53, 41, 3, 101), random_image(29, 29, 1, 102),
                                   random_image(64, 48, 3, 103)};
  const ImageCache cache = ImageCache::from_images(sources, {1, 0, 1}, 37, Device::CPU);
  std::mt19937_64 rng(17);
  TransformOptions options;
  options.transforms_per_image = 5;
  options.color_jitter = true;
  const std::vector<SampleTransform> samples = draw_transforms({2, 0, 1, 0}, options, rng);
  const Batch normalized = make_batch(cache, samples), pixels = make_batch(cache, samples, BatchForm::Pixels);
  BOOST_TEST((pixels.images.dtype() == DType::UInt8));
  BOOST_TEST((pixels.images.shape() == Shape{20, 3, 37, 37}));
  BOOST_TEST(pixels.labels == normalized.labels);
  BOOST_TEST(pixels.image_index == normalized.image_index);
  BOOST_TEST(pixels.angles == normalized.angles);
  const std::vector<float> all = normalized.images.to_vector<float>();
  const size_t per = size_t(3 * 37 * 37);
  for (const auto& [start, count] : std::vector<std::pair<int64_t, int64_t>>{{0, 20}, {0, 7}, {7, 13}, {19, 1}}) {
    BOOST_TEST_CONTEXT("samples " << start << " + " << count) {
      const Tensor piece = normalize_pixels(pixels.images, start, count);
      BOOST_TEST((piece.shape() == Shape{count, 3, 37, 37}));
      const std::vector<float> expected(all.begin() + long(size_t(start) * per),
                                        all.begin() + long(size_t(start + count) * per));
      BOOST_TEST(count_differences(piece.to_vector<float>(), expected) == 0);
    }
  }
  expect_error([&] { normalize_pixels(normalized.images, 0, 1); }, "expected uint8 pixels [n, 3, S, S] on the CPU");
  expect_error([&] { normalize_pixels(pixels.images, 15, 6); }, "samples [15, 21) of a batch of 20");
  expect_error([&] { normalize_pixels(pixels.images, 3, 0); }, "samples [3, 3) of a batch of 20");
}

BOOST_AUTO_TEST_CASE(special_angles_and_both_jitter_orders) {
  // PIL's exact transposes (0, 90, 180, 270) must come out of the one fixed-point
  // map too; angles outside [0, 360), a sine that rounds to zero, both orders.
  const std::vector<Image> sources{random_image(40, 33, 3, 21)};
  const ImageCache cache = ImageCache::from_images(sources, {}, 31, Device::CPU);
  std::vector<SampleTransform> samples;
  for (double angle : {0.0, 90.0, 180.0, 270.0, -90.0, -180.0, 360.0, 720.0, -450.0, 1e-15, 180.0 + 1e-13, 45.0,
                       -179.99, 33.7}) {
    for (int order = 0; order < 3; ++order) {
      SampleTransform s;
      s.angle_degrees = angle;
      s.jitter = order > 0;
      s.jitter_params = {0.86f, 1.13f, order == 1 ? JitterOrder::BrightnessThenContrast
                                                  : JitterOrder::ContrastThenBrightness};
      samples.push_back(s);
    }
  }
  check_against_reference(sources, cache, samples, make_batch(cache, samples));
}

BOOST_AUTO_TEST_CASE(full_size_training_samples) {
  const std::vector<Image> sources{random_image(512, 512, 3, 31), random_image(300, 200, 3, 32)};
  const ImageCache cache = ImageCache::from_images(sources, {}, 448, Device::CPU);
  std::mt19937_64 rng(7);
  TransformOptions options;
  options.transforms_per_image = 2;
  options.color_jitter = true;
  const std::vector<SampleTransform> samples = draw_transforms({0, 1}, options, rng);
  check_against_reference(sources, cache, samples, make_batch(cache, samples));
}

BOOST_AUTO_TEST_CASE(fixed_test_rotations) {
  const std::vector<Image> sources{random_image(45, 45, 3, 41), random_image(33, 50, 3, 42)};
  const ImageCache cache = ImageCache::from_images(sources, {}, 36, Device::CPU);
  std::mt19937_64 rng(1);
  TransformOptions options;
  options.transforms_per_image = 8;
  options.rotation = RotationMode::Fixed;
  const std::vector<SampleTransform> samples = draw_transforms({1, 0}, options, rng);
  for (size_t k = 0; k < samples.size(); ++k) BOOST_TEST(samples[k].angle_degrees == (k % 8) * 45.0);
  BOOST_TEST(rng() == std::mt19937_64(1)());  // fixed rotations without jitter draw nothing
  const Batch batch = make_batch(cache, samples);
  check_against_reference(sources, cache, samples, batch);
  // Transform 0 is the unrotated image.
  BOOST_TEST(count_differences(sample_of(batch, 0), to_normalized_chw(cache.image(1))) == 0);
}

BOOST_AUTO_TEST_CASE(draws_are_deterministic_and_in_range) {
  const ImageCache cache = ImageCache::from_images({random_image(20, 20, 3, 51), random_image(24, 20, 3, 52)}, {}, 19,
                                                   Device::CPU);
  TransformOptions options;
  options.transforms_per_image = 4;
  options.color_jitter = true;
  std::mt19937_64 a(99), b(99), c(100);
  const std::vector<int> images{0, 1, 1};
  const Batch ba = make_batch(cache, images, options, a), bb = make_batch(cache, images, options, b),
              bc = make_batch(cache, images, options, c);
  BOOST_TEST(ba.angles == bb.angles);
  BOOST_TEST(count_differences(ba.images.to_vector<float>(), bb.images.to_vector<float>()) == 0);
  BOOST_TEST(ba.angles != bc.angles);
  BOOST_TEST(count_differences(ba.images.to_vector<float>(), bc.images.to_vector<float>()) > 0);

  std::mt19937_64 rng(5);
  int orders[2] = {0, 0};
  for (const SampleTransform& s : draw_transforms(std::vector<int>(500, 0), options, rng)) {
    BOOST_REQUIRE(s.angle_degrees >= -180.0);
    BOOST_REQUIRE(s.angle_degrees < 180.0);
    BOOST_REQUIRE(s.jitter);
    BOOST_REQUIRE(s.jitter_params.brightness >= 0.85f);
    BOOST_REQUIRE(s.jitter_params.brightness <= 1.15f);
    BOOST_REQUIRE(s.jitter_params.contrast >= 0.85f);
    BOOST_REQUIRE(s.jitter_params.contrast <= 1.15f);
    ++orders[int(s.jitter_params.order)];
  }
  BOOST_TEST(orders[0] > 900);  // 2000 fair coins
  BOOST_TEST(orders[1] > 900);
}

BOOST_AUTO_TEST_CASE(contrast_sums_are_the_pil_mean) {
  // The gray level make_batch uses equals ImageEnhance.Contrast's int(mean + 0.5)
  // of the L image of the rotated (and, first, brightened) image.
  const std::vector<Image> sources{random_image(41, 35, 3, 61)};
  const ImageCache cache = ImageCache::from_images(sources, {}, 27, Device::CPU);
  std::mt19937_64 rng(3);
  TransformOptions options;
  options.transforms_per_image = 6;
  options.color_jitter = true;
  std::vector<SampleTransform> samples = draw_transforms({0}, options, rng);
  samples[5].jitter = false;
  const std::vector<uint64_t> sums = contrast_luma_sums(cache, samples);
  BOOST_TEST(sums[5] == 0u);
  for (size_t k = 0; k < 5; ++k) {
    Image img = rotate_nearest(cache.image(0), samples[k].angle_degrees);
    if (samples[k].jitter_params.order == JitterOrder::BrightnessThenContrast)
      img = adjust_brightness(img, samples[k].jitter_params.brightness);
    uint64_t sum = 0;
    for (int i = 0; i < 27 * 27; ++i) sum += pil_luma(img.pixels[3 * i], img.pixels[3 * i + 1], img.pixels[3 * i + 2]);
    BOOST_TEST(sums[k] == sum);
  }
}

BOOST_AUTO_TEST_CASE(bad_requests_are_errors) {
  const ImageCache cache = ImageCache::from_images({random_image(20, 20, 3, 71)}, {}, 16, Device::CPU);
  std::mt19937_64 rng(0);
  TransformOptions options;
  expect_error([&] { make_batch(cache, {1}, options, rng); }, "image 1 is not in a cache of 1");
  expect_error([&] { make_batch(cache, std::vector<SampleTransform>{}); }, "no samples");
  options.transforms_per_image = 0;
  expect_error([&] { make_batch(cache, {0}, options, rng); }, "transforms_per_image");
}

BOOST_AUTO_TEST_CASE(bad_image_policy) {
  TempDir dir;
  const Image good0 = random_image(30, 20, 3, 81), good1 = random_image(25, 25, 1, 82);
  save_png(good0, (dir.path / "good0.png").string());
  save_png(good1, (dir.path / "good1.png").string());
  {
    std::ofstream((dir.path / "broken.png").string(), std::ios::binary) << "not an image at all";
  }
  std::vector<uint8_t> truncated = encode_png(good0, "good0");
  truncated.resize(truncated.size() / 2);
  write_file_atomic((dir.path / "truncated.png").string(), truncated);
  auto sample = [&](const std::string& name, int label) { return Sample{(dir.path / name).string(), label, "", ""}; };
  const std::vector<Sample> samples{sample("good0.png", 0), sample("broken.png", 1), sample("good1.png", 1),
                                    sample("truncated.png", 0), sample("missing.png", 0)};

  ImageCacheOptions options;
  options.size = 24;
  expect_error([&] { ImageCache::load(samples, options); }, "broken.png");

  options.on_bad_image = BadImagePolicy::Skip;
  const ImageCache cache = ImageCache::load(samples, options);
  BOOST_TEST(cache.count() == 2);
  BOOST_TEST((cache.source_index() == std::vector<size_t>{0, 2}));
  BOOST_TEST((cache.labels() == std::vector<int>{0, 1}));
  BOOST_TEST(cache.paths()[1] == samples[2].path);
  BOOST_REQUIRE_EQUAL(cache.skipped().size(), 3u);
  BOOST_TEST(cache.skipped()[0].find("broken.png") != std::string::npos);
  BOOST_TEST(cache.skipped()[1].find("truncated.png") != std::string::npos);
  BOOST_TEST(cache.skipped()[2].find("missing.png") != std::string::npos);
  BOOST_TEST((cache.image(0) == cache_image(good0, 24)));
  BOOST_TEST((cache.image(1) == cache_image(good1, 24)));

  expect_error([&] { ImageCache::load({sample("broken.png", 0)}, options); }, "none of the 1 images");
}

BOOST_AUTO_TEST_CASE(prefetcher_keeps_order_and_passes_errors_on) {
  const ImageCache cache = ImageCache::from_images({random_image(20, 20, 3, 91)}, {}, 12, Device::CPU);
  TransformOptions options;
  options.transforms_per_image = 2;
  std::mt19937_64 rng(4), check(4);
  int produced = 0;
  {
    Prefetcher prefetch([&]() -> std::optional<Batch> {
      if (produced == 5) return std::nullopt;
      ++produced;
      return make_batch(cache, {0}, options, rng);
    });
    for (int i = 0; i < 5; ++i) {
      std::optional<Batch> b = prefetch.next();
      BOOST_REQUIRE(b.has_value());
      BOOST_TEST(b->angles == make_batch(cache, {0}, options, check).angles);
    }
    BOOST_TEST(!prefetch.next().has_value());
    BOOST_TEST(!prefetch.next().has_value());
  }
  {
    int calls = 0;
    Prefetcher prefetch([&]() -> std::optional<Batch> {
      if (++calls == 3) throw Error("/data/x/bad.png: not a PNG or JPEG image");
      return make_batch(cache, {0}, options, rng);
    }, 1);
    BOOST_TEST(prefetch.next().has_value());
    BOOST_TEST(prefetch.next().has_value());
    expect_error([&] { prefetch.next(); }, "/data/x/bad.png");
    BOOST_TEST(!prefetch.next().has_value());
  }
  {
    // Destroyed while the worker waits on a full queue of an endless stream.
    Prefetcher prefetch([&]() -> std::optional<Batch> { return make_batch(cache, {0}, options, rng); }, 2);
    BOOST_TEST(prefetch.next().has_value());
  }
}
