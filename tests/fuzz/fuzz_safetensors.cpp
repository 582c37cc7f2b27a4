// weights::parse_safetensors on arbitrary bytes: header length, the JSON
// reader, dtypes, shapes and data offsets.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_common.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  differnet::fuzz::expect_only_differnet_errors([&] {
    differnet::weights::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  });
  return 0;
}
