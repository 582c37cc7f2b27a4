// The decoded, resized images of a data set, held once for a whole run.
// Every image is decoded (RGB) and resized to S x S with PIL's antialiased
// bilinear filter exactly once, by worker threads on the CPU, then the whole
// set goes to the target device in one upload as a uint8 tensor
// [count, S, S, 3] (HWC). Batches (data/batch.h) are cut from it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "data/dataset.h"
#include "data/image.h"

namespace differnet::data {

// What to do with an image that cannot be decoded: stop with an error naming
// the file, or leave it out with a warning on stderr (also kept in
// ImageCache::skipped()). Never silent.
enum class BadImagePolicy { Stop, Skip };

struct ImageCacheOptions {
  int size = 448;  // S: the side of the cached square images
  Device device = Device::CPU;
  BadImagePolicy on_bad_image = BadImagePolicy::Stop;
  int threads = 0;  // decoding threads; 0: OpenMP's default
};

class ImageCache {
 public:
  ImageCache() = default;

  // Decodes and resizes the samples' images. With BadImagePolicy::Skip the
  // unreadable ones are left out (source_index() maps rows back to samples);
  // an error when none is left.
  static ImageCache load(const std::vector<Sample>& samples, const ImageCacheOptions& options);

  // Images already in memory (any size, gray or RGB): converted to RGB and
  // resized like loaded ones. labels: one per image, or empty for all 0.
  static ImageCache from_images(const std::vector<Image>& images, const std::vector<int>& labels, int size,
                                Device device);

  int64_t count() const { return int64_t(labels_.size()); }
  int size() const { return size_; }
  Device device() const { return pixels_.device(); }
  const Tensor& pixels() const { return pixels_; }        // uint8 [count, S, S, 3]
  int label(int64_t row) const { return labels_.at(size_t(row)); }
  const std::vector<int>& labels() const { return labels_; }
  const std::vector<std::string>& paths() const { return paths_; }  // empty names for from_images
  const std::vector<size_t>& source_index() const { return source_index_; }  // row -> input position
  const std::vector<std::string>& skipped() const { return skipped_; }  // "PATH: reason" per skipped image

  // Row `row` as a host image (copies from the device when needed).
  Image image(int64_t row) const;

 private:
  int size_ = 0;
  Tensor pixels_;
  std::vector<int> labels_;
  std::vector<std::string> paths_;
  std::vector<size_t> source_index_;
  std::vector<std::string> skipped_;
};

// One image as the cache holds it: RGB (gray replicated), PIL-bilinear resized to size x size.
Image cache_image(const Image& decoded, int size);

}  // namespace differnet::data
