// DifferNet's multi-scale feature extractor (paper/implementation-facts.md,
// "Feature extractor"): the input [N, 3, S, S] and its nearest-neighbour
// resizes to S/2, S/4, ... each go through the backbone and a global average
// pool; the pooled vectors are concatenated in that order (448, 224, 112 ->
// 3 x 256 = 768 values with AlexNet). The backbone is frozen: a backward
// through the extractor reaches the input pixels and computes no weight
// gradients (the localisation of paper eq. 7).
#pragma once
#include <memory>
#include <vector>

#include "layers/backbone.h"

namespace differnet {

class FeatureExtractor : public Module {
 public:
  // `scales` inputs, of sizes image_size, image_size / 2, ...
  explicit FeatureExtractor(std::shared_ptr<Backbone> backbone, int64_t image_size = 448, int scales = 3);
  // [N, 3, image_size, image_size] -> [N, feature_dim()]
  Tensor forward(const Tensor& x) const;
  int64_t feature_dim() const { return int64_t(scale_sizes_.size()) * backbone_->feature_channels(); }
  const std::vector<int64_t>& scale_sizes() const { return scale_sizes_; }  // {448, 224, 112}
  Backbone& backbone() const { return *backbone_; }

 private:
  std::shared_ptr<Backbone> backbone_;
  std::vector<int64_t> scale_sizes_;
};

}  // namespace differnet
