// A decoded image on the host: height x width x channels, interleaved (HWC) uint8.
// This is the currency of data/ (decoding, data-set preparation, CPU reference
// transforms); conversion to float tensors happens last (transforms.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace differnet::data {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;  // row-major, channels interleaved

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * h * c, fill) {}

  uint8_t& at(int x, int y, int c) { return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c]; }
  const uint8_t* ptr(int x, int y, int c) const { return &pixels[(static_cast<std::size_t>(y) * width + x) * channels + c]; }
  bool operator==(const Image& o) const {
    return width == o.width && height == o.height && channels == o.channels && pixels == o.pixels;
  }
  bool operator!=(const Image& o) const { return !(*this == o); }
};

}  // namespace differnet::data
