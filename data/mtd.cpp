#include "data/mtd.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "autograd/error.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/staging.h"

namespace fs = std::filesystem;

namespace differnet::data {
namespace {

const char* const kDefectClasses[] = {"Blowhole", "Break", "Crack", "Fray", "Uneven"};

// The .jpg images of RAW/MT_<cls>/Imgs, sorted.
std::vector<fs::path> class_images(const fs::path& raw, const std::string& cls) {
  const fs::path dir = raw / ("MT_" + cls) / "Imgs";
  DIFFERNET_CHECK(fs::is_directory(dir), dir.string(), ": expected the raw MTD folder MT_", cls,
                  "/Imgs (pass the folder holding MT_Free, MT_Blowhole, ... to --mtd)");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  DIFFERNET_CHECK(!files.empty(), dir.string(), ": no .jpg images");
  return files;
}

std::vector<std::string> read_split(const std::string& path) {
  std::ifstream in(path);
  DIFFERNET_CHECK(in.good(), path, ": cannot open the split file");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    if (start < line.size()) names.push_back(line.substr(start));
  }
  DIFFERNET_CHECK(!names.empty(), path, ": split file lists no images");
  return names;
}

// Copies an image after checking that it decodes as far as its header.
void copy_image(const fs::path& from, const fs::path& to) {
  read_image_size(from.string());
  fs::copy_file(from, to);
}

}  // namespace

MtdSummary convert_mtd(const MtdOptions& o) {
  const fs::path raw = o.raw_dir;
  DIFFERNET_CHECK(fs::is_directory(raw), o.raw_dir, ": --mtd folder not found");
  const std::vector<fs::path> free_images = class_images(raw, "Free");

  // Which MT_Free images train.
  std::set<std::string> train_names;
  if (!o.split_file.empty()) {
    std::set<std::string> available;
    for (const fs::path& p : free_images) available.insert(p.filename().string());
    for (const std::string& name : read_split(o.split_file)) {
      DIFFERNET_CHECK(available.count(name) == 1, o.split_file, ": '", name, "' is not an image in ",
                      (raw / "MT_Free" / "Imgs").string());
      DIFFERNET_CHECK(train_names.insert(name).second, o.split_file, ": '", name, "' is listed twice");
    }
  } else {
    const std::vector<std::size_t> order = seeded_permutation(free_images.size(), o.seed);
    const std::size_t n_train = free_images.size() * 4 / 5;  // 80 %, rounded down (952 -> 761 as in the paper)
    for (std::size_t i = 0; i < n_train; ++i) train_names.insert(free_images[order[i]].filename().string());
  }
  DIFFERNET_CHECK(train_names.size() < free_images.size(), "mtd: the split leaves no MT_Free image for testing");

  StagingDir staging(o.out_dir, "mtd", o.overwrite);
  const fs::path root = staging.path();
  MtdSummary summary;
  fs::create_directories(root / "train" / "good");
  fs::create_directories(root / "test" / "good");
  for (const fs::path& p : free_images) {
    const bool train = train_names.count(p.filename().string()) == 1;
    copy_image(p, root / (train ? "train" : "test") / "good" / p.filename());
    ++(train ? summary.train : summary.test_good);
  }
  for (const char* cls : kDefectClasses) {
    std::string type = cls;
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
    fs::create_directories(root / "test" / type);
    fs::create_directories(root / "ground_truth" / type);
    for (const fs::path& p : class_images(raw, cls)) {
      fs::path mask = p;
      mask.replace_extension(".png");
      DIFFERNET_CHECK(fs::is_regular_file(mask), mask.string(), ": missing mask for ", p.string());
      const ImageSize image_size = read_image_size(p.string()), mask_size = read_image_size(mask.string());
      DIFFERNET_CHECK(image_size.width == mask_size.width && image_size.height == mask_size.height, mask.string(),
                      ": mask is ", mask_size.width, "x", mask_size.height, " but the image is ", image_size.width,
                      "x", image_size.height);
      fs::copy_file(p, root / "test" / type / p.filename());
      const fs::path mask_out = root / "ground_truth" / type / (p.stem().string() + "_mask.png");
      if (sniff_format(read_file_bytes(mask.string()), mask.string()) == ImageFormat::Png)
        fs::copy_file(mask, mask_out);
      else
        save_png(load_gray(mask.string()), mask_out.string());
      ++summary.test_defect;
    }
  }
  staging.commit();
  summary.category_dir = staging.final_path().string();
  return summary;
}

}  // namespace differnet::data
