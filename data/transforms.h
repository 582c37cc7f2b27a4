// CPU reference pre-processing (implementation-facts.md, "Pre-processing"),
// reproducing what the DifferNet code does through PIL and torchvision:
//   resize S x S (PIL bilinear, antialiased) -> random rotation (PIL nearest,
//   zero fill) -> [MTD only] brightness and contrast jitter (PIL ImageEnhance)
//   -> ToTensor + Normalize (ImageNet mean/std) into CHW float.
// The per-pixel math lives in data/transform_math.h so GPU kernels share it.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "data/image.h"
#include "data/transform_math.h"

namespace differnet::data {

// PIL Image.resize((w, h), BILINEAR): separable triangle filter, support scaled
// by the downscale factor, horizontal pass then vertical, 22-bit fixed point.
Image resize_bilinear(const Image& in, int out_width, int out_height);

// PIL Image.rotate(angle, NEAREST, expand=False, center=None, fillcolor=0), i.e.
// torchvision F.rotate / RandomRotation on a PIL image: counter-clockwise for a
// positive angle about the image centre, same output size, corners filled with 0.
Image rotate_nearest(const Image& in, double angle_degrees);

// The fixed-point inverse map PIL uses for a rotation that is not one of its
// exact fast paths (0, 180, and 90/270 on square images).
AffineFixed pil_rotation_fixed(int width, int height, double angle_degrees);

// torchvision adjust_brightness on PIL: ImageEnhance.Brightness = blend(black, img, factor).
Image adjust_brightness(const Image& in, float factor);
// torchvision adjust_contrast on PIL: ImageEnhance.Contrast = blend(gray mean, img, factor),
// the mean of PIL's "L" image rounded as int(mean + 0.5).
Image adjust_contrast(const Image& in, float factor);

// torchvision ColorJitter applies its enabled adjustments in the order of a
// random permutation (fn_idx = torch.randperm(4)); with only brightness and
// contrast enabled that is one of these two orders.
enum class JitterOrder { BrightnessThenContrast, ContrastThenBrightness };

struct JitterParams {
  float brightness = 1.0f;
  float contrast = 1.0f;
  JitterOrder order = JitterOrder::BrightnessThenContrast;
};

// Factors uniform in [low, high] (MTD: 0.85, 1.15) and a fair coin for the
// order, drawn from the caller's generator (our own seeded stream, not torch's).
JitterParams sample_jitter(std::mt19937_64& rng, float low = 0.85f, float high = 1.15f);
Image color_jitter(const Image& in, const JitterParams& params);

// Angle of test transform i of T: i * 360 / T degrees (implementation-facts.md).
double fixed_rotation_degrees(int i, int count);

// ToTensor + Normalize: HWC uint8 RGB -> CHW float32, (v / 255 - mean) / std.
std::vector<float> to_normalized_chw(const Image& in);

}  // namespace differnet::data
