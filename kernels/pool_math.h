// Element math of 2-D pooling, shared by the CPU loops (pool_cpu.cpp) and the
// CUDA kernels (pool_cuda.cu): output sizes, window bounds, and the max of one
// window. PyTorch's semantics (torch.nn.MaxPool2d), so that torchvision
// backbones give the same feature maps.
#pragma once
#include <cstdint>

#include "kernels/hd.h"

namespace differnet::kernels {

// Output extent of a pooling window sliding over `in` with padding `pad` on both
// sides. ceil_mode rounds the division up, but the last window must start inside
// the input or its left padding (PyTorch's pooling_output_shape).
DIFFERNET_HD int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode) {
  const int64_t span = in + 2 * pad - kernel;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The input rows (or columns) [start, end) that output index `o` covers, with
// the padding cut off (padded positions never win a max).
struct PoolWindow {
  int start, end;
};
DIFFERNET_HD PoolWindow pool_window(int o, int kernel, int stride, int pad, int in) {
  const int first = o * stride - pad;
  return {first > 0 ? first : 0, first + kernel < in ? first + kernel : in};
}

// The outputs [first, last) whose windows contain input index `i`: the gather
// form of the pooling backward (no atomics, the same order on both devices).
DIFFERNET_HD void pool_outputs_covering(int i, int kernel, int stride, int pad, int out, int& first, int& last) {
  // o * stride - pad <= i < o * stride - pad + kernel
  const int hi = (i + pad) / stride;               // i + pad >= 0, so this is the floor
  const int lo_num = i + pad - kernel + 1;         // may be negative
  const int lo = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
  first = lo;
  last = hi + 1 < out ? hi + 1 : out;
}

// Geometry of one 2-D pooling over `planes` = N * C independent planes.
struct Pool2dGeometry {
  int64_t planes = 0;
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// Whether v replaces the running maximum m: a larger value, or a NaN (which
// then stays: the max of a window holding a NaN is NaN, as in PyTorch).
template <class T>
DIFFERNET_HD bool max_pool_takes(T m, T v) {
  return v > m || (v != v && m == m);
}

// Flat index (in the plane) of the maximum of the window of output (oh, ow):
// the first maximum in row-major order (or the first NaN).
template <class T>
DIFFERNET_HD int max_pool_argmax(const T* plane, const Pool2dGeometry& g, int oh, int ow) {
  const PoolWindow rows = pool_window(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
  const PoolWindow cols = pool_window(ow, g.kernel_w, g.stride_w, g.pad_w, g.in_w);
  int best = rows.start * g.in_w + cols.start;
  T best_value = plane[best];
  for (int r = rows.start; r < rows.end; ++r)
    for (int c = cols.start; c < cols.end; ++c) {
      const T v = plane[r * g.in_w + c];
      if (max_pool_takes(best_value, v)) {
        best = r * g.in_w + c;
        best_value = v;
      }
    }
  return best;
}

// Gradient of input pixel (ih, iw): the sum of the output gradients of the
// windows whose maximum it is, in increasing output order (the CUDA backward;
// the CPU loop scatters per plane, adding the same terms in the same order).
template <class T>
DIFFERNET_HD T max_pool_input_grad(const T* x_plane, const T* gy_plane, const Pool2dGeometry& g, int ih, int iw) {
  int oh0, oh1, ow0, ow1;
  pool_outputs_covering(ih, g.kernel_h, g.stride_h, g.pad_h, g.out_h, oh0, oh1);
  pool_outputs_covering(iw, g.kernel_w, g.stride_w, g.pad_w, g.out_w, ow0, ow1);
  const int self = ih * g.in_w + iw;
  T acc = T(0);
  for (int oh = oh0; oh < oh1; ++oh)
    for (int ow = ow0; ow < ow1; ++ow)
      if (max_pool_argmax(x_plane, g, oh, ow) == self) acc += gy_plane[oh * g.out_w + ow];
  return acc;
}

}  // namespace differnet::kernels
