// What train_mvtec and differnet_score share: the seeded random choices of a
// run, the test transforms, and features and anomaly scores computed in chunks.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "apps/common/model.h"
#include "data/batch.h"
#include "data/image_cache.h"

namespace differnet::app {

// Every random choice of a run is a function of (seed, purpose, epoch), which
// makes --resume exact and the scores independent of how work is split.
enum class Purpose : uint64_t { TrainEpoch = 1, TestTransforms = 2, FeaturePool = 3 };
std::mt19937_64 rng_for(uint64_t seed, Purpose purpose, uint64_t epoch);
// Unbiased integer in [0, n) (std::uniform_int_distribution's algorithm is implementation-defined).
uint64_t draw_below(std::mt19937_64& rng, uint64_t n);

// The T test transforms: rotations uniform in [-180, 180] degrees (facts:
// training and test transforms are random rotations), drawn once from the seed
// and the same for every image, so an image's score does not depend on the
// other images scored with it: differnet_score reproduces train_mvtec's scores.
// With rotate false every angle is 0 (the ablation without transforms).
std::vector<double> test_angles(uint64_t seed, int transforms, bool rotate = true);

// For each row, one transform per angle (rows grouped: row r's transforms are consecutive).
std::vector<data::SampleTransform> with_angles(const std::vector<int>& rows, const std::vector<double>& angles);

// Features [samples, D] of explicit per-sample transforms (grouped by image,
// `per_image` each), in chunks of whole images, with a progress bar.
Tensor features_of(const DifferNetModel& model, const data::ImageCache& cache,
                   const std::vector<data::SampleTransform>& samples, int per_image, const std::string& label);

// Anomaly scores (paper eq. 5) of [images * T, D] features. Never NaN: a
// non-finite score is an error naming the image.
std::vector<double> scores_of(const DifferNetModel& model, const Tensor& features, int transforms,
                              const std::vector<std::string>& names);

}  // namespace differnet::app

namespace differnet::app {
struct Map;
// The defect map (paper eq. 7) of one cached image from `transforms` fixed rotations i*360/T.
Map defect_map_of(const DifferNetModel& model, const data::ImageCache& cache, int row, int transforms);
}  // namespace differnet::app
