// Image files: PNG (libpng) and JPEG (libjpeg-turbo's TurboJPEG API) in, PNG out.
// The format is detected from the magic bytes, never from the file name. Every
// failure inside the C libraries (corrupt, truncated, not an image, absurd size)
// becomes a differnet::Error whose message names the file; nothing aborts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace differnet::data {

// Largest accepted image: 2^14 pixels a side and 2^28 pixels in all.
constexpr int kMaxImageSide = 1 << 14;
constexpr long long kMaxImagePixels = 1LL << 28;

enum class ImageFormat { Png, Jpeg };

// The format named by the first bytes of a file; throws when it is neither.
ImageFormat sniff_format(const std::vector<uint8_t>& bytes, const std::string& name);

// Decode to the file's own colour model: 1 channel for gray (and gray+alpha),
// 3 for colour (RGB, RGBA, palette). 16-bit samples keep their high byte (as
// libpng's png_set_strip_16 and PIL's 16-bit RGB reader do); alpha is dropped.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name);
Image load_image(const std::string& path);

// 3-channel RGB; gray is replicated to 3 channels (PIL's convert("RGB")).
Image load_rgb(const std::string& path);

// 1-channel gray; colour is converted with PIL's "L" formula (ITU-R 601-2 luma).
// For masks: a value > kMaskThreshold counts as defect.
Image load_gray(const std::string& path);
constexpr uint8_t kMaskThreshold = 127;

// Width and height from the header only (no pixel decoding).
struct ImageSize {
  int width = 0;
  int height = 0;
};
ImageSize read_image_size(const std::string& path);

// Encode 8-bit gray (1 channel) or RGB (3 channels) as PNG.
std::vector<uint8_t> encode_png(const Image& image, const std::string& name);

// Write a PNG atomically: a temporary file beside `path`, then rename.
void save_png(const Image& image, const std::string& path);

// Whole-file helpers for byte vectors (weights/file_io.h does the work; errors name the file).
std::vector<uint8_t> read_file_bytes(const std::string& path);
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace differnet::data
