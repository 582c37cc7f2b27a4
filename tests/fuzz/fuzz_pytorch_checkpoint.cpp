// weights::parse_pytorch_checkpoint on arbitrary bytes: the zip reader, the
// legacy pickle sequence and the restricted unpickler behind both.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_common.h"
#include "weights/pytorch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  differnet::fuzz::expect_only_differnet_errors([&] {
    differnet::weights::parse_pytorch_checkpoint(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  });
  return 0;
}
