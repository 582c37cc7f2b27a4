#include "data/image_cache.h"

#include <omp.h>

#include <cstdio>
#include <cstring>

#include "autograd/error.h"
#include "data/image_io.h"
#include "data/transforms.h"

namespace differnet::data {
namespace {

size_t image_bytes(int size) { return size_t(size) * size * 3; }

// A failure message that names the file, whether or not the decoder did.
std::string failure_message(const std::string& path, const char* what) {
  const std::string w = what;
  return w.find(path) != std::string::npos ? w : path + ": " + w;
}

}  // namespace

Image cache_image(const Image& decoded, int size) {
  DIFFERNET_CHECK(size > 0, "image cache: bad image size ", size);
  const Image resized = resize_bilinear(decoded, size, size);  // per channel, so gray may be replicated after
  if (resized.channels == 3) return resized;
  Image rgb(size, size, 3);
  for (size_t i = 0; i < resized.pixels.size(); ++i)
    rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = resized.pixels[i];
  return rgb;
}

ImageCache ImageCache::load(const std::vector<Sample>& samples, const ImageCacheOptions& options) {
  DIFFERNET_CHECK(!samples.empty(), "image cache: no images to load");
  DIFFERNET_CHECK(options.size > 0, "image cache: bad image size ", options.size);
  const int64_t n = int64_t(samples.size());
  const size_t bytes = image_bytes(options.size);
  std::vector<uint8_t> host(size_t(n) * bytes, 0);
  std::vector<std::string> errors(static_cast<size_t>(n));
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    const std::string& path = samples[size_t(i)].path;
    try {
      const Image img = cache_image(load_image(path), options.size);
      std::memcpy(host.data() + size_t(i) * bytes, img.pixels.data(), bytes);
    } catch (const std::exception& e) {
      errors[size_t(i)] = failure_message(path, e.what());
    }
  }

  ImageCache cache;
  cache.size_ = options.size;
  size_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& error = errors[size_t(i)];
    if (!error.empty()) {
      if (options.on_bad_image == BadImagePolicy::Stop) throw Error("image cache: cannot load " + error);
      std::fprintf(stderr, "warning: image cache: skipping %s\n", error.c_str());
      cache.skipped_.push_back(error);
      continue;
    }
    if (kept != size_t(i)) std::memmove(host.data() + kept * bytes, host.data() + size_t(i) * bytes, bytes);
    cache.labels_.push_back(samples[size_t(i)].label);
    cache.paths_.push_back(samples[size_t(i)].path);
    cache.source_index_.push_back(size_t(i));
    ++kept;
  }
  DIFFERNET_CHECK(kept > 0, "image cache: none of the ", n, " images could be loaded (first: ", cache.skipped_.front(),
                  ")");
  host.resize(kept * bytes);
  cache.pixels_ = Tensor::from_vector(host, {int64_t(kept), options.size, options.size, 3}, options.device);
  return cache;
}

ImageCache ImageCache::from_images(const std::vector<Image>& images, const std::vector<int>& labels, int size,
                                   Device device) {
  DIFFERNET_CHECK(!images.empty(), "image cache: no images");
  DIFFERNET_CHECK(labels.empty() || labels.size() == images.size(), "image cache: ", labels.size(), " labels for ",
                  images.size(), " images");
  const int64_t n = int64_t(images.size());
  const size_t bytes = image_bytes(size);
  std::vector<uint8_t> host(size_t(n) * bytes, 0);
  std::vector<std::string> errors(static_cast<size_t>(n));
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const Image img = cache_image(images[size_t(i)], size);
      std::memcpy(host.data() + size_t(i) * bytes, img.pixels.data(), bytes);
    } catch (const std::exception& e) {
      errors[size_t(i)] = e.what();
    }
  }
  for (int64_t i = 0; i < n; ++i)
    DIFFERNET_CHECK(errors[size_t(i)].empty(), "image cache: image ", i, ": ", errors[size_t(i)]);
  ImageCache cache;
  cache.size_ = size;
  cache.labels_ = labels.empty() ? std::vector<int>(size_t(n), 0) : labels;
  cache.paths_.assign(size_t(n), std::string());
  for (int64_t i = 0; i < n; ++i) cache.source_index_.push_back(size_t(i));
  cache.pixels_ = Tensor::from_vector(host, {n, size, size, 3}, device);
  return cache;
}

Image ImageCache::image(int64_t row) const {
  DIFFERNET_CHECK(row >= 0 && row < count(), "image cache: row ", row, " of ", count());
  const size_t bytes = image_bytes(size_);
  const Tensor host = Tensor::view_of(pixels_.impl().storage, pixels_.impl().offset + row * int64_t(bytes),
                                      {size_, size_, 3}, DType::UInt8)
                          .to(Device::CPU);
  Image out(size_, size_, 3);
  std::memcpy(out.pixels.data(), host.data<uint8_t>(), bytes);
  return out;
}

}  // namespace differnet::data
