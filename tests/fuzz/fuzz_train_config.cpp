// train_mvtec's options: parse_train_options with "--config FILE", FILE holding
// the input (key = value lines), then validate(). A bad file must give a
// differnet::Error naming the problem; no other outcome is acceptable.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/common/options.h"
#include "tests/fuzz/fuzz_common.h"

namespace fs = std::filesystem;

namespace {

const std::string& config_path() {
  static const std::string path = [] {
    std::string p = (fs::temp_directory_path() / ("differnet_fuzz_config_" + std::to_string(getpid()) + ".cfg")).string();
    std::atexit([] { std::remove(config_path().c_str()); });
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(config_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  std::string args[] = {"train_mvtec", "--config", config_path()};
  char* argv[] = {args[0].data(), args[1].data(), args[2].data(), nullptr};
  differnet::fuzz::expect_only_differnet_errors([&] {
    differnet::app::TrainOptions options;
    differnet::app::parse_train_options(3, argv, options);
  });
  return 0;
}
