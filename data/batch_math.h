// Per-pixel math of the fused batch transform (data/batch.h), written once for
// the CPU path (data/batch.cpp) and the CUDA kernels (data/batch_cuda.cu).
// It composes the PIL-exact pieces of data/transform_math.h in the order of
// DifferNet's published transform:
//   cached S x S image -> RandomRotation (nearest, 0 fill) -> ColorJitter
//   (MTD only) -> ToTensor + Normalize.
#pragma once
#include <cstdint>

#include "data/transform_math.h"
#include "data/transforms.h"

namespace differnet::data {

// Everything one output sample needs, drawn on the host (draw_transforms) and
// copied to the device as plain bytes.
struct SampleParams {
  AffineFixed rotation;  // output pixel -> source pixel, PIL's 16.16 inverse map
  int32_t image = 0;     // row of the image cache
  int32_t jitter = 0;    // 0: no colour jitter, 1: jitter with `jitter_params`
  JitterParams jitter_params;
};

// The rotated image at (x, y): PIL's nearest source pixel of the square
// `size` x `size` HWC image, or black where the source falls outside.
DIFFERNET_HD void rotated_pixel(const uint8_t* image, int size, const AffineFixed& m, int x, int y,
                                       uint8_t rgb[3]) {
  int sx, sy;
  affine_fixed_source(m, x, y, &sx, &sy);
  if (sx < 0 || sx >= size || sy < 0 || sy >= size) {
    rgb[0] = rgb[1] = rgb[2] = 0;
    return;
  }
  const uint8_t* p = image + (int64_t(sy) * size + sx) * 3;
  rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
}

DIFFERNET_HD void brighten_pixel(uint8_t rgb[3], float factor) {
  for (int c = 0; c < 3; ++c) rgb[c] = pil_blend(0, rgb[c], factor);
}

// The "L" value that ImageEnhance.Contrast averages for this pixel: the image it
// sees is already brightened when brightness comes first.
DIFFERNET_HD uint32_t contrast_input_luma(const uint8_t rotated[3], const JitterParams& p) {
  uint8_t rgb[3] = {rotated[0], rotated[1], rotated[2]};
  if (p.order == JitterOrder::BrightnessThenContrast) brighten_pixel(rgb, p.brightness);
  return pil_luma(rgb[0], rgb[1], rgb[2]);
}

// ImageEnhance.Contrast's gray level: int(mean + 0.5) of the L image.
DIFFERNET_HD uint8_t contrast_gray_level(uint64_t luma_sum, int64_t pixels) {
  return static_cast<uint8_t>(static_cast<int>(static_cast<double>(luma_sum) / static_cast<double>(pixels) + 0.5));
}

// torchvision ColorJitter (brightness, contrast) on one pixel, in the drawn order.
DIFFERNET_HD void jitter_pixel(uint8_t rgb[3], const JitterParams& p, uint8_t gray) {
  if (p.order == JitterOrder::BrightnessThenContrast) brighten_pixel(rgb, p.brightness);
  for (int c = 0; c < 3; ++c) rgb[c] = pil_blend(gray, rgb[c], p.contrast);
  if (p.order == JitterOrder::ContrastThenBrightness) brighten_pixel(rgb, p.brightness);
}

}  // namespace differnet::data
