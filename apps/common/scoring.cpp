#include "apps/common/scoring.h"

#include <algorithm>
#include <cmath>

#include "apps/common/progress.h"
#include "autograd/ops.h"
#include "flow/score.h"

namespace differnet::app {

std::mt19937_64 rng_for(uint64_t seed, Purpose purpose, uint64_t epoch) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(purpose), uint32_t(epoch), uint32_t(epoch >> 32)};
  return std::mt19937_64(seq);
}

uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % n);
  uint64_t v;
  do v = rng();
  while (v >= limit);
  return v % n;
}

std::vector<double> test_angles(uint64_t seed, int transforms, bool rotate) {
  if (!rotate) return std::vector<double>(size_t(transforms), 0.0);
  auto rng = rng_for(seed, Purpose::TestTransforms, 0);
  data::TransformOptions t;
  t.transforms_per_image = transforms;
  t.rotation = data::RotationMode::Random;
  std::vector<double> angles;
  for (const auto& s : data::draw_transforms({0}, t, rng)) angles.push_back(s.angle_degrees);
  return angles;
}

std::vector<data::SampleTransform> with_angles(const std::vector<int>& rows, const std::vector<double>& angles) {
  std::vector<data::SampleTransform> out;
  for (int r : rows)
    for (double a : angles) {
      data::SampleTransform s;
      s.image = r;
      s.angle_degrees = a;
      out.push_back(s);
    }
  return out;
}

Tensor features_of(const DifferNetModel& model, const data::ImageCache& cache,
                   const std::vector<data::SampleTransform>& samples, int per_image, const std::string& label) {
  const size_t chunk_samples = size_t(std::max(1, (model.device() == Device::CUDA ? 256 : int(DifferNetModel::kCpuFeatureChunk)) / per_image) * per_image);
  std::vector<Tensor> parts;
  ProgressBar bar(label, long(samples.size() / size_t(per_image)), "img");
  for (size_t start = 0; start < samples.size(); start += chunk_samples) {
    const std::vector<data::SampleTransform> chunk(samples.begin() + long(start),
                                                   samples.begin() + long(std::min(samples.size(), start + chunk_samples)));
    parts.push_back(model.features(data::make_batch(cache, chunk).images));
    bar.advance(long(chunk.size() / size_t(per_image)));
  }
  bar.finish();
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

std::vector<double> scores_of(const DifferNetModel& model, const Tensor& features, int transforms,
                              const std::vector<std::string>& names) {
  const int64_t rows = features.size(0), chunk = int64_t(transforms) * 64;
  std::vector<double> scores;
  for (int64_t start = 0; start < rows; start += chunk) {
    const Tensor part = narrow(features, 0, start, std::min(chunk, rows - start));
    for (float s : anomaly_scores(model.latents(part), transforms).to(Device::CPU).to_vector<float>())
      scores.push_back(double(s));
  }
  for (size_t i = 0; i < scores.size(); ++i)
    DIFFERNET_CHECK(std::isfinite(scores[i]), "the anomaly score of ",
                    (i < names.size() ? names[i] : "image " + std::to_string(i)), " is not finite (", scores[i],
                    "): the flow diverged; try a lower --lr");
  return scores;
}

}  // namespace differnet::app

#include "apps/common/localization.h"

namespace differnet::app {

Map defect_map_of(const DifferNetModel& model, const data::ImageCache& cache, int row, int transforms) {
  data::TransformOptions loc;
  loc.transforms_per_image = transforms;
  loc.rotation = data::RotationMode::Fixed;
  std::mt19937_64 unused(0);  // fixed rotations draw nothing
  const data::Batch batch = data::make_batch(cache, std::vector<int>{row}, loc, unused);
  return defect_map(model.input_gradients(batch.images), batch.angles, cache.size(), cache.size());
}

}  // namespace differnet::app
