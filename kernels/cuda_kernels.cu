// CUDA kernels of the tensor ops (float32). Each kernel is the GPU twin of the
// CPU loop of the same name in cpu_kernels.cpp and calls the same element math.
// Everything runs on the default stream, in order.
#include <algorithm>

#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_launch.h"
#include "kernels/kernels.h"
#include "kernels/profile.h"
#include "kernels/random_math.h"

namespace differnet::cuda {

void throw_cuda_error(const char* library, const std::string& what, const char* call, const char* file, int line) {
  throw Error(detail::concat(library, " error '", what, "' in ", call, " at ", file, ":", line));
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* curand_status_name(curandStatus_t s) {
  switch (s) {
    case CURAND_STATUS_NOT_INITIALIZED: return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED: return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_LAUNCH_FAILURE: return "CURAND_STATUS_LAUNCH_FAILURE";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE: return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_INTERNAL_ERROR: return "CURAND_STATUS_INTERNAL_ERROR";
    default: return "CURAND_STATUS_UNKNOWN";
  }
}

}  // namespace differnet::cuda

namespace differnet::kernels::cuda {
namespace {


template <UnaryOp op>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float alpha) {
  GRID_STRIDE_LOOP(i, n) y[i] = unary_apply<op>(x[i], alpha);
}

template <UnaryOp op>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* gy, float* gx, int64_t n,
                                      float alpha) {
  GRID_STRIDE_LOOP(i, n) gx[i] = gy[i] * unary_derivative<op>(x[i], y[i], alpha);
}

template <BinaryOp op>
__global__ void binary_kernel(const float* a, const float* b, float* out, int64_t n) {
  GRID_STRIDE_LOOP(i, n) out[i] = binary_apply<op>(a[i], b[i]);
}

template <BinaryOp op>
__global__ void binary_broadcast_kernel(const float* a, const float* b, float* out, int64_t n, BroadcastIndex bc) {
  GRID_STRIDE_LOOP(i, n) {
    long long ia, ib;
    bc.offsets(i, ia, ib);
    out[i] = binary_apply<op>(a[ia], b[ib]);
  }
}

__global__ void accumulate_kernel(float* dst, const float* src, int64_t n) {
  GRID_STRIDE_LOOP(i, n) dst[i] += src[i];
}

__global__ void fill_kernel(float* dst, int64_t n, float value) {
  GRID_STRIDE_LOOP(i, n) dst[i] = value;
}

// When the reduced dimension is the innermost (inner == 1): block b sums chunk
// (b % chunks) of row (b / chunks), elements [c * chunk_len, (c + 1) * chunk_len)
// of the row, into y[b]. One chunk per row is one block per output.
__global__ void reduce_rows_kernel(const float* x, float* y, int64_t len, int64_t chunk_len, int64_t chunks) {
  __shared__ float partial[kBlock];
  const int64_t row = int64_t(blockIdx.x) / chunks, begin = int64_t(blockIdx.x) % chunks * chunk_len;
  const int64_t end = begin + chunk_len < len ? begin + chunk_len : len;
  const float* p = x + row * len;
  float acc = 0.f;
  for (int64_t l = begin + threadIdx.x; l < end; l += blockDim.x) acc += p[l];
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = partial[0];
}

// One thread per output otherwise: neighbouring threads read neighbouring columns.
__global__ void reduce_columns_kernel(const float* x, float* y, DimSplit s) {
  GRID_STRIDE_LOOP(oi, s.outer * s.inner) {
    const int64_t o = oi / s.inner, i = oi % s.inner;
    const float* p = x + o * s.len * s.inner + i;
    float acc = 0.f;
    for (int64_t l = 0; l < s.len; ++l) acc += p[l * s.inner];
    y[oi] = acc;
  }
}

// Sets *flag when x holds a NaN or an infinity (never clears it).
__global__ void nonfinite_flag_kernel(const float* x, int64_t n, int* flag) {
  bool bad = false;
  GRID_STRIDE_LOOP(i, n) bad = bad || !is_finite_value(x[i]);
  if (bad) atomicExch(flag, 1);
}

__global__ void broadcast_copy_kernel(const float* x, float* y, int64_t n, BroadcastIndex bc) {
  GRID_STRIDE_LOOP(i, n) {
    long long ia, ib;
    bc.offsets(i, ia, ib);
    y[i] = x[ia];
  }
}

__global__ void gather_kernel(const float* x, float* y, DimSplit s, const int64_t* idx, int64_t n_idx) {
  GRID_STRIDE_LOOP(k, s.outer * n_idx * s.inner) {
    const int64_t i = k % s.inner, j = (k / s.inner) % n_idx, o = k / (s.inner * n_idx);
    y[k] = x[(o * s.len + idx[j]) * s.inner + i];
  }
}

__global__ void scatter_add_kernel(const float* gy, float* gx, DimSplit s, const int64_t* idx, int64_t n_idx) {
  GRID_STRIDE_LOOP(k, s.outer * n_idx * s.inner) {
    const int64_t i = k % s.inner, j = (k / s.inner) % n_idx, o = k / (s.inner * n_idx);
    atomicAdd(gx + (o * s.len + idx[j]) * s.inner + i, gy[k]);
  }
}

__global__ void add_row_vector_kernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  GRID_STRIDE_LOOP(k, rows * cols) y[k] += bias[k % cols];
}

__global__ void resize_nearest_kernel(const float* x, float* y, int64_t planes, int h, int w, int oh, int ow) {
  GRID_STRIDE_LOOP(k, planes * oh * ow) {
    const int c = int(k % ow), r = int((k / ow) % oh);
    const int64_t p = k / (int64_t(oh) * ow);
    y[k] = x[(p * h + nearest_source_index(r, h, oh)) * w + nearest_source_index(c, w, ow)];
  }
}

__global__ void resize_nearest_backward_kernel(const float* gy, float* gx, int64_t planes, int h, int w, int oh,
                                               int ow) {
  GRID_STRIDE_LOOP(k, planes * h * w) {
    const int c = int(k % w), r = int((k / w) % h);
    const int64_t p = k / (int64_t(h) * w);
    int r0, r1, c0, c1;
    nearest_output_range(r, h, oh, r0, r1);
    nearest_output_range(c, w, ow, c0, c1);
    float acc = 0.f;
    for (int yr = r0; yr < r1; ++yr)
      for (int yc = c0; yc < c1; ++yc) acc += gy[(p * oh + yr) * ow + yc];
    gx[k] = acc;
  }
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamParams a) {
  GRID_STRIDE_LOOP(i, n) adam_update(p[i], g[i], m[i], v[i], a);
}

__global__ void fill_uniform_kernel(float* y, int64_t n, uint64_t seed, uint64_t offset, double low, double high) {
  GRID_STRIDE_LOOP(i, n) y[i] = float(uniform_value(seed, offset + uint64_t(i), low, high));
}

__global__ void fill_normal_kernel(float* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  GRID_STRIDE_LOOP(i, n) y[i] = float(normal_value(seed, offset + uint64_t(i), mean, std));
}

cublasHandle_t cublas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    return h;
  }();
  return handle;
}

using differnet::cuda::DeviceBuffer;

// Index lists live on the host; this copies one to a cached device block.
struct DeviceIndices {
  DeviceBuffer block;
  int64_t* ptr;
  DeviceIndices(const int64_t* host, int64_t n)
      : block(sizeof(int64_t) * size_t(n > 0 ? n : 1)), ptr(static_cast<int64_t*>(block.ptr)) {
    CUDA_CHECK(cudaMemcpy(ptr, host, sizeof(int64_t) * size_t(n), cudaMemcpyHostToDevice));
  }
};

// A whole-tensor sum is one row: one block would read all of it on one SM.
// Rows are split into chunks of at least kMinChunk elements until about
// kTargetBlocks blocks run; a second pass sums each row's chunk partials.
// Both passes add in a fixed order, so the result is the same on every run.
constexpr int64_t kTargetBlocks = 2048, kMinChunk = int64_t(kBlock) * 32;

int64_t row_chunks(int64_t rows, int64_t len) {
  if (rows >= kTargetBlocks) return 1;
  return std::max<int64_t>(1, std::min((len + kMinChunk - 1) / kMinChunk, kTargetBlocks / rows));
}

}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
  dispatch_unary(op, [&](auto tag) {
    launch(unary_kernel<decltype(tag)::value>, grid_for(n), kBlock)(x, y, n, alpha);
  });
  CUDA_CHECK_LAUNCH("unary_kernel");
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float alpha) {
  dispatch_unary(op, [&](auto tag) {
    launch(unary_backward_kernel<decltype(tag)::value>, grid_for(n), kBlock)(x, y, gy, gx, n, alpha);
  });
  CUDA_CHECK_LAUNCH("unary_backward_kernel");
}

void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, const BroadcastIndex* bc) {
  dispatch_binary(op, [&](auto tag) {
    constexpr BinaryOp o = decltype(tag)::value;
    if (bc) launch(binary_broadcast_kernel<o>, grid_for(n), kBlock)(a, b, out, n, *bc);
    else launch(binary_kernel<o>, grid_for(n), kBlock)(a, b, out, n);
  });
  CUDA_CHECK_LAUNCH("binary_kernel");
}

void accumulate(float* dst, const float* src, int64_t n) {
  launch(accumulate_kernel, grid_for(n), kBlock)(dst, src, n);
  CUDA_CHECK_LAUNCH("accumulate_kernel");
}

void fill(float* dst, int64_t n, float value) {
  launch(fill_kernel, grid_for(n), kBlock)(dst, n, value);
  CUDA_CHECK_LAUNCH("fill_kernel");
}

void reduce_sum(const float* x, float* y, DimSplit s) {
  if (s.outer * s.inner == 0) return;  // no outputs (a zero-sized grid is an invalid launch)
  if (s.inner == 1 && s.outer <= 65535 * 16) {
    const int64_t chunks = row_chunks(s.outer, s.len);
    if (chunks == 1) {
      launch(reduce_rows_kernel, unsigned(s.outer), kBlock)(x, y, s.len, s.len, int64_t(1));
    } else {
      DeviceBuffer partial(sizeof(float) * size_t(s.outer * chunks));
      float* p = static_cast<float*>(partial.ptr);
      launch(reduce_rows_kernel, unsigned(s.outer * chunks), kBlock)(x, p, s.len, (s.len + chunks - 1) / chunks,
                                                                      chunks);
      CUDA_CHECK_LAUNCH("reduce_rows_kernel");
      launch(reduce_rows_kernel, unsigned(s.outer), kBlock)(p, y, chunks, chunks, int64_t(1));
    }
    CUDA_CHECK_LAUNCH("reduce_rows_kernel");
  } else {
    launch(reduce_columns_kernel, grid_for(s.outer * s.inner), kBlock)(x, y, s);
    CUDA_CHECK_LAUNCH("reduce_columns_kernel");
  }
}

bool all_finite(const FloatSpan* spans, int count) {
  DeviceBuffer flag(sizeof(int));
  CUDA_CHECK(cudaMemsetAsync(flag.ptr, 0, sizeof(int), 0));
  for (int k = 0; k < count; ++k) {
    if (spans[k].n == 0) continue;
    launch(nonfinite_flag_kernel, grid_for(spans[k].n), kBlock)(spans[k].data, spans[k].n, static_cast<int*>(flag.ptr));
    CUDA_CHECK_LAUNCH("nonfinite_flag_kernel");
  }
  int bad = 0;
  CUDA_CHECK(cudaMemcpy(&bad, flag.ptr, sizeof(int), cudaMemcpyDeviceToHost));
  return bad == 0;
}

void broadcast_copy(const float* x, float* y, int64_t n, const BroadcastIndex& bc) {
  launch(broadcast_copy_kernel, grid_for(n), kBlock)(x, y, n, bc);
  CUDA_CHECK_LAUNCH("broadcast_copy_kernel");
}

void gather(const float* x, float* y, DimSplit s, const int64_t* idx_host, int64_t n_idx) {
  DeviceIndices idx(idx_host, n_idx);
  const int64_t n = s.outer * n_idx * s.inner;
  launch(gather_kernel, grid_for(n), kBlock)(x, y, s, idx.ptr, n_idx);
  CUDA_CHECK_LAUNCH("gather_kernel");
}

void scatter_add(const float* gy, float* gx, DimSplit s, const int64_t* idx_host, int64_t n_idx) {
  DeviceIndices idx(idx_host, n_idx);
  const int64_t n = s.outer * n_idx * s.inner;
  launch(scatter_add_kernel, grid_for(n), kBlock)(gy, gx, s, idx.ptr, n_idx);
  CUDA_CHECK_LAUNCH("scatter_add_kernel");
}

void copy_slab(const void* x, void* y, int64_t outer, int64_t x_len, int64_t y_len, int64_t x_start, int64_t y_start,
               int64_t count, int64_t inner_bytes) {
  if (outer == 0 || count == 0 || inner_bytes == 0) return;
  char* dst = static_cast<char*>(y) + y_start * inner_bytes;
  const char* src = static_cast<const char*>(x) + x_start * inner_bytes;
  const size_t y_pitch = size_t(y_len * inner_bytes), x_pitch = size_t(x_len * inner_bytes);
  const size_t width = size_t(count * inner_bytes);
  // cudaMemcpy2D refuses pitches of 2 GiB and more (cudaErrorInvalidPitchValue):
  // such slabs are few and large, one copy each.
  constexpr size_t kMaxPitch = size_t(1) << 31;
  if (x_pitch >= kMaxPitch || y_pitch >= kMaxPitch) {
    for (int64_t o = 0; o < outer; ++o)
      CUDA_CHECK(cudaMemcpyAsync(dst + size_t(o) * y_pitch, src + size_t(o) * x_pitch, width,
                                 cudaMemcpyDeviceToDevice, 0));
    return;
  }
  CUDA_CHECK(cudaMemcpy2DAsync(dst, y_pitch, src, x_pitch, width, size_t(outer), cudaMemcpyDeviceToDevice, 0));
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b, float beta,
          float* c) {
  // FP32 unless --tf32 allowed TF32 tensor cores (kernels/profile.h).
  CUBLAS_CHECK(cublasSetMathMode(cublas(), allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  CUBLAS_CHECK(cublasSgemm(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m),
                           int(k), &alpha, b, tb ? int(k) : int(n), a, ta ? int(m) : int(k), &beta, c, int(n)));
}

void add_row_vector(float* y, const float* bias, int64_t rows, int64_t cols) {
  launch(add_row_vector_kernel, grid_for(rows * cols), kBlock)(y, bias, rows, cols);
  CUDA_CHECK_LAUNCH("add_row_vector_kernel");
}

void resize_nearest(const float* x, float* y, int64_t planes, int h, int w, int oh, int ow) {
  launch(resize_nearest_kernel, grid_for(planes * oh * ow), kBlock)(x, y, planes, h, w, oh, ow);
  CUDA_CHECK_LAUNCH("resize_nearest_kernel");
}

void resize_nearest_backward(const float* gy, float* gx, int64_t planes, int h, int w, int oh, int ow) {
  launch(resize_nearest_backward_kernel, grid_for(planes * h * w), kBlock)(gy, gx, planes, h, w, oh, ow);
  CUDA_CHECK_LAUNCH("resize_nearest_backward_kernel");
}

void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& a) {
  launch(adam_kernel, grid_for(n), kBlock)(p, g, m, v, n, a);
  CUDA_CHECK_LAUNCH("adam_kernel");
}

void fill_uniform(float* y, int64_t n, uint64_t seed, uint64_t offset, float low, float high) {
  if (n == 0) return;
  launch(fill_uniform_kernel, grid_for(n), kBlock)(y, n, seed, offset, double(low), double(high));
  CUDA_CHECK_LAUNCH("fill_uniform_kernel");
}

void fill_normal(float* y, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  if (n == 0) return;
  launch(fill_normal_kernel, grid_for(n), kBlock)(y, n, seed, offset, double(mean), double(std));
  CUDA_CHECK_LAUNCH("fill_normal_kernel");
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace differnet::kernels::cuda
