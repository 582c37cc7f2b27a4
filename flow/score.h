// The anomaly score (paper eq. 5): the mean of z^2 over an image's T test
// transforms and all feature dimensions. A high score means the flow found
// the image's features unlikely under the defect-free density.
#pragma once
#include "autograd/tensor.h"

namespace differnet {

// z [images * T, dims], rows grouped by image (the T transforms of image i are
// rows i*T .. i*T+T-1) -> scores [images]. No tape.
Tensor anomaly_scores(const Tensor& z, int64_t transforms_per_image);

}  // namespace differnet
