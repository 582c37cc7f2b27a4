// data::load_category and data::list_categories on a folder tree built from the
// input, in a scratch folder that is emptied after every input. The input is
// lines, each one entry relative to the data-set root (the category scanned is
// "cat", so entries such as "cat/train/good/a.png" matter):
//   "DIR/"              a folder (and its parents)
//   "FILE"              a one-byte file (and its parent folders)
//   "L LINK TARGET"     a symbolic link LINK -> TARGET (TARGET relative, may dangle or loop)
// Names are kept inside the scratch folder: no absolute paths, no "." or ".."
// components, at most 8 levels and 64 entries.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"
#include "tests/fuzz/fuzz_common.h"

namespace fs = std::filesystem;

namespace {

const fs::path& scratch_root() {
  static const fs::path root = [] {
    std::string templ = (fs::temp_directory_path() / "differnet_fuzz_dataset_XXXXXX").string();
    if (!mkdtemp(templ.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_root(), ec);
    });
    return fs::path(templ) / "root";
  }();
  return root;
}

// A relative path of 1..8 plain components, or empty when the text is not one.
fs::path safe_relative(std::string_view text) {
  if (text.empty() || text.size() > 200 || text.front() == '/') return {};
  fs::path out;
  int depth = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) slash = text.size();
    const std::string_view part = text.substr(start, slash - start);
    if (part.empty() && slash == text.size() && depth > 0) break;  // a trailing '/'
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos || ++depth > 8)
      return {};
    out /= std::string(part);
    start = slash + 1;
  }
  return out;
}

void build_tree(const fs::path& root, std::string_view input) {
  std::error_code ec;
  fs::create_directories(root, ec);
  int entries = 0;
  while (!input.empty() && entries < 64) {
    const size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    ++entries;
    if (line.size() > 2 && line.substr(0, 2) == "L ") {
      const std::string_view rest = line.substr(2);
      const size_t space = rest.find(' ');
      if (space == std::string_view::npos) continue;
      const fs::path link = safe_relative(rest.substr(0, space)), target = safe_relative(rest.substr(space + 1));
      if (link.empty() || target.empty()) continue;
      fs::create_directories((root / link).parent_path(), ec);
      fs::create_symlink(target, root / link, ec);
    } else if (const fs::path p = safe_relative(line); !p.empty()) {
      if (line.back() == '/') {
        fs::create_directories(root / p, ec);
      } else {
        fs::create_directories((root / p).parent_path(), ec);
        std::ofstream(root / p, std::ios::binary) << 'x';
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path& root = scratch_root();
  build_tree(root, std::string_view(reinterpret_cast<const char*>(data), size));
  differnet::fuzz::expect_only_differnet_errors([&] { differnet::data::list_categories(root.string()); });
  differnet::fuzz::expect_only_differnet_errors([&] {
    const differnet::data::Category cat = differnet::data::load_category(root.string(), "cat");
    if (cat.train.empty()) std::abort();  // an empty train/good is an error, never an empty result
  });
  std::error_code ec;
  fs::remove_all(root, ec);
  if (ec) std::abort();
  return 0;
}
