#include "data/image_io.h"

#include "weights/file_io.h"

#include <png.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "autograd/error.h"
#include "data/transform_math.h"

namespace differnet::data {
namespace {

// ---- PNG through libpng ------------------------------------------------------
// libpng reports errors by calling our error function, which longjmps back to
// the setjmp in the decoding function. Between setjmp and longjmp only C objects
// live (POD state, malloc'ed buffers), so no C++ destructor is ever skipped; the
// C++ wrappers copy the result out afterwards.

struct PngIo {  // trivially destructible: survives a longjmp
  const uint8_t* in = nullptr;  // reading: the file bytes
  size_t in_size = 0;
  size_t in_pos = 0;
  uint8_t* out = nullptr;  // writing: a malloc'ed growing buffer
  size_t out_size = 0;
  size_t out_capacity = 0;
  char message[256] = {0};
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->message, sizeof io->message, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

void png_read_bytes(png_structp png, png_bytep dst, png_size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (n > io->in_size - io->in_pos) png_error(png, "file is truncated");
  std::memcpy(dst, io->in + io->in_pos, n);
  io->in_pos += n;
}

void png_write_bytes(png_structp png, png_bytep src, png_size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (io->out_size + n > io->out_capacity) {
    size_t cap = io->out_capacity ? io->out_capacity : 4096;
    while (cap < io->out_size + n) cap *= 2;
    auto* grown = static_cast<uint8_t*>(std::realloc(io->out, cap));
    if (!grown) png_error(png, "out of memory");
    io->out = grown;
    io->out_capacity = cap;
  }
  std::memcpy(io->out + io->out_size, src, n);
  io->out_size += n;
}

void png_flush_noop(png_structp) {}

// Decodes into a malloc'ed buffer with `*channels_out` channels (1..4, 8-bit).
// Returns false with io->message set on any error.
bool png_decode_raw(PngIo* io, uint8_t** pixels_out, int* width_out, int* height_out, int* channels_out) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, io, png_on_error, png_on_warning);
  if (!png) {
    std::snprintf(io->message, sizeof io->message, "cannot create a libpng reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(io->message, sizeof io->message, "cannot create a libpng reader");
    return false;
  }
  uint8_t* volatile pixels = nullptr;
  png_bytep* volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    std::free(pixels);
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, io, png_read_bytes);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int depth = 0, color = 0;
  png_get_IHDR(png, info, &width, &height, &depth, &color, nullptr, nullptr, nullptr);
  if (static_cast<long long>(width) * height > kMaxImagePixels) png_error(png, "image has too many pixels");
  // Transforms to 8-bit gray or RGB; whatever alpha remains is dropped below.
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 || rowbytes != width * size_t(channels))
    png_error(png, "unsupported PNG sample layout");
  pixels = static_cast<uint8_t*>(std::malloc(rowbytes * height));
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * height));
  if (!pixels || !rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = pixels + y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  std::free(rows);
  *pixels_out = pixels;
  *width_out = static_cast<int>(width);
  *height_out = static_cast<int>(height);
  *channels_out = channels;
  return true;
}

bool png_read_size_raw(PngIo* io, int* width_out, int* height_out) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, io, png_on_error, png_on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, io, png_read_bytes);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_read_info(png, info);
  *width_out = static_cast<int>(png_get_image_width(png, info));
  *height_out = static_cast<int>(png_get_image_height(png, info));
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

bool png_encode_raw(PngIo* io, const uint8_t* pixels, int width, int height, int channels) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io, png_on_error, png_on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, io, png_write_bytes, png_flush_noop);
  png_set_compression_level(png, 1);  // data-set files: fast to write, still compact
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_set_IHDR(png, info, width, height, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels + static_cast<size_t>(y) * width * channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

void check_size(int width, int height, const std::string& name) {
  DIFFERNET_CHECK(width > 0 && height > 0 && width <= kMaxImageSide && height <= kMaxImageSide &&
                      static_cast<long long>(width) * height <= kMaxImagePixels,
                  name, ": image size ", width, "x", height, " is outside 1..", kMaxImageSide,
                  " a side / ", kMaxImagePixels, " pixels");
}

Image decode_png(const std::vector<uint8_t>& bytes, const std::string& name) {
  PngIo io;
  io.in = bytes.data();
  io.in_size = bytes.size();
  uint8_t* raw = nullptr;
  int width = 0, height = 0, channels = 0;
  DIFFERNET_CHECK(png_decode_raw(&io, &raw, &width, &height, &channels), name, ": invalid PNG: ", io.message);
  std::unique_ptr<uint8_t, decltype(&std::free)> owned(raw, &std::free);
  check_size(width, height, name);
  const int out_channels = channels <= 2 ? 1 : 3;  // gray(+alpha) -> gray, RGB(A) -> RGB
  Image image(width, height, out_channels);
  const size_t n = static_cast<size_t>(width) * height;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < out_channels; ++c) image.pixels[i * out_channels + c] = raw[i * channels + c];
  return image;
}

// ---- JPEG through TurboJPEG --------------------------------------------------
// TurboJPEG catches libjpeg's errors itself (setjmp inside the library); any
// non-zero return, warnings included (a truncated stream), is an error here.

struct TjHandle {
  tjhandle handle = tjInitDecompress();
  ~TjHandle() {
    if (handle) tjDestroy(handle);
  }
};

struct JpegHeader {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
};

JpegHeader jpeg_header(TjHandle& tj, const std::vector<uint8_t>& bytes, const std::string& name) {
  DIFFERNET_CHECK(tj.handle != nullptr, name, ": cannot create a TurboJPEG decompressor: ", tjGetErrorStr2(nullptr));
  JpegHeader h;
  const int rc = tjDecompressHeader3(tj.handle, bytes.data(), static_cast<unsigned long>(bytes.size()), &h.width,
                                     &h.height, &h.subsampling, &h.colorspace);
  DIFFERNET_CHECK(rc == 0, name, ": invalid JPEG: ", tjGetErrorStr2(tj.handle));
  check_size(h.width, h.height, name);
  return h;
}

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name) {
  TjHandle tj;
  const JpegHeader h = jpeg_header(tj, bytes, name);
  const bool gray = h.colorspace == TJCS_GRAY;
  Image image(h.width, h.height, gray ? 1 : 3);
  // Default flags: accurate integer DCT and fancy upsampling, as PIL decodes.
  const int rc = tjDecompress2(tj.handle, bytes.data(), static_cast<unsigned long>(bytes.size()), image.pixels.data(),
                               h.width, 0, h.height, gray ? TJPF_GRAY : TJPF_RGB, 0);
  DIFFERNET_CHECK(rc == 0, name, ": invalid JPEG: ", tjGetErrorStr2(tj.handle));
  return image;
}

}  // namespace

ImageFormat sniff_format(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) return ImageFormat::Png;
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return ImageFormat::Jpeg;
  throw Error(detail::concat(name, ": not a PNG or JPEG image (unrecognised first bytes)"));
}

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  return sniff_format(bytes, name) == ImageFormat::Png ? decode_png(bytes, name) : decode_jpeg(bytes, name);
}

Image load_image(const std::string& path) { return decode_image(read_file_bytes(path), path); }

Image load_rgb(const std::string& path) {
  Image image = load_image(path);
  if (image.channels == 3) return image;
  Image rgb(image.width, image.height, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = image.pixels[i];
  return rgb;
}

Image load_gray(const std::string& path) {
  Image image = load_image(path);
  if (image.channels == 1) return image;
  Image gray(image.width, image.height, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i)
    gray.pixels[i] = pil_luma(image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2]);
  return gray;
}

ImageSize read_image_size(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  ImageSize size;
  if (sniff_format(bytes, path) == ImageFormat::Png) {
    PngIo io;
    io.in = bytes.data();
    io.in_size = bytes.size();
    DIFFERNET_CHECK(png_read_size_raw(&io, &size.width, &size.height), path, ": invalid PNG: ", io.message);
  } else {
    TjHandle tj;
    const JpegHeader h = jpeg_header(tj, bytes, path);
    size.width = h.width;
    size.height = h.height;
  }
  check_size(size.width, size.height, path);
  return size;
}

std::vector<uint8_t> encode_png(const Image& image, const std::string& name) {
  DIFFERNET_CHECK(image.channels == 1 || image.channels == 3, name, ": can only write gray or RGB PNG, got ",
                  image.channels, " channels");
  check_size(image.width, image.height, name);
  DIFFERNET_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels, name,
                  ": pixel buffer does not match ", image.width, "x", image.height, "x", image.channels);
  PngIo io;
  const bool ok = png_encode_raw(&io, image.pixels.data(), image.width, image.height, image.channels);
  std::unique_ptr<uint8_t, decltype(&std::free)> owned(io.out, &std::free);
  DIFFERNET_CHECK(ok, name, ": cannot encode PNG: ", io.message);
  return std::vector<uint8_t>(io.out, io.out + io.out_size);
}

void save_png(const Image& image, const std::string& path) { write_file_atomic(path, encode_png(image, path)); }

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  const std::string bytes = weights::read_file_bytes(path);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  weights::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace differnet::data
