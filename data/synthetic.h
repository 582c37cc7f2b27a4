// A procedural MVTec-layout category ("synthetic") for tests and smoke runs:
// a woven-fabric texture whose phase, orientation, brightness and noise vary per
// image (good images are never identical), with small, low-contrast planted
// defects of five kinds and their exact binary masks. Deterministic for a seed.
#pragma once
#include <cstdint>
#include <string>

#include "data/image.h"

namespace differnet::data {

enum class DefectKind { Scratch, Spot, Crack, Hole, Color };
constexpr int kDefectKinds = 5;
// Folder name of a kind: scratch, spot, crack, hole, color.
const char* defect_name(DefectKind kind);

struct SyntheticOptions {
  uint64_t seed = 0;
  int size = 256;  // pixels a side
  int train = 120;
  int test_good = 30;
  int test_defect = 40;  // spread round-robin over the five kinds
};

enum class SyntheticSplit { Train, TestGood, TestDefect };

struct SyntheticSample {
  Image image;  // RGB
  Image clean;  // the same image before the defect was planted (== image when good)
  Image mask;   // 1 channel, 255 where the defect changed the image; all 0 when good
  DefectKind kind = DefectKind::Scratch;  // meaningful for TestDefect only
};

// Sample `index` of a split; defective samples take kind index % 5.
SyntheticSample synthetic_sample(const SyntheticOptions& options, SyntheticSplit split, int index);

// Writes OUT/synthetic/{train/good, test/<good|kind>, ground_truth/<kind>} as
// PNG, all at once (staging folder then rename). Returns the category folder.
std::string write_synthetic_category(const std::string& out_dir, const SyntheticOptions& options, bool overwrite);

}  // namespace differnet::data
