// MVTec-layout scanning on small trees made in a temp dir (good cases and every
// error), seeded few-shot subsets, the synthetic generator (deterministic, masks
// exactly where the image changed) and the MTD conversion with the paper split.
#define BOOST_TEST_MODULE data_dataset
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "autograd/error.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/mtd.h"
#include "data/synthetic.h"

namespace fs = std::filesystem;
namespace utf = boost::unit_test;
using namespace differnet::data;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("differnet_dataset_" + std::to_string(std::random_device{}()));
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

// root/cat with 3 train images, test good + two defect types, masks.
void make_tree(const fs::path& root) {
  const fs::path cat = root / "bottle";
  for (const char* f : {"002.png", "000.png", "001.JPG", "notes.txt"}) touch(cat / "train" / "good" / f);
  for (const char* f : {"000.png", "001.jpeg"}) touch(cat / "test" / "good" / f);
  for (const char* f : {"001.png", "000.png"}) touch(cat / "test" / "crack" / f);
  touch(cat / "test" / "broken" / "000.png");
  for (const char* f : {"000_mask.png", "001_mask.png"}) touch(cat / "ground_truth" / "crack" / f);
  touch(cat / "ground_truth" / "broken" / "000_mask.png");
  fs::create_directories(root / "not_a_category");
}

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    BOOST_ERROR("expected an error mentioning '" << fragment << "'");
  } catch (const differnet::Error& e) {
    BOOST_TEST(std::string(e.what()).find(fragment) != std::string::npos, e.what());
  }
}

bool mtd_present() { return fs::is_directory(fs::path(DIFFERNET_SHARED_DIR) / "datasets" / "mtd" / "MT_Free"); }

}  // namespace

BOOST_AUTO_TEST_CASE(scans_the_mvtec_layout_in_sorted_order) {
  TempDir tmp;
  make_tree(tmp.path);
  BOOST_TEST(list_categories(tmp.path.string()) == std::vector<std::string>{"bottle"});
  const Category cat = load_category(tmp.path.string(), "bottle");
  BOOST_REQUIRE_EQUAL(cat.train.size(), 3u);  // notes.txt ignored, .JPG accepted
  BOOST_TEST(fs::path(cat.train[0].path).filename() == "000.png");
  BOOST_TEST(fs::path(cat.train[1].path).filename() == "001.JPG");
  BOOST_REQUIRE_EQUAL(cat.test.size(), 5u);
  const std::vector<std::string> types = {"broken", "crack", "crack", "good", "good"};
  for (size_t i = 0; i < 5; ++i) {
    BOOST_TEST(cat.test[i].defect_type == types[i]);
    BOOST_TEST(cat.test[i].label == (types[i] == "good" ? 0 : 1));
    BOOST_TEST(cat.test[i].mask_path.empty() == (types[i] == "good"));
  }
  BOOST_TEST(fs::path(cat.test[1].path).filename() == "000.png");
  BOOST_TEST(fs::path(cat.test[2].mask_path).filename() == "001_mask.png");
}

BOOST_AUTO_TEST_CASE(layout_errors_are_clear) {
  TempDir tmp;
  make_tree(tmp.path);
  expect_error([&] { load_category(tmp.path.string(), "cable"); }, "available in");
  expect_error([&] { load_category(tmp.path.string(), "cable"); }, "bottle");
  expect_error([&] { load_category(tmp.path.string(), "not_a_category"); }, "expected ROOT/CAT/train/good with images");
  touch(tmp.path / "bottle" / "ground_truth" / "crack" / "007_mask.png");
  expect_error([&] { load_category(tmp.path.string(), "bottle"); }, "007_mask.png: mask without an image");
  fs::remove(tmp.path / "bottle" / "ground_truth" / "crack" / "007_mask.png");
  fs::create_directories(tmp.path / "bottle" / "test" / "empty_type");
  expect_error([&] { load_category(tmp.path.string(), "bottle"); }, "empty_type: folder holds no images");
  expect_error([&] { list_categories((tmp.path / "nowhere").string()); }, "not a folder");
}

BOOST_AUTO_TEST_CASE(few_shot_subsets_are_seeded) {
  std::vector<Sample> train;
  for (int i = 0; i < 50; ++i) train.push_back({"img" + std::to_string(100 + i), 0, "good", ""});
  const auto a = few_shot_subset(train, 16, 3), b = few_shot_subset(train, 16, 3), c = few_shot_subset(train, 16, 4);
  BOOST_REQUIRE_EQUAL(a.size(), 16u);
  std::set<std::string> distinct;
  for (size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i].path == b[i].path);
    distinct.insert(a[i].path);
    if (i) BOOST_TEST(a[i - 1].path < a[i].path);  // original order kept
  }
  BOOST_TEST(distinct.size() == 16u);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) differs |= a[i].path != c[i].path;
  BOOST_TEST(differs);
  BOOST_TEST(few_shot_subset(train, 50, 9).size() == 50u);
  BOOST_CHECK_THROW(few_shot_subset(train, 51, 9), differnet::Error);
}

BOOST_AUTO_TEST_CASE(synthetic_samples_are_deterministic_and_varied) {
  SyntheticOptions o;
  o.size = 96;
  const SyntheticSample a = synthetic_sample(o, SyntheticSplit::Train, 3), b = synthetic_sample(o, SyntheticSplit::Train, 3);
  BOOST_TEST((a.image == b.image));
  BOOST_TEST((a.image != synthetic_sample(o, SyntheticSplit::Train, 4).image));
  BOOST_TEST((a.image != synthetic_sample(o, SyntheticSplit::TestGood, 3).image));
  o.seed = 1;
  BOOST_TEST((a.image != synthetic_sample(o, SyntheticSplit::Train, 3).image));
}

BOOST_AUTO_TEST_CASE(synthetic_masks_cover_exactly_the_defect) {
  SyntheticOptions o;  // default 256 px
  for (int i = 0; i < 20; ++i) {
    const SyntheticSample s = synthetic_sample(o, SyntheticSplit::TestDefect, i);
    BOOST_TEST_CONTEXT("defect " << i << " (" << defect_name(s.kind) << ")") {
      BOOST_TEST(int(s.kind) == i % kDefectKinds);
      size_t inside = 0, changed_inside = 0;
      for (int y = 0; y < o.size; ++y)
        for (int x = 0; x < o.size; ++x) {
          const bool changed = s.image.at(x, y, 0) != s.clean.at(x, y, 0) || s.image.at(x, y, 1) != s.clean.at(x, y, 1) ||
                               s.image.at(x, y, 2) != s.clean.at(x, y, 2);
          const uint8_t m = s.mask.at(x, y, 0);
          BOOST_TEST_REQUIRE((m == 0 || m == 255));
          if (m) {
            ++inside;
            changed_inside += changed;
          } else {
            BOOST_TEST_REQUIRE(!changed);  // nothing changes outside the mask
          }
        }
      BOOST_TEST(inside >= 10u);
      BOOST_TEST(inside < size_t(o.size * o.size / 40));  // small: under 2.5 % of the image
      BOOST_TEST(changed_inside * 10 >= inside * 9);      // and really there
    }
  }
}

BOOST_AUTO_TEST_CASE(synthetic_category_is_written_atomically_and_reproducibly) {
  TempDir tmp;
  SyntheticOptions o;
  o.size = 64;
  o.train = 6;
  o.test_good = 3;
  o.test_defect = 7;
  const std::string dir = write_synthetic_category((tmp.path / "a").string(), o, false);
  write_synthetic_category((tmp.path / "b").string(), o, false);
  const Category cat = load_category((tmp.path / "a").string(), "synthetic");
  BOOST_TEST(cat.train.size() == 6u);
  BOOST_TEST(cat.test.size() == 10u);
  int defective = 0;
  for (const Sample& s : cat.test) {
    defective += s.label;
    BOOST_TEST(s.mask_path.empty() == (s.label == 0));
    const std::string twin = (tmp.path / "b" / fs::relative(s.path, tmp.path / "a")).string();
    BOOST_TEST((read_file_bytes(s.path) == read_file_bytes(twin)));  // same bytes every run
    if (s.label) {
      const Image mask = load_gray(s.mask_path);
      BOOST_TEST((mask == synthetic_sample(o, SyntheticSplit::TestDefect, 0).mask) == (s.path.find("scratch/000") != std::string::npos));
    }
  }
  BOOST_TEST(defective == 7);
  expect_error([&] { write_synthetic_category((tmp.path / "a").string(), o, false); }, "already exists");
  const auto entries = std::distance(fs::directory_iterator(tmp.path / "a"), fs::directory_iterator());
  BOOST_TEST(entries == 1);  // no staging folder left behind
}

BOOST_AUTO_TEST_CASE(mtd_conversion_matches_the_paper_split, *utf::precondition([](utf::test_unit_id) {
                       boost::test_tools::assertion_result present{mtd_present()};
                       present.message() << "skipped: MTD not found under " DIFFERNET_SHARED_DIR "/datasets/mtd";
                       return present;
                     })) {
  TempDir tmp;
  const fs::path raw = fs::path(DIFFERNET_SHARED_DIR) / "datasets" / "mtd";
  const MtdSummary s = convert_mtd({raw.string(), tmp.path.string(), (raw / "paper_train_split.txt").string(), 0, false});
  BOOST_TEST(s.train == 761);
  BOOST_TEST(s.test_good == 191);
  BOOST_TEST(s.test_defect == 392);
  const Category cat = load_category(tmp.path.string(), "mtd");
  BOOST_TEST(cat.train.size() == 761u);
  BOOST_TEST(cat.test.size() == 583u);
  int masks = 0;
  for (const Sample& t : cat.test) masks += !t.mask_path.empty();
  BOOST_TEST(masks == 392);
  // Bytes copied unchanged, and every image decodes with the strict JPEG path.
  const fs::path first = cat.train.front().path;
  BOOST_TEST((read_file_bytes(first.string()) == read_file_bytes((raw / "MT_Free" / "Imgs" / first.filename()).string())));
  for (const Sample& t : cat.test) BOOST_TEST_REQUIRE(load_rgb(t.path).channels == 3);
  expect_error([&] { convert_mtd({raw.string(), tmp.path.string(), "", 0, false}); }, "already exists");

  // Seeded split: 761 / 191 as well, deterministic.
  const MtdSummary seeded = convert_mtd({raw.string(), (tmp.path / "seeded").string(), "", 5, false});
  BOOST_TEST(seeded.train == 761);
  BOOST_TEST(seeded.test_good == 191);

  // A split naming a file that does not exist is refused, and nothing is left behind.
  const fs::path bad_split = tmp.path / "bad_split.txt";
  std::ofstream(bad_split) << "exp6_num_34208.jpg\nno_such_image.jpg\n";
  expect_error([&] { convert_mtd({raw.string(), (tmp.path / "bad").string(), bad_split.string(), 0, false}); },
               "'no_such_image.jpg' is not an image");
  BOOST_TEST(!fs::exists(tmp.path / "bad" / "mtd"));
}
