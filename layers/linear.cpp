#include "layers/linear.h"

#include <cmath>

#include "autograd/ops.h"

namespace differnet {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, DType dtype, Device device) {
  DIFFERNET_CHECK(in_features > 0 && out_features > 0, "Linear: bad sizes ", in_features, " -> ", out_features);
  const double bound = 1.0 / std::sqrt(double(in_features));
  weight_ = register_parameter("weight", rand_uniform({out_features, in_features}, -bound, bound, gen, dtype, device));
  bias_ = register_parameter("bias", rand_uniform({out_features}, -bound, bound, gen, dtype, device));
}

namespace {
void check_input(const Linear& layer, const Tensor& x) {
  DIFFERNET_CHECK(x.dim() == 2 && x.size(1) == layer.in_features(), "Linear(", layer.in_features(), " -> ",
                  layer.out_features(), "): input ", x.describe(), " has the wrong width");
}
}  // namespace

Tensor Linear::forward(const Tensor& x) const {
  check_input(*this, x);
  return linear(x, weight_, bias_);
}

Tensor Linear::forward_relu(const Tensor& x) const {
  check_input(*this, x);
  return linear_relu(x, weight_, bias_);
}

}  // namespace differnet
