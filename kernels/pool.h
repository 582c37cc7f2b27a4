// Raw kernels of 2-D max pooling: plain pointers over [planes, H, W] planes.
// cpu:: is the reference (float and double); cuda:: computes the same on the
// GPU (float32). Both call the element math of kernels/pool_math.h.
#pragma once
#include "kernels/pool_math.h"

namespace differnet::kernels {

namespace cpu {
template <class T> void max_pool2d(const Pool2dGeometry& g, const T* x, T* y);
// gx = d(sum(y * gy))/dx, written (not accumulated).
template <class T> void max_pool2d_backward(const Pool2dGeometry& g, const T* x, const T* gy, T* gx);
}  // namespace cpu

namespace cuda {
void max_pool2d(const Pool2dGeometry& g, const float* x, float* y);
void max_pool2d_backward(const Pool2dGeometry& g, const float* x, const float* gy, float* gx);
}  // namespace cuda

}  // namespace differnet::kernels
