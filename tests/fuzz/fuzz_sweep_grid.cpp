// differnet_sweep's readers: the input as a grid file (expand_grid) and as a
// sweep folder's manifest.json (read_manifest, JSON with fractions). A bad
// file must give a differnet::Error naming the problem; nothing else may escape.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/common/sweep.h"
#include "tests/fuzz/fuzz_common.h"

namespace fs = std::filesystem;

namespace {

// A scratch folder for the inputs, removed when the fuzzer exits.
struct Scratch {
  std::string dir = (fs::temp_directory_path() / ("differnet_fuzz_sweep_" + std::to_string(getpid()))).string();
  Scratch() { fs::create_directories(dir); }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const std::string& scratch_dir() {
  static const Scratch scratch;
  return scratch.dir;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string grid = scratch_dir() + "/grid.cfg";
  write(grid, data, size);
  differnet::fuzz::expect_only_differnet_errors([&] { differnet::app::expand_grid(grid); });
  write(scratch_dir() + "/manifest.json", data, size);
  differnet::fuzz::expect_only_differnet_errors([&] { differnet::app::read_manifest(scratch_dir()); });
  return 0;
}
