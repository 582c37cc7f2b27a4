// data::decode_image on arbitrary bytes: PNG through libpng, JPEG through
// TurboJPEG, chosen by the magic bytes. A decoded image must hold exactly
// width * height * channels pixels.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "data/image_io.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  differnet::fuzz::expect_only_differnet_errors([&] {
    const differnet::data::Image image = differnet::data::decode_image(std::vector<uint8_t>(data, data + size), "fuzz");
    if (image.pixels.size() != size_t(image.width) * size_t(image.height) * size_t(image.channels)) std::abort();
  });
  return 0;
}
