// Raw kernels of 2-D convolution (cross-correlation, as torch.nn.Conv2d) over
// contiguous NCHW tensors: plain pointers, no tensors. cpu:: runs, in float32,
// oneDNN or the reference (im2col + BLAS GEMM), whichever measured faster for
// the shape (kernels/conv_onednn.h), and the reference in float64; cuda:: runs
// cuDNN (float32).
#pragma once
#include <cstdint>

namespace differnet::kernels {

// x [batch, in_channels, in_h, in_w], weight [out_channels, in_channels, kernel_h, kernel_w],
// y [batch, out_channels, out_h, out_w], out = (in + 2 * pad - kernel) / stride + 1.
struct Conv2dGeometry {
  int64_t batch = 0, in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t out_h = 0, out_w = 0;

  int64_t col_rows() const { return in_channels * kernel_h * kernel_w; }  // the GEMM's inner size
  int64_t in_plane() const { return in_h * in_w; }
  int64_t out_plane() const { return out_h * out_w; }
  // A 1x1 convolution with stride 1 and no padding is a plain GEMM on the input.
  bool pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

namespace cpu {
// y = conv(x, weight) + bias, then max(y, 0) when relu is set; bias may be null.
// The first float32 call of a geometry (direction, bias) times oneDNN (direct,
// and Winograd for 3x3 stride 1) against the reference and keeps the fastest,
// unless DIFFERNET_CPU_CONV (read once) says onednn, winograd or im2col;
// --profile logs the choice.
template <class T>
void conv2d(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y, bool relu = false);
// gx = d(sum(y * gy))/dx, written (not accumulated).
template <class T> void conv2d_backward_input(const Conv2dGeometry& g, const T* gy, const T* weight, T* gx);
// gweight, gbias = d(sum(y * gy))/d(weight, bias), written; gbias may be null.
template <class T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* x, const T* gy, T* gweight, T* gbias);

// The reference of the first two, always im2col + BLAS GEMM: the oracle of the oneDNN parity tests.
template <class T>
void conv2d_im2col(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y, bool relu = false);
template <class T> void conv2d_backward_input_im2col(const Conv2dGeometry& g, const T* gy, const T* weight, T* gx);
}  // namespace cpu

namespace cuda {
void conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y);
void conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx);
void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gweight, float* gbias);
}  // namespace cuda

}  // namespace differnet::kernels
