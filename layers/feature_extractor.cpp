#include "layers/feature_extractor.h"

#include "autograd/ops.h"
#include "autograd/ops_conv.h"

namespace differnet {

FeatureExtractor::FeatureExtractor(std::shared_ptr<Backbone> backbone, int64_t image_size, int scales)
    : backbone_(register_module("backbone", std::move(backbone))) {
  DIFFERNET_CHECK(backbone_ != nullptr, "FeatureExtractor: no backbone");
  DIFFERNET_CHECK(scales >= 1 && image_size >= 1, "FeatureExtractor: bad image size ", image_size, " or scale count ",
                  scales);
  for (int s = 0; s < scales; ++s) {
    const int64_t size = image_size >> s;
    DIFFERNET_CHECK(size >= 1 && (size << s) == image_size, "FeatureExtractor: image size ", image_size,
                    " cannot be halved ", scales - 1, " times");
    scale_sizes_.push_back(size);
  }
}

Tensor FeatureExtractor::forward(const Tensor& x) const {
  const int64_t size = scale_sizes_.front();
  DIFFERNET_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == size && x.size(3) == size, "FeatureExtractor: input ",
                  x.describe(), " is not [N, 3, ", size, ", ", size, "]");
  std::vector<Tensor> pooled;
  for (const int64_t s : scale_sizes_) {
    const Tensor scaled = s == size ? x : resize_nearest2d(x, s, s);
    pooled.push_back(global_avg_pool2d(backbone_->forward(scaled)));
  }
  return pooled.size() == 1 ? pooled.front() : concat(pooled, 1);
}

}  // namespace differnet
