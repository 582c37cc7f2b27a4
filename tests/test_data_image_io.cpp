// Decoding every PNG flavour and JPEG against fixtures written by
// scripts/make_data_fixtures.py; corrupt and truncated files must raise
// differnet::Error naming the file (and never crash); PNG writing round-trips.
#define BOOST_TEST_MODULE data_image_io
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <random>
#include <string>

#include "autograd/error.h"
#include "data/image_io.h"

namespace fs = std::filesystem;
using namespace differnet::data;

namespace {

const std::string kFixtures = std::string(DIFFERNET_SOURCE_DIR) + "/tests/fixtures/data/";

Image expected_rgb(const std::string& stem, int w, int h) {
  Image img(w, h, 3);
  img.pixels = read_file_bytes(kFixtures + stem + ".rgb");
  BOOST_REQUIRE_EQUAL(img.pixels.size(), size_t(w) * h * 3);
  return img;
}

// Decoding must either succeed or throw differnet::Error whose message names `name`.
void decode_or_named_error(const std::vector<uint8_t>& bytes, const std::string& name, int* errors) {
  try {
    decode_image(bytes, name);
  } catch (const differnet::Error& e) {
    ++*errors;
    BOOST_TEST_REQUIRE(std::string(e.what()).find(name) != std::string::npos, e.what());
  }
}

fs::path temp_dir(const std::string& tag) {
  fs::path dir = fs::temp_directory_path() / ("differnet_" + tag + "_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(png_flavours_decode_to_8bit_rgb) {
  for (const char* stem : {"png_gray8", "png_gray16", "png_gray4", "png_graya8", "png_rgb8", "png_rgba8", "png_rgb16",
                           "png_palette"}) {
    BOOST_TEST_CONTEXT(stem) {
      const Image got = load_rgb(kFixtures + stem + ".png");
      BOOST_TEST(got.channels == 3);
      BOOST_TEST((got == expected_rgb(stem, 7, 5)));
    }
  }
}

BOOST_AUTO_TEST_CASE(gray_files_keep_one_channel) {
  BOOST_TEST(load_image(kFixtures + "png_gray16.png").channels == 1);
  BOOST_TEST(load_image(kFixtures + "png_graya8.png").channels == 1);
  BOOST_TEST(load_image(kFixtures + "jpeg_gray.jpg").channels == 1);
  // load_gray of a colour file: PIL's "L" conversion of the expected RGB.
  const Image gray = load_gray(kFixtures + "png_rgb8.png");
  const Image rgb = expected_rgb("png_rgb8", 7, 5);
  BOOST_TEST(gray.channels == 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    const unsigned l = (rgb.pixels[3 * i] * 19595u + rgb.pixels[3 * i + 1] * 38470u + rgb.pixels[3 * i + 2] * 7471u + 0x8000u) >> 16;
    BOOST_TEST(gray.pixels[i] == l);
  }
}

BOOST_AUTO_TEST_CASE(jpeg_matches_pillow) {
  // Same library family and default settings (accurate integer DCT, fancy
  // upsampling) as Pillow: expected bit-exact.
  for (const char* stem : {"jpeg_gray", "jpeg_rgb"}) {
    BOOST_TEST_CONTEXT(stem) {
      const Image got = load_rgb(kFixtures + stem + ".jpg");
      BOOST_TEST((got == expected_rgb(stem, 24, 16)));
    }
  }
  const ImageSize size = read_image_size(kFixtures + "jpeg_rgb.jpg");
  BOOST_TEST(size.width == 24);
  BOOST_TEST(size.height == 16);
  BOOST_TEST(read_image_size(kFixtures + "png_rgb16.png").width == 7);
}

BOOST_AUTO_TEST_CASE(format_is_sniffed_not_guessed_from_the_name) {
  const fs::path dir = temp_dir("sniff");
  fs::copy_file(kFixtures + "jpeg_rgb.jpg", dir / "looks_like.png");
  fs::copy_file(kFixtures + "png_rgb8.png", dir / "looks_like.jpg");
  BOOST_TEST(load_rgb((dir / "looks_like.png").string()).width == 24);
  BOOST_TEST(load_rgb((dir / "looks_like.jpg").string()).width == 7);
  write_file_atomic((dir / "text.png").string(), {'h', 'e', 'l', 'l', 'o'});
  BOOST_CHECK_EXCEPTION(load_rgb((dir / "text.png").string()), differnet::Error, [&](const differnet::Error& e) {
    return std::string(e.what()).find("text.png") != std::string::npos;
  });
  BOOST_CHECK_THROW(load_rgb((dir / "missing.png").string()), differnet::Error);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  for (const char* file : {"png_rgb8.png", "png_palette.png", "png_gray16.png", "jpeg_gray.jpg", "jpeg_rgb.jpg"}) {
    BOOST_TEST_CONTEXT(file) {
      const std::vector<uint8_t> bytes = read_file_bytes(kFixtures + file);
      int errors = 0;
      for (size_t n = 0; n < bytes.size(); ++n)
        decode_or_named_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + n), file, &errors);
      BOOST_TEST(errors == int(bytes.size()));  // every strict prefix fails
    }
  }
}

BOOST_AUTO_TEST_CASE(random_byte_flips_never_crash) {
  std::mt19937_64 rng(7);
  for (const char* file : {"png_rgb8.png", "png_palette.png", "png_rgb16.png", "jpeg_gray.jpg", "jpeg_rgb.jpg"}) {
    const std::vector<uint8_t> bytes = read_file_bytes(kFixtures + file);
    int errors = 0;
    for (int trial = 0; trial < 400; ++trial) {
      std::vector<uint8_t> bad = bytes;
      const int flips = 1 + int(rng() % 4);
      for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
      decode_or_named_error(bad, file, &errors);
    }
    BOOST_TEST_MESSAGE(file << ": " << errors << " of 400 corrupted copies rejected");
    if (std::string(file).find(".png") != std::string::npos) BOOST_TEST(errors > 300);  // CRCs catch most flips
  }
}

BOOST_AUTO_TEST_CASE(absurd_dimensions_are_rejected) {
  // A valid PNG header claiming 20000 x 20000 pixels.
  std::vector<uint8_t> png = read_file_bytes(kFixtures + "png_gray8.png");
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = uint8_t(v >> (24 - 8 * i));
  };
  put32(16, 20000);
  put32(20, 20000);
  // fix the IHDR CRC so only the size is wrong
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 12; i < 12 + 4 + 13; ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  put32(29, crc ^ 0xFFFFFFFFu);
  BOOST_CHECK_EXCEPTION(decode_image(png, "huge.png"), differnet::Error, [](const differnet::Error& e) {
    return std::string(e.what()).find("huge.png") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(png_writing_round_trips_atomically) {
  const fs::path dir = temp_dir("write");
  Image rgb(11, 6, 3), gray(5, 9, 1);
  std::mt19937_64 rng(3);
  for (auto& v : rgb.pixels) v = uint8_t(rng());
  for (auto& v : gray.pixels) v = uint8_t(rng());
  save_png(rgb, (dir / "rgb.png").string());
  save_png(gray, (dir / "gray.png").string());
  BOOST_TEST((load_image((dir / "rgb.png").string()) == rgb));
  BOOST_TEST((load_image((dir / "gray.png").string()) == gray));
  BOOST_TEST((encode_png(rgb, "a") == encode_png(rgb, "b")));  // deterministic bytes
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  BOOST_TEST(files == 2);  // no temporary left behind
  BOOST_CHECK_THROW(save_png(rgb, (dir / "no_such_dir" / "x.png").string()), differnet::Error);
  BOOST_CHECK_THROW(encode_png(Image(3, 3, 2), "two_channels.png"), differnet::Error);
  fs::remove_all(dir);
}
