// MVTec AD layout reader:
//   ROOT/CATEGORY/train/good/*                       defect-free training images
//   ROOT/CATEGORY/test/<good | defect type>/*        test images
//   ROOT/CATEGORY/ground_truth/<defect type>/<stem>_mask.png
// Images are files ending .png .jpg .jpeg (any case); other files are ignored.
// Order is deterministic: by defect type, then file name (byte order).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace differnet::data {

struct Sample {
  std::string path;
  int label = 0;            // 0 good, 1 any defect
  std::string defect_type;  // "good" or the test sub-folder name
  std::string mask_path;    // empty when there is none (good images)
};

struct Category {
  std::string root;
  std::string name;
  std::vector<Sample> train;  // all "good"
  std::vector<Sample> test;
};

// Categories under root: sub-folders holding train/good, sorted.
std::vector<std::string> list_categories(const std::string& root);

// Reads one category; throws differnet::Error on a missing or empty folder,
// an unknown category (listing the available ones) or a mask without an image.
Category load_category(const std::string& root, const std::string& category);

// n training samples chosen by a seeded Fisher-Yates shuffle (std::mt19937_64,
// unbiased bounded draws written out here, so every platform picks the same
// images), returned in the original order. n must not exceed train.size().
std::vector<Sample> few_shot_subset(const std::vector<Sample>& train, std::size_t n, uint64_t seed);

// The same shuffle as a permutation of 0..n-1 (shared with prepare_dataset's
// seeded splits).
std::vector<std::size_t> seeded_permutation(std::size_t n, uint64_t seed);

// True for .png .jpg .jpeg in any case.
bool has_image_extension(const std::string& file_name);

}  // namespace differnet::data
