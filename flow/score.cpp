#include "flow/score.h"

#include "autograd/grad_mode.h"
#include "autograd/ops.h"

namespace differnet {

Tensor anomaly_scores(const Tensor& z, int64_t transforms_per_image) {
  check_defined("anomaly_scores", z, "z");
  DIFFERNET_CHECK(z.dim() == 2 && transforms_per_image > 0 && z.size(0) % transforms_per_image == 0,
                  "anomaly_scores: z ", z.describe(), " does not hold whole groups of ", transforms_per_image,
                  " transforms");
  NoGradGuard no_grad;
  // paper eq. 5: score(x) = mean over transforms T_i and dimensions of z(T_i(x))^2
  const Tensor per_image = reshape(square(z), {z.size(0) / transforms_per_image, -1});
  return mean(per_image, 1);
}

}  // namespace differnet
