// The raw kernels behind every tensor op: plain pointers and sizes, no tensors.
// `cpu::` is the reference implementation (OpenMP loops, OpenBLAS GEMM);
// `cuda::` computes the same on the GPU (float32 only) and is defined only when
// the library is built with CUDA. Both call the element math of
// kernels/elementwise_math.h, so each formula is written once.
#pragma once
#include <cstdint>

#include "kernels/elementwise_math.h"

namespace differnet::kernels {

// A [outer, len, inner] view of a contiguous tensor around one dimension.
struct DimSplit {
  int64_t outer = 1, len = 1, inner = 1;
};

namespace cpu {
template <class T> void unary(UnaryOp op, const T* x, T* y, int64_t n, T alpha);
template <class T> void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T alpha);
template <class T> void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bc);
template <class T> void accumulate(T* dst, const T* src, int64_t n);  // dst += src
template <class T> void fill(T* dst, int64_t n, T value);
template <class T> void reduce_sum(const T* x, T* y, DimSplit s);  // y[o,i] = sum_l x[o,l,i]
template <class T> void broadcast_copy(const T* x, T* y, int64_t n, const BroadcastIndex& bc);  // y = x via stride_a
template <class T> void gather(const T* x, T* y, DimSplit s, const int64_t* idx, int64_t n_idx);
template <class T> void scatter_add(const T* gy, T* gx, DimSplit s, const int64_t* idx, int64_t n_idx);
// Copies `count` slices of `inner` elements from x[o, x_start..] to y[o, y_start..], for every o < outer.
void copy_slab(const void* x, void* y, int64_t outer, int64_t x_len, int64_t y_len, int64_t x_start, int64_t y_start,
               int64_t count, int64_t inner_bytes);
template <class T> void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                             const T* b, T beta, T* c);  // row-major C = alpha*op(A)op(B) + beta*C
// The same with explicit row strides (lda, ldb, ldc): C may be a block of columns of a wider matrix.
template <class T> void gemm_strided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                                     int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);
template <class T> void add_row_vector(T* y, const T* bias, int64_t rows, int64_t cols);  // y[r,:] += bias
// A Linear layer's backward around its GEMMs, one pass over the [rows, cols]
// output gradient gy: gx = gy where y > 0, else 0 (the fused ReLU; y null: no
// ReLU, gx not written), and bias_grad (if not null) = the column sums of that,
// in double in row order like reduce_sum.
template <class T> void linear_backward_epilogue(const T* gy, const T* y, T* gx, T* bias_grad, int64_t rows,
                                                 int64_t cols);
template <class T> void resize_nearest(const T* x, T* y, int64_t planes, int h, int w, int oh, int ow);
template <class T> void resize_nearest_backward(const T* gy, T* gx, int64_t planes, int h, int w, int oh, int ow);
void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& a);
// Counter-based random numbers (kernels/random_math.h): element k uses counter
// (offset + k), so the same (seed, offset) gives the same values however the
// work is split, and on either device.
template <class T> void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, T low, T high);
template <class T> void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, T mean, T std);
template <class T> bool all_finite(const T* x, int64_t n);  // no NaN, no infinity
}  // namespace cpu

namespace cuda {
void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha);
void unary_backward(UnaryOp op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float alpha);
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, const BroadcastIndex* bc);
void accumulate(float* dst, const float* src, int64_t n);
void fill(float* dst, int64_t n, float value);
void reduce_sum(const float* x, float* y, DimSplit s);
void broadcast_copy(const float* x, float* y, int64_t n, const BroadcastIndex& bc);
void gather(const float* x, float* y, DimSplit s, const int64_t* idx_host, int64_t n_idx);
void scatter_add(const float* gy, float* gx, DimSplit s, const int64_t* idx_host, int64_t n_idx);
void copy_slab(const void* x, void* y, int64_t outer, int64_t x_len, int64_t y_len, int64_t x_start, int64_t y_start,
               int64_t count, int64_t inner_bytes);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
          float beta, float* c);
void add_row_vector(float* y, const float* bias, int64_t rows, int64_t cols);
void resize_nearest(const float* x, float* y, int64_t planes, int h, int w, int oh, int ow);
void resize_nearest_backward(const float* gy, float* gx, int64_t planes, int h, int w, int oh, int ow);
void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& a);
void fill_uniform(float* y, int64_t n, uint64_t seed, uint64_t offset, float low, float high);
void fill_normal(float* y, int64_t n, uint64_t seed, uint64_t offset, float mean, float std);
// Whether every element of every span is finite: one flag on the device that
// each span's check sets, one 4-byte read back (a synchronisation).
struct FloatSpan {
  const float* data;
  int64_t n;
};
bool all_finite(const FloatSpan* spans, int count);
void synchronize();  // waits for the device; for benchmarks and host reads
}  // namespace cuda

}  // namespace differnet::kernels
