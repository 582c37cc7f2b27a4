// CPU convolution: im2col + BLAS GEMM, OpenMP over chunks of the batch.
//
// The batch is cut into chunks of images; the im2col columns of a chunk's
// images sit side by side in one matrix, so that one GEMM covers the chunk
// (AlexNet's 6x6 maps at 112 pixels would make too narrow GEMMs one image at a
// time). Each OpenMP thread takes whole chunks -- im2col, a single-threaded
// GEMM, the copy out -- with its own scratch: one thread pool (OpenMP's), no
// barrier between the steps, and OpenBLAS's pthreads switched off meanwhile
// (two pools spinning against each other on the same cores cost ~40% of the
// time). A batch with fewer chunks than threads (one image) runs the chunks one
// after the other with OpenBLAS's threads on and the OpenMP loops of im2col and
// col2im inside.
//
// Refinements, each measured (docs/backbones.md): strided layers read
// phase-split input rows (phase_split), shallow layers with a small weight run
// im2col + GEMM in L2-sized blocks of output rows (cache_blocked_forward), bias
// and ReLU are applied in the copy-out, and where the BLAS runs no AVX-512
// kernels on an AVX-512 CPU kernels/sgemm_avx512.h replaces it (conv_gemm).
//
// That is the reference (conv2d_im2col, conv2d_backward_input_im2col). In
// float32 the forward and the backward-data may run oneDNN instead
// (kernels/conv_onednn.h), chosen per geometry by a fixed rule, or by timing
// with DIFFERNET_CPU_CONV=measure (run_chosen).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "autograd/error.h"

#include "kernels/conv.h"
#include "kernels/conv_onednn.h"
#include "kernels/elementwise_math.h"
#include "kernels/kernels.h"
#include "kernels/profile.h"
#include "kernels/sgemm_avx512.h"

namespace differnet::kernels::cpu {
namespace {

// A chunk's GEMM gets at least this many columns when the batch allows it...
constexpr int64_t kMinColumns = 2048;
// ...and its column matrix stays below this many bytes (unless one image needs more).
constexpr int64_t kMaxColumnBytes = int64_t(32) << 20;
constexpr int64_t kParallelGrain = 1 << 14;

int64_t images_per_chunk(const Conv2dGeometry& g, size_t elem) {
  const int64_t per_image = std::max<int64_t>(g.out_plane(), 1);
  const int64_t threads = omp_get_max_threads();
  int64_t chunk = (kMinColumns + per_image - 1) / per_image;
  chunk = std::min(chunk, std::max<int64_t>(1, kMaxColumnBytes / int64_t(elem) / (g.col_rows() * per_image)));
  // Every thread gets a chunk when the batch has enough images.
  if (g.batch >= threads) chunk = std::min(chunk, (g.batch + threads - 1) / threads);
  return std::max<int64_t>(1, std::min(chunk, g.batch));
}

// Calls work(first, count, thread) for every chunk: in parallel, one chunk per
// OpenMP thread at a time (static schedule: the same split every call), when
// there are at least as many chunks as threads; one after the other otherwise.
template <class F>
void for_each_chunk(const Conv2dGeometry& g, int64_t chunk, F&& work) {
  const int64_t chunks = (g.batch + chunk - 1) / chunk;
  const int threads = omp_get_max_threads();
  if (chunks < threads || threads == 1) {
    for (int64_t c = 0; c < chunks; ++c) work(c * chunk, std::min(chunk, g.batch - c * chunk), 0);
    return;
  }
  SingleThreadedBlas single;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) work(c * chunk, std::min(chunk, g.batch - c * chunk), omp_get_thread_num());
}

// Scratch that lives as long as the thread: repeated calls with the same shapes
// reuse the memory instead of faulting in fresh pages every time.
template <class T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& b = buffers[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// The output columns [lo, hi) whose input index o * stride - pad + k lies in [0, in).
inline void valid_range(int64_t out, int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t& lo, int64_t& hi) {
  const int64_t shift = pad - k;  // o * stride >= shift and o * stride < in + shift
  lo = shift <= 0 ? 0 : (shift + stride - 1) / stride;
  hi = in + shift <= 0 ? 0 : (in + shift - 1) / stride + 1;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// GCC would turn the short zeroing loops of im2col back into memset calls.
#if defined(__GNUC__) && !defined(__clang__)
#define DIFFERNET_NO_LIBCALL_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define DIFFERNET_NO_LIBCALL_LOOPS
#endif

// With a column stride s > 1 (AlexNet's first layer: 11x11, stride 4) the
// im2col reads x[..., ow*s + shift] would be a strided gather for every one of
// the k*k*C rows. Instead each input row is first split into its s phases,
// phase q holding the columns q, q+s, q+2s, ... (one pass over the input);
// a kernel column kw then reads phase (kw - p) mod s contiguously.
// Returns the `count` planes from image `first`, split (in scratch slot 2) or as they are.
// Row ih of plane (i, c) in phase q starts at ((i * C + c) * H + ih) * s * width + q * width.
inline int64_t phase_width(const Conv2dGeometry& g) {
  return g.stride_w == 1 ? g.in_w : (g.in_w + g.stride_w - 1) / g.stride_w;
}
template <class T>
const T* phase_split(const Conv2dGeometry& g, const T* x, int64_t first, int64_t count) {
  const T* planes = x + first * g.in_channels * g.in_plane();
  const int64_t s = g.stride_w, width = phase_width(g);
  if (s == 1) return planes;
  T* split = scratch<T>(2, count * g.in_channels * g.in_h * s * width);
  const int64_t in_rows = count * g.in_channels * g.in_h;
#pragma omp parallel for if (in_rows * g.in_w > kParallelGrain)
  for (int64_t row = 0; row < in_rows; ++row) {
    const T* src = planes + row * g.in_w;
    T* dst = split + row * s * width;
    for (int64_t q = 0; q < s; ++q, dst += width)
      for (int64_t j = 0; q + j * s < g.in_w; ++j) dst[j] = src[q + j * s];
  }
  return split;
}

// col[(c, kh, kw), i * block + (oh - oh_begin, ow)] = x[first + i, c, oh*s - p + kh, ow*s - p + kw]
// (0 outside) for the output rows oh in [oh_begin, oh_end) of `count` images,
// block = (oh_end - oh_begin) * out_w; `planes` from phase_split; `ld` is the
// row length of col.
template <class T>
DIFFERNET_NO_LIBCALL_LOOPS void im2col_rows(const Conv2dGeometry& g, const T* planes, int64_t count, T* col, int64_t ld,
                                            int64_t oh_begin, int64_t oh_end) {
  const int64_t rows = g.col_rows(), kk = g.kernel_h * g.kernel_w, s = g.stride_w, width = phase_width(g);
  const int64_t block = (oh_end - oh_begin) * g.out_w;
#pragma omp parallel for collapse(2) if (count * rows * block > kParallelGrain)
  for (int64_t i = 0; i < count; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t c = r / kk, kh = (r % kk) / g.kernel_w, kw = r % g.kernel_w;
      const T* plane = planes + (i * g.in_channels + c) * g.in_h * s * width;
      T* dst = col + r * ld + i * block;
      int64_t ow_lo, ow_hi;
      valid_range(g.out_w, g.in_w, kw, s, g.pad_w, ow_lo, ow_hi);
      // iw = ow * s + shift = (ow + base) * s + q: entry ow + base of phase q.
      const int64_t shift = kw - g.pad_w;
      const int64_t q = ((shift % s) + s) % s, base = (shift - q) / s;
      for (int64_t oh = oh_begin; oh < oh_end; ++oh, dst += g.out_w) {
        const int64_t ih = oh * g.stride_h - g.pad_h + kh;
        if (ih < 0 || ih >= g.in_h) {
          for (int64_t ow = 0; ow < g.out_w; ++ow) dst[ow] = T(0);
          continue;
        }
        const T* phase = plane + (ih * s + q) * width;
        // Plain loops, not memcpy/fill: rows are short (27 columns at 448 px,
        // 6 at 112) and a library call per row costs more than the copy.
        for (int64_t ow = 0; ow < ow_lo; ++ow) dst[ow] = T(0);
        for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = phase[ow + base];
        for (int64_t ow = ow_hi; ow < g.out_w; ++ow) dst[ow] = T(0);
      }
    }
}

// The whole im2col matrix of `count` images: col[(c, kh, kw), i * out_plane + (oh, ow)].
template <class T>
void im2col(const Conv2dGeometry& g, const T* x, int64_t first, int64_t count, T* col, int64_t ld) {
  im2col_rows(g, phase_split(g, x, first, count), count, col, ld, 0, g.out_h);
}

// The adjoint of im2col: gx[image, c, ...] = sum of the col entries that read it.
// Parallel over (image, channel): each writes only its own plane. With a
// column stride s > 1 the sums go into the plane's s phases (as in im2col:
// contiguous adds instead of strided ones), merged back into gx at the end;
// every input element receives its terms in the same order either way.
template <class T>
void col2im(const Conv2dGeometry& g, const T* col, int64_t ld, int64_t first, int64_t count, T* gx) {
  const int64_t kk = g.kernel_h * g.kernel_w, s = g.stride_w;
  const int64_t width = s == 1 ? g.in_w : (g.in_w + s - 1) / s;
#pragma omp parallel for collapse(2) if (count * g.col_rows() * g.out_plane() > kParallelGrain)
  for (int64_t i = 0; i < count; ++i)
    for (int64_t c = 0; c < g.in_channels; ++c) {
      T* dst = gx + ((first + i) * g.in_channels + c) * g.in_plane();
      T* acc = s == 1 ? dst : scratch<T>(2, g.in_h * s * width);  // this thread's phase-split plane
      std::fill(acc, acc + g.in_h * s * width, T(0));
      for (int64_t k = 0; k < kk; ++k) {
        const int64_t kh = k / g.kernel_w, kw = k % g.kernel_w;
        const T* src = col + (c * kk + k) * ld + i * g.out_plane();
        int64_t ow_lo, ow_hi;
        valid_range(g.out_w, g.in_w, kw, s, g.pad_w, ow_lo, ow_hi);
        const int64_t shift = kw - g.pad_w;
        const int64_t q = ((shift % s) + s) % s, base = (shift - q) / s;  // iw = (ow + base) * s + q
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          T* phase = acc + (ih * s + q) * width;
          const T* from = src + oh * g.out_w;
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow) phase[ow + base] += from[ow];
        }
      }
      if (s > 1)
        for (int64_t ih = 0; ih < g.in_h; ++ih)
          for (int64_t q = 0; q < s; ++q) {
            const T* phase = acc + (ih * s + q) * width;
            T* row = dst + ih * g.in_w;
            for (int64_t j = 0; q + j * s < g.in_w; ++j) row[q + j * s] = phase[j];
          }
    }
}

// mat[co, i * out_plane + p] = gy[first + i, co, p]: a chunk of gradients as one matrix.
template <class T>
void gather_chunk(const Conv2dGeometry& g, const T* gy, int64_t first, int64_t count, T* mat) {
  const int64_t plane = g.out_plane(), ld = count * plane;
#pragma omp parallel for collapse(2) if (count * g.out_channels * plane > kParallelGrain)
  for (int64_t i = 0; i < count; ++i)
    for (int64_t co = 0; co < g.out_channels; ++co)
      std::memcpy(mat + co * ld + i * plane, gy + ((first + i) * g.out_channels + co) * plane, sizeof(T) * size_t(plane));
}

// C [m x n] = op(A) B with B [k x n] dense and C of row stride ldc; op(A) is the
// weight [m x k], or with trans_a its transpose (the weight stored [k x m]).
// Float32 takes our AVX-512 GEMM where fast_gemm_enabled() (kernels/sgemm_avx512.h:
// the BLAS runs no AVX-512 kernels, or DIFFERNET_FAST_GEMM=1): one call
// per thread inside for_each_chunk's parallel loop, or, called outside a
// parallel region, the columns split among the threads in multiples of 32.
// Everything else goes to the CPU BLAS.
template <class T>
void conv_gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (fast_gemm_enabled()) {
      gemm_fast(trans_a, false, m, n, k, a, trans_a ? m : k, b, n, c, ldc, false);
      return;
    }
  }
  gemm_strided<T>(trans_a, false, m, n, k, T(1), a, trans_a ? m : k, b, n, T(0), c, ldc);
}

// A shallow GEMM with a small weight and a wide column matrix -- AlexNet's
// first layer: 64 x 363 weights against 363 x 12321 columns, 18 MB per image at
// 448 px -- spends more time moving the column matrix through memory (im2col
// writes it, the BLAS reads it to pack it) than multiplying. Such an image is
// done in blocks of output rows whose columns fit in L2: im2col writes a
// block, the GEMM packs it while it is still in cache. (A large weight would be
// re-packed by the BLAS for every block: those layers keep one GEMM.)
constexpr int64_t kColumnBlockBytes = int64_t(1) << 20;
inline bool cache_blocked_forward(const Conv2dGeometry& g, size_t elem) {
  return g.out_plane() * g.col_rows() * int64_t(elem) > 8 * kColumnBlockBytes &&
         g.out_channels * g.col_rows() * int64_t(elem) <= kColumnBlockBytes / 4;
}

// The im2col matrix [rows, ld] of images first// The im2col matrix [rows, ld] of images first .. first+count-1; a single
// image of a 1x1 stride-1 convolution is its own matrix (no copy).
template <class T>
const T* image_columns(const Conv2dGeometry& g, const T* x, int64_t first, int64_t count, int64_t rows, int64_t ld) {
  if (g.pointwise() && count == 1) return x + first * g.in_channels * g.in_plane();
  T* buffer = scratch<T>(0, rows * ld);
  im2col(g, x, first, count, buffer, ld);
  return buffer;
}

}  // namespace

// The bias and the ReLU are applied in the one pass that moves the GEMM's
// output into place (or, for a single image, over the output where the GEMM
// wrote it): no separate pass over the activations for either.
template <class T>
void conv2d_im2col(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y, bool relu) {
  const int64_t plane = g.out_plane(), rows = g.col_rows();
  for_each_chunk(g, images_per_chunk(g, sizeof(T)), [&](int64_t first, int64_t count, int) {
    const int64_t ld = count * plane;
    // One image: the GEMM writes its output in place. Several: [out_channels, count * plane], then copied out.
    T* out = count == 1 ? y + first * g.out_channels * plane : scratch<T>(1, g.out_channels * ld);
    if (count == 1 && cache_blocked_forward(g, sizeof(T))) {
      const T* planes = phase_split(g, x, first, 1);
      const int64_t block_rows = std::max<int64_t>(1, kColumnBlockBytes / int64_t(sizeof(T)) / (rows * g.out_w));
      for (int64_t oh = 0; oh < g.out_h; oh += block_rows) {
        const int64_t end = std::min(g.out_h, oh + block_rows), width = (end - oh) * g.out_w;
        T* block = scratch<T>(0, rows * width);
        im2col_rows(g, planes, 1, block, width, oh, end);
        conv_gemm<T>(false, g.out_channels, width, rows, weight, block, out + oh * g.out_w, plane);
      }
    } else {
      conv_gemm<T>(false, g.out_channels, ld, rows, weight, image_columns(g, x, first, count, rows, ld), out, ld);
    }
#pragma omp parallel for collapse(2) if (count * g.out_channels * plane > kParallelGrain)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t co = 0; co < g.out_channels; ++co) {
        T* dst = y + ((first + i) * g.out_channels + co) * plane;
        const T* src = out + co * ld + i * plane;
        const T b = bias ? bias[co] : T(0);
        if (relu) {
          for (int64_t p = 0; p < plane; ++p) dst[p] = unary_apply<UnaryOp::Relu>(src[p] + b, T(0));
        } else if (src != dst || bias) {
          for (int64_t p = 0; p < plane; ++p) dst[p] = src[p] + b;
        }
      }
  });
}

template <class T>
void conv2d_backward_input_im2col(const Conv2dGeometry& g, const T* gy, const T* weight, T* gx) {
  const int64_t plane = g.out_plane(), rows = g.col_rows();
  for_each_chunk(g, images_per_chunk(g, sizeof(T)), [&](int64_t first, int64_t count, int) {
    const int64_t ld = count * plane;
    const T* gmat = gy + first * g.out_channels * plane;
    if (count > 1) {
      T* buffer = scratch<T>(1, g.out_channels * ld);
      gather_chunk(g, gy, first, count, buffer);
      gmat = buffer;
    }
    // column gradient = weight^T [rows, out_channels] @ gy [out_channels, ld]
    if (g.pointwise() && count == 1) {
      conv_gemm<T>(true, rows, ld, g.out_channels, weight, gmat, gx + first * g.in_channels * g.in_plane(), ld);
      return;
    }
    T* gcol = scratch<T>(0, rows * ld);
    conv_gemm<T>(true, rows, ld, g.out_channels, weight, gmat, gcol, ld);
    col2im(g, gcol, ld, first, count, gx);
  });
}

namespace {

enum class Backend { Rule, Measure, OneDnn, Winograd, Im2col };

// DIFFERNET_CPU_CONV: unset or "auto" follows the fixed rule below; "measure"
// times the candidates on the first call of each geometry; "onednn" (direct),
// "winograd" (oneDNN's Winograd where it applies, else direct) or "im2col"
// forces a backend.
Backend requested_backend() {
  static const Backend requested = [] {
    const char* env = std::getenv("DIFFERNET_CPU_CONV");
    if (!env || !*env || std::strcmp(env, "auto") == 0) return Backend::Rule;
    if (std::strcmp(env, "measure") == 0) return Backend::Measure;
    if (std::strcmp(env, "onednn") == 0) return Backend::OneDnn;
    if (std::strcmp(env, "winograd") == 0) return Backend::Winograd;
    if (std::strcmp(env, "im2col") == 0) return Backend::Im2col;
    throw Error(detail::concat("DIFFERNET_CPU_CONV=", env, ": expected auto, measure, onednn, winograd or im2col"));
  }();
  return requested;
}

// The default choice: a fixed rule, not a timing, so that the same inputs give
// the same bits in every process -- a resumed run, differnet_score and
// train_mvtec (README, "Determinism"); a choice by timing can flip between
// processes when two candidates are close, as cuDNN's Find can on the GPU.
// The rule is what timing chose on AlexNet's three scales at 448 px
// (docs/backbones.md): oneDNN's Winograd for 3x3 stride-1 layers with at least
// 27x27 output pixels (about 1.6x faster there), its direct kernels elsewhere
// (im2col + GEMM was never faster by more than the timing noise).
Backend rule_backend(const Conv2dGeometry& g) {
  const bool winograd = g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
                        g.out_plane() >= 27 * 27;
  return winograd ? Backend::Winograd : Backend::OneDnn;
}

// Runs one direction of a float32 convolution on the backend chosen for its
// geometry: im2col, oneDNN direct or oneDNN Winograd (3x3 stride 1), by the
// rule above unless DIFFERNET_CPU_CONV says otherwise. With "measure", the
// first call of a geometry runs each candidate twice (the first oneDNN run
// compiles its kernel), keeps the one with the best time -- as conv_cudnn.cu
// keeps cuDNN's fastest algorithm -- and leaves its output (it runs once more
// when it was not the last measured). All write the whole output, so the
// repeats do not change it. The choice is per direction, geometry and bias,
// not per ReLU: conv2d_relu and relu(conv2d) then give the same bits.
// onednn_run(algorithm) returns false where oneDNN has no such kernel.
template <class OneDnn, class Reference>
void run_chosen(const char* what, const Conv2dGeometry& g, bool bias, OneDnn&& onednn_run, Reference&& reference) {
  const auto run = [&](Backend b) {
    if (b == Backend::Winograd && onednn_run(onednn::Algorithm::Winograd)) return;
    if (b != Backend::Im2col && onednn_run(onednn::Algorithm::Direct)) return;
    reference();
  };
  const Backend requested = requested_backend();
  if (!onednn::available()) return reference();
  if (requested == Backend::Rule) return run(rule_backend(g));
  if (requested != Backend::Measure) return run(requested);
  using Key = std::tuple<const char*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t, bool>;
  static std::map<Key, Backend> chosen;
  static std::mutex mutex;
  const Key key{what, g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
                g.stride_h, g.stride_w, g.pad_h, g.pad_w, bias};
  Backend backend = Backend::Measure;  // not chosen yet
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = chosen.find(key); it != chosen.end()) backend = it->second;
  }
  if (backend != Backend::Measure) return run(backend);
  // Best of two runs in ms, or -1 where the candidate has no kernel.
  const auto best_of_two = [](auto&& attempt) {
    double best = 1e300;
    for (int i = 0; i < 2; ++i) {
      const auto start = std::chrono::steady_clock::now();
      if (!attempt()) return -1.0;
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  };
  const double im2col_ms = best_of_two([&] {
    reference();
    return true;
  });
  const double winograd_ms = best_of_two([&] { return onednn_run(onednn::Algorithm::Winograd); });
  const double direct_ms = best_of_two([&] { return onednn_run(onednn::Algorithm::Direct); });
  backend = Backend::Im2col;
  double best = im2col_ms;
  if (winograd_ms >= 0 && winograd_ms < best) backend = Backend::Winograd, best = winograd_ms;
  if (direct_ms >= 0 && direct_ms < best) backend = Backend::OneDnn, best = direct_ms;
  // The last successful run was direct's, else Winograd's, else im2col's.
  const Backend last = direct_ms >= 0 ? Backend::OneDnn : winograd_ms >= 0 ? Backend::Winograd : Backend::Im2col;
  if (backend != last) run(backend);
  if (log_conv_algorithms()) {
    const auto ms = [](double t) { return t >= 0 ? std::to_string(t) : std::string("(none)"); };
    std::fprintf(stderr,
                 "CPU conv %s %lldx%lldx%lldx%lld -> %lld (k%lld s%lld): oneDNN direct %s ms, Winograd %s ms, im2col "
                 "%.3f ms -> %s\n",
                 what, (long long)g.batch, (long long)g.in_channels, (long long)g.in_h, (long long)g.in_w,
                 (long long)g.out_channels, (long long)g.kernel_h, (long long)g.stride_h, ms(direct_ms).c_str(),
                 ms(winograd_ms).c_str(), im2col_ms,
                 backend == Backend::OneDnn ? "oneDNN direct" : backend == Backend::Winograd ? "oneDNN Winograd" : "im2col");
  }
  std::lock_guard<std::mutex> lock(mutex);
  chosen[key] = backend;
}

}  // namespace

template <class T>
void conv2d(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y, bool relu) {
  if constexpr (std::is_same_v<T, float>) {
    run_chosen(
        "forward", g, bias != nullptr, [&](onednn::Algorithm a) { return onednn::conv2d(g, x, weight, bias, y, relu, a); },
        [&] { conv2d_im2col<T>(g, x, weight, bias, y, relu); });
  } else {
    conv2d_im2col<T>(g, x, weight, bias, y, relu);
  }
}

template <class T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* gy, const T* weight, T* gx) {
  if constexpr (std::is_same_v<T, float>) {
    run_chosen(
        "backward-data", g, false, [&](onednn::Algorithm a) { return onednn::conv2d_backward_input(g, gy, weight, gx, a); },
        [&] { conv2d_backward_input_im2col<T>(g, gy, weight, gx); });
  } else {
    conv2d_backward_input_im2col<T>(g, gy, weight, gx);
  }
}

template <class T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* x, const T* gy, T* gweight, T* gbias) {
  const int64_t plane = g.out_plane(), rows = g.col_rows(), size = g.out_channels * rows;
  // Each thread sums its chunks' gradients in its own buffer; the buffers are
  // added in thread order afterwards (the same order every call).
  const int threads = omp_get_max_threads();
  std::vector<T> partial(size_t(threads * size), T(0));
  std::vector<char> used(size_t(threads), 0);
  for_each_chunk(g, images_per_chunk(g, sizeof(T)), [&](int64_t first, int64_t count, int thread) {
    const int64_t ld = count * plane;
    const T* col = image_columns(g, x, first, count, rows, ld);
    const T* gmat = gy + first * g.out_channels * plane;
    if (count > 1) {
      T* buffer = scratch<T>(1, g.out_channels * ld);
      gather_chunk(g, gy, first, count, buffer);
      gmat = buffer;
    }
    // partial += gy [out_channels, ld] @ col^T [ld, rows]
    gemm<T>(false, true, g.out_channels, rows, ld, T(1), gmat, col, T(1), partial.data() + thread * size);
    used[size_t(thread)] = 1;
  });
  std::fill(gweight, gweight + size, T(0));
  for (int t = 0; t < threads; ++t)
    if (used[size_t(t)]) accumulate<T>(gweight, partial.data() + t * size, size);
  if (!gbias) return;
  // Sums in double, as reduce_sum does: independent of the chunking and thread count.
#pragma omp parallel for if (g.out_channels * g.batch * plane > kParallelGrain)
  for (int64_t co = 0; co < g.out_channels; ++co) {
    double acc = 0;
    for (int64_t n = 0; n < g.batch; ++n) {
      const T* p = gy + (n * g.out_channels + co) * plane;
      for (int64_t k = 0; k < plane; ++k) acc += double(p[k]);
    }
    gbias[co] = T(acc);
  }
}

#define DIFFERNET_INSTANTIATE_CONV(T)                                                          \
  template void conv2d<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*, bool);      \
  template void conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*);       \
  template void conv2d_backward_weight<T>(const Conv2dGeometry&, const T*, const T*, T*, T*);      \
  template void conv2d_im2col<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*, bool); \
  template void conv2d_backward_input_im2col<T>(const Conv2dGeometry&, const T*, const T*, T*);

DIFFERNET_INSTANTIATE_CONV(float)
DIFFERNET_INSTANTIATE_CONV(double)

}  // namespace differnet::kernels::cpu
