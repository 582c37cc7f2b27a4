// Defect maps (paper eq. 7, facts "Localisation"): the gradient of the NLL
// with respect to the input pixels, for T fixed rotations of the image, each
// rotated back, blurred with a Gaussian (sigma 3), made absolute and averaged
// over channels and rotations. This file holds the post-processing of the
// gradients; DifferNetModel::input_gradients computes them.
#pragma once
#include <vector>

#include "data/image.h"

namespace differnet::app {

// A single-channel float map, row-major.
struct Map {
  int width = 0, height = 0;
  std::vector<float> values;
};

// Rotates a map by `angle_degrees` counter-clockwise about its centre with PIL's
// nearest-neighbour rule and zero fill (the same rule as the image rotation).
Map rotate_map(const Map& map, double angle_degrees);

// scipy.ndimage.gaussian_filter(map, sigma) with its defaults: mode "reflect"
// (d c b a | a b c d | d c b a) and a kernel truncated at 4 sigma.
Map gaussian_blur(const Map& map, double sigma);

// Combines gradients [T][3 * H * W] (CHW, rotated inputs) into one defect map:
// mean over rotations and channels of |blur(rotate_back(gradient))|.
Map defect_map(const std::vector<std::vector<float>>& gradients, const std::vector<double>& angles, int width,
               int height, double sigma = 3.0);

// Display: the published code squares the map and min-max normalises it.
Map display_map(const Map& map);
// A colour heat map (an inferno-like ramp) of a map scaled to [0, 1].
data::Image heatmap_image(const Map& unit_map);
// The image with the heat map blended on top (alpha 0.5).
data::Image overlay_image(const data::Image& rgb, const Map& unit_map);

}  // namespace differnet::app
