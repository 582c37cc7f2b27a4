// Data-path benchmarks: batches cut from an image cache of synthetic images
// (no disk), and decoding + resizing one image made in memory. Images per
// second = images / median_ms * 1000 (the line carries "images").
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "apps/common/model.h"
#include "autograd/error.h"
#include "bench/bench.h"
#include "data/batch.h"
#include "data/image_cache.h"
#include "data/image_io.h"

namespace differnet::bench {
namespace {

// A smooth texture with a little noise: compresses like a photograph, not like noise.
data::Image synthetic_image(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  data::Image img(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        img.at(x, y, c) = uint8_t(128 + 60 * std::sin(0.05 * x + 0.03 * y + c) + int(rng() % 16));
  return img;
}

data::ImageCache synthetic_cache(int count, int size, Device device) {
  std::vector<data::Image> images;
  for (int i = 0; i < count; ++i) images.push_back(synthetic_image(size, size, uint32_t(i)));
  return data::ImageCache::from_images(images, {}, size, device);
}

std::vector<uint8_t> encode_jpeg(const data::Image& img, int quality) {
  tjhandle tj = tjInitCompress();
  DIFFERNET_CHECK(tj != nullptr, "bench: cannot create a TurboJPEG compressor");
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, img.pixels.data(), img.width, 0, img.height, TJPF_RGB, &buf, &size, TJSAMP_420,
                             quality, 0);
  std::vector<uint8_t> out;
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  DIFFERNET_CHECK(rc == 0, "bench: JPEG encoding failed");
  return out;
}

// B images x N transforms at side S, on the benchmark's device. Pixels: the
// CPU training loop's data work, a uint8 batch then its normalisation in
// feature pieces (apps/common/model.h).
void run_batches(BenchState& state, int images, int transforms, int size, bool jitter, data::RotationMode rotation,
                 data::BatchForm form = data::BatchForm::Normalized) {
  const data::ImageCache cache = synthetic_cache(images, size, state.device());
  std::vector<int> indices(static_cast<size_t>(images));
  for (int i = 0; i < images; ++i) indices[size_t(i)] = i;
  data::TransformOptions options;
  options.transforms_per_image = transforms;
  options.rotation = rotation;
  options.color_jitter = jitter;
  std::mt19937_64 rng(0);
  const double samples = double(images) * transforms;
  state.set("images", samples);
  state.set("size", double(size));
  state.set("color_jitter", jitter ? 1.0 : 0.0);
  state.set_bytes(samples * 3 * size * size * 4.0);  // the float output written
  if (form == data::BatchForm::Normalized) {
    state.measure([&] { data::make_batch(cache, indices, options, rng); });
    return;
  }
  state.measure([&] {
    const data::Batch batch = data::make_batch(cache, indices, options, rng, form);
    const int64_t n = batch.images.size(0), piece = app::DifferNetModel::kCpuFeatureChunk;
    for (int64_t start = 0; start < n; start += piece)
      data::normalize_pixels(batch.images, start, std::min(piece, n - start));
  });
}

void run_decode_resize(BenchState& state, const std::vector<uint8_t>& file, const char* format) {
  state.set("images", 1.0);
  state.set("source_side", 1024.0);
  state.set("size", 448.0);
  state.set("format", format);
  state.set("file_bytes", double(file.size()));
  state.measure([&] { data::cache_image(data::decode_image(file, format), 448); });
}

}  // namespace

// A DifferNet training batch: 24 images x 4 transforms at 448 with rotation
// and (as for MTD, the dearer case) colour jitter: 96 samples.
DIFFERNET_BENCHMARK(data_train_batch) {
  run_batches(state, state.quick() ? 6 : 24, 4, 448, true, data::RotationMode::Random);
}

// The same batch as train_mvtec makes it on the CPU: uint8, normalised 16
// samples at a time (the GPU keeps float batches: nothing to measure there).
DIFFERNET_BENCHMARK(data_train_batch_pixels) {
  if (state.device() != Device::CPU) {
    state.set("note", "CPU only: the GPU keeps float batches");
    return;
  }
  run_batches(state, state.quick() ? 6 : 24, 4, 448, true, data::RotationMode::Random, data::BatchForm::Pixels);
}

// Test-time augmentation: 64 rotations of each of 2 images at 448: 128 samples.
DIFFERNET_BENCHMARK(data_test_batch) {
  run_batches(state, 2, state.quick() ? 16 : 64, 448, false, data::RotationMode::Random);
}

// Host work per image at cache-building time: decode a 1024 x 1024 file and
// resize it to 448 (one thread; ImageCache::load runs one per core).
DIFFERNET_BENCHMARK(data_decode_resize_png) {
  run_decode_resize(state, data::encode_png(synthetic_image(1024, 1024, 1), "bench.png"), "png");
}

DIFFERNET_BENCHMARK(data_decode_resize_jpeg) {
  run_decode_resize(state, encode_jpeg(synthetic_image(1024, 1024, 1), 95), "jpeg");
}

}  // namespace differnet::bench
