// Pipeline benchmarks: one training epoch of an MVTec-sized category and one
// full evaluation, with the paper's settings (448 px, 3 scales, AlexNet, the
// 8-block flow of hidden width 2048, batch 24 x 4 transforms, 64 test
// transforms). Images are random pixels already in the image cache (decoding
// is data_decode_resize_*'s), the backbone has random weights (speed does not
// depend on the values). --quick shrinks everything for a smoke run.
#include <chrono>
#include <random>

#include "apps/common/model.h"
#include "apps/common/scoring.h"
#include "autograd/ops.h"
#include "bench/bench.h"
#include "data/batch.h"
#include "data/image_cache.h"

namespace differnet::bench {
namespace {

data::ImageCache random_images(int count, int size, Device device) {
  std::mt19937_64 rng(1);
  std::vector<data::Image> images;
  for (int i = 0; i < count; ++i) {
    data::Image img(size, size, 3);
    for (auto& p : img.pixels) p = uint8_t(rng() & 255);
    images.push_back(std::move(img));
  }
  return data::ImageCache::from_images(images, {}, size, device);
}

app::ModelConfig paper_config(bool quick) {
  app::ModelConfig c;
  if (quick) {
    c.image_size = 256;
    c.hidden = 256;
  }
  return c;
}

}  // namespace

// One epoch: every training image once in batches of 24 images x 4 random
// rotations: transform (in train_mvtec's batch form), features, flow
// forward/backward, Adam.
DIFFERNET_BENCHMARK(train_epoch) {
  const int images = state.quick() ? 24 : 250, batch = 24, transforms = 4;
  const app::ModelConfig c = paper_config(state.quick());
  const data::ImageCache cache = random_images(images, int(c.image_size), state.device());
  app::DifferNetModel model(c, "", state.device());
  Adam adam(model.flow().parameters(), AdamOptions::differnet());
  data::TransformOptions t;
  t.transforms_per_image = transforms;
  std::mt19937_64 rng(0);
  state.set("images", images);
  state.set("batch", batch * transforms);
  state.set("image_size", double(c.image_size));
  state.set("hidden", double(c.hidden));
  // Floor: the features of every image-transform, the flow's GEMMs (6 x rows
  // x weights) and one Adam pass (7 x 4 bytes per parameter) per batch.
  const int steps = (images + batch - 1) / batch;
  state.set_floor(double(images) * transforms * feature_flops(model.extractor()) +
                      6.0 * double(images) * transforms * linear_weights(model.flow()),
                  28.0 * double(adam.num_elements()) * steps);
  state.set_repeats(1);
  state.measure([&] {
    for (int start = 0; start < images; start += batch) {
      std::vector<int> rows;
      for (int i = start; i < std::min(images, start + batch); ++i) rows.push_back(i);
      const Tensor features = model.features(data::make_batch(cache, rows, t, rng, model.batch_form()).images);
      model.loss_and_gradients(features, adam);
      adam.step();
    }
  });
}

// One evaluation: 120 test images x 64 transforms through the backbone and the
// flow, to anomaly scores (paper eq. 5). image_transforms_per_s is the metric.
DIFFERNET_BENCHMARK(evaluation) {
  const int images = state.quick() ? 8 : 120, transforms = state.quick() ? 8 : 64;
  const app::ModelConfig c = paper_config(state.quick());
  const data::ImageCache cache = random_images(images, int(c.image_size), state.device());
  app::DifferNetModel model(c, "", state.device());
  std::vector<int> rows;
  for (int i = 0; i < images; ++i) rows.push_back(i);
  const auto samples = app::with_angles(rows, app::test_angles(0, transforms));
  state.set("images", images);
  state.set("transforms", transforms);
  state.set("image_size", double(c.image_size));
  // Floor: the features of every image-transform and the flow's forward GEMMs.
  state.set_floor(double(images) * transforms *
                      (feature_flops(model.extractor()) + 2.0 * linear_weights(model.flow())),
                  0);
  state.set_repeats(1);
  double seconds = 0;
  state.measure([&] {
    const auto start = std::chrono::steady_clock::now();
    const Tensor f = app::features_of(model, cache, samples, transforms, "evaluation");
    app::scores_of(model, f, transforms, {});
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  state.set("image_transforms_per_s", double(images) * transforms / seconds);
}

}  // namespace differnet::bench
