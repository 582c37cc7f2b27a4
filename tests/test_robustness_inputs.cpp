// Regression tests for what fuzzing (tests/fuzz, docs/robustness.md) found:
// each input here once escaped as something other than a differnet::Error,
// hung, or hit undefined behaviour. They must now give a differnet::Error that
// names the problem.
#define BOOST_TEST_MODULE robustness_inputs
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/common/options.h"
#include "autograd/error.h"
#include "data/dataset.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace differnet;
using differnet::testing::expect_error;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("differnet_robustness_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

// parse_train_options with "--config FILE" holding `text`.
void parse_config(const fs::path& dir, const std::string& text) {
  const fs::path file = dir / "train.cfg";
  std::ofstream(file, std::ios::binary) << text;
  std::vector<std::string> args = {"train_mvtec", "--config", file.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  app::TrainOptions options;
  app::parse_train_options(int(argv.size()), argv.data(), options);
}

}  // namespace

// fuzz_dataset_scan: a symbolic link that points at itself made std::filesystem
// throw filesystem_error ("Too many levels of symbolic links") out of the scanner.
BOOST_AUTO_TEST_CASE(symbolic_link_loops_in_a_data_set_are_errors) {
  TempDir tmp;
  const fs::path root = tmp.path / "root";
  touch(root / "cat/train/good/a.png");
  touch(root / "cat/test/good/a.png");
  fs::create_symlink("loop.png", root / "cat/train/good/loop.png");
  expect_error([&] { data::load_category(root.string(), "cat"); }, "loop.png: Too many levels of symbolic links");
  fs::create_symlink("c", root / "c");  // a category-level loop, met while listing the categories
  expect_error([&] { data::list_categories(root.string()); }, "Too many levels of symbolic links");
  expect_error([&] { data::load_category(root.string(), "missing"); }, "Too many levels of symbolic links");
}

// fuzz_train_config: Boost.Program_options substitutes %canonical_option% in its
// message until none is left, so an unknown key holding that text made what()
// loop forever.
BOOST_AUTO_TEST_CASE(config_text_holding_boost_message_placeholders_is_refused) {
  TempDir tmp;
  expect_error([&] { parse_config(tmp.path, "data = d\ncategory = c\npro%canonical_option%file = 1\n"); },
               "'%canonical_option%' is not allowed in options");
  expect_error([&] { parse_config(tmp.path, "data = d\ncategory = c\nscales = %value%\n"); },
               "'%value%' is not allowed in options");
  // fuzz_train_config, later: %invalid_line% (a malformed config line) looped the same way; every %name% is refused.
  expect_error([&] { parse_config(tmp.path, "d%pr\xc9\xc9%invalid_line%\xc9\x00lix%\n"); },
               "'%invalid_line%' is not allowed in options");
  expect_error([&] { parse_config(tmp.path, "data = d\ncategory = c\nnote = %some_future_token%\n"); },
               "'%some_future_token%' is not allowed in options");
  // A plain percent sign is fine.
  parse_config(tmp.path, "data = d\ncategory = c\nnote = 100% synthetic\nimage-size = 64\nscales = 1\n");
}

// validate() shifted --image-size right by --scales - 1 bits: undefined for 32 and more.
BOOST_AUTO_TEST_CASE(huge_scale_counts_are_errors_not_undefined_shifts) {
  TempDir tmp;
  for (const char* scales : {"32", "40", "2147483647"})
    expect_error([&] { parse_config(tmp.path, std::string("data = d\ncategory = c\nscales = ") + scales + "\n"); },
                 std::string("--scales ") + scales + ": the smallest scale would be 0 px");
  expect_error([&] { parse_config(tmp.path, "data = d\ncategory = c\nscales = x\n"); }, "option 'scales' is invalid");
}
