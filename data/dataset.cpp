#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <set>

#include "autograd/error.h"

namespace fs = std::filesystem;

namespace differnet::data {
namespace {

// std::filesystem throws filesystem_error for what stat or readdir refuse (a
// symbolic link loop, a name too long, a folder without permission): such a
// tree is bad input, reported as differnet::Error naming the path.
template <class F>
auto with_filesystem_errors(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const fs::filesystem_error& e) {
    throw Error(detail::concat(e.path1().string(), ": ", e.code().message()));
  }
}

// Image files directly inside dir, sorted by name; throws when there are none.
std::vector<fs::path> list_images(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && has_image_extension(entry.path().filename().string())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  DIFFERNET_CHECK(!files.empty(), dir.string(), ": folder holds no images (.png .jpg .jpeg)");
  return files;
}

std::vector<fs::path> list_subfolders(const fs::path& dir) {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Uniform integer in [0, bound) by rejection (no modulo bias).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t r;
  do r = rng();
  while (r >= limit);
  return r % bound;
}

}  // namespace

bool has_image_extension(const std::string& file_name) {
  std::string ext = fs::path(file_name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

namespace {

std::vector<std::string> scan_categories(const std::string& root) {
  DIFFERNET_CHECK(fs::is_directory(root), root, ": data-set root is not a folder");
  std::vector<std::string> names;
  for (const fs::path& dir : list_subfolders(root))
    if (fs::is_directory(dir / "train" / "good")) names.push_back(dir.filename().string());
  return names;
}

Category scan_category(const std::string& root, const std::string& category) {
  const fs::path dir = fs::path(root) / category;
  if (!fs::is_directory(dir)) {
    std::string available;
    for (const std::string& name : list_categories(root)) available += (available.empty() ? "" : ", ") + name;
    throw Error(detail::concat(dir.string(), ": category '", category, "' not found; available in ", root, ": ",
                               available.empty() ? "(none)" : available));
  }
  const fs::path train_dir = dir / "train" / "good";
  DIFFERNET_CHECK(fs::is_directory(train_dir), train_dir.string(), ": expected ROOT/CAT/train/good with images");
  const fs::path test_dir = dir / "test";
  DIFFERNET_CHECK(fs::is_directory(test_dir), test_dir.string(), ": expected ROOT/CAT/test/<good|defect type>");

  Category cat;
  cat.root = root;
  cat.name = category;
  for (const fs::path& file : list_images(train_dir)) cat.train.push_back({file.string(), 0, "good", ""});

  const fs::path gt_dir = dir / "ground_truth";
  std::set<std::string> masks_used;
  const std::vector<fs::path> types = list_subfolders(test_dir);
  DIFFERNET_CHECK(!types.empty(), test_dir.string(), ": no test folders (expected good and/or defect types)");
  for (const fs::path& type_dir : types) {
    const std::string type = type_dir.filename().string();
    const bool good = type == "good";
    for (const fs::path& file : list_images(type_dir)) {
      Sample s{file.string(), good ? 0 : 1, type, ""};
      const fs::path mask = gt_dir / type / (file.stem().string() + "_mask.png");
      if (!good && fs::is_regular_file(mask)) {
        s.mask_path = mask.string();
        masks_used.insert(s.mask_path);
      }
      cat.test.push_back(std::move(s));
    }
  }
  if (fs::is_directory(gt_dir))
    for (const fs::path& type_dir : list_subfolders(gt_dir))
      for (const auto& entry : fs::directory_iterator(type_dir))
        if (entry.is_regular_file() && has_image_extension(entry.path().filename().string()))
          DIFFERNET_CHECK(masks_used.count(entry.path().string()) == 1, entry.path().string(),
                          ": mask without an image (expected ", (test_dir / type_dir.filename()).string(), "/",
                          entry.path().stem().string().substr(0, entry.path().stem().string().rfind("_mask")),
                          ".<png|jpg>)");
  return cat;
}

}  // namespace

std::vector<std::string> list_categories(const std::string& root) {
  return with_filesystem_errors([&] { return scan_categories(root); });
}

Category load_category(const std::string& root, const std::string& category) {
  return with_filesystem_errors([&] { return scan_category(root, category); });
}

std::vector<std::size_t> seeded_permutation(std::size_t n, uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[uniform_below(rng, i)]);  // Fisher-Yates
  return order;
}

std::vector<Sample> few_shot_subset(const std::vector<Sample>& train, std::size_t n, uint64_t seed) {
  DIFFERNET_CHECK(n <= train.size(), "few_shot_subset: asked for ", n, " training images, only ", train.size(),
                  " available");
  std::vector<std::size_t> picked = seeded_permutation(train.size(), seed);
  picked.resize(n);
  std::sort(picked.begin(), picked.end());
  std::vector<Sample> out;
  for (std::size_t i : picked) out.push_back(train[i]);
  return out;
}

}  // namespace differnet::data
