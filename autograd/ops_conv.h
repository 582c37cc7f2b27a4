// Differentiable ops of convolutional backbones: 2-D convolution, max pooling
// and global average pooling over NCHW tensors, with torch.nn.functional's
// semantics. Like the ops of autograd/ops.h, each runs on its inputs' device
// and records itself when an input requires grad; a backward computes only the
// gradients that some input asks for (a frozen backbone computes no weight
// gradients, only the gradient of its input).
#pragma once
#include "autograd/tensor.h"

namespace differnet {

// ---- convolution (ops_conv.cpp) ----
// x [N, C_in, H, W], weight [C_out, C_in, k_h, k_w], bias [C_out] (may be undefined)
// -> [N, C_out, (H + 2 * padding - k_h) / stride + 1, ...]: F.conv2d(x, weight, bias, stride, padding).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0);
// relu(conv2d(...)) as one op: the ReLU is applied while the convolution writes
// its output (no second pass over the activations, no second tensor), and the
// backward masks the gradient by y > 0 before the convolution's backward.
// Equal to relu(conv2d(...)) value for value.
Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1,
                   int64_t padding = 0);

// ---- pooling (ops_pool.cpp) ----
// F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode) on [N, C, H, W]; the
// gradient goes to the first maximum of each window.
Tensor max_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding = 0, bool ceil_mode = false);
// [N, C, H, W] -> [N, C]: the mean over H and W (adaptive average pooling to 1x1, flattened).
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace differnet
