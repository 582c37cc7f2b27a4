// oneDNN convolutions (conv_onednn.h). Each geometry gets its primitive once
// (oneDNN JIT-compiles it), activations in its blocked nChw16c layout (see
// activation()), weights in whatever layout it asks for; our NCHW tensors are
// reordered into them and the result back, through buffers kept per thread
// (memory-bound passes, ~3 % of the features' time). The batch is split in
// chunks among the threads (for_each_chunk), and AlexNet's strided 3-channel
// first layer runs as a stride-1 convolution over a space-to-depth input
// (space_to_depth).
#include "kernels/conv_onednn.h"

#include "autograd/error.h"
#include "kernels/sgemm_avx512.h"

#if DIFFERNET_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#endif

namespace differnet::kernels::cpu::onednn {

#if DIFFERNET_WITH_ONEDNN
namespace {

using dnnl::memory;
using Dims = memory::dims;

// With DIFFERNET_NO_AVX512=1 (kernels/sgemm_avx512.h) oneDNN too runs no
// AVX-512 code: its AVX2 kernels, the path of an AVX2-only CPU.
dnnl::engine& cpu_engine() {
  static dnnl::engine engine = [] {
    if (!avx512_supported()) dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

// A 64-byte aligned buffer per thread and role, grown on demand.
enum Role { kSrc, kWeight, kDst, kDepthInput, kDepthWeight, kReorderScratch, kConvScratch, kRestWeight, kRoles };
float* thread_buffer(int role, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[kRoles];
  Buffer& b = buffers[role];
  bytes = std::max<size_t>(bytes, 64);
  if (b.size < bytes) {
    std::free(b.data);
    b.size = 0;
    b.data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!b.data) throw OutOfMemory(detail::concat("host out of memory: oneDNN convolution buffer of ", bytes, " bytes"));
    b.size = bytes;
  }
  return static_cast<float*>(b.data);
}

Dims src_dims(const Conv2dGeometry& g) { return {g.batch, g.in_channels, g.in_h, g.in_w}; }
Dims weight_dims(const Conv2dGeometry& g) { return {g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}; }
Dims dst_dims(const Conv2dGeometry& g) { return {g.batch, g.out_channels, g.out_h, g.out_w}; }
memory::desc plain(const Dims& dims) {
  return memory::desc(dims, memory::data_type::f32, dims.size() == 4 ? memory::format_tag::abcd : memory::format_tag::a);
}
memory::desc any(const Dims& dims) { return memory::desc(dims, memory::data_type::f32, memory::format_tag::any); }
// Activations in oneDNN's nChw16c (channels in blocks of 16; nChw8c without
// AVX-512): its direct convolutions work on it, and the reorders between it
// and our NCHW ran ~3x faster than those to NHWC, which "any" gave (brgconv
// kernels): on the three-scale features the reorders took 38 instead of 137
// ms of ~1.1 s at batch 16, the convolutions as fast. Channel counts not a
// multiple of the block (the image's 3): plain NCHW where the direct kernels
// read it (a forward's input), "any" elsewhere. Where oneDNN has no optimised
// kernel for these layouts (AVX2 and a 3-channel input), "any" throughout
// (blocked = false).
memory::desc activation(const Dims& dims, bool plain_ok, bool blocked) {
  if (!blocked) return any(dims);
  const int64_t block = avx512_supported() ? 16 : 8;
  if (dims[1] % block == 0)
    return memory::desc(dims, memory::data_type::f32, block == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c);
  return plain_ok ? plain(dims) : any(dims);
}

// oneDNN's reference implementations (impl names "ref:...") are scalar
// loops, slower than im2col by orders of magnitude: never used.
template <class PrimitiveDesc>
void require_optimised(const PrimitiveDesc& pd) {
  if (std::strncmp(pd.impl_info_str(), "ref", 3) == 0) throw dnnl::error(dnnl_unimplemented, "reference implementation only");
}

// The right padding that makes oneDNN's size relation exact (PyTorch's floor
// division may leave input columns unread: then it is below the left padding).
Dims right_padding(const Conv2dGeometry& g) {
  return {(g.out_h - 1) * g.stride_h + g.kernel_h - g.in_h - g.pad_h,
          (g.out_w - 1) * g.stride_w + g.kernel_w - g.in_w - g.pad_w};
}

// Every primitive takes its scratch memory from the caller (a buffer of the
// calling thread): the same primitive may then run on several threads at once.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}
memory scratchpad(const memory::desc& desc, int role) {
  return memory(desc, cpu_engine(), thread_buffer(role, desc.get_size()));
}

// One tensor between our NCHW memory and the primitive's layout: the reorder
// when the two differ.
struct Port {
  memory::desc user, inside, scratch;
  std::optional<dnnl::reorder> reorder;  // user -> inside for an input, inside -> user for an output

  Port(const memory::desc& user_desc, const memory::desc& inside_desc, bool input) : user(user_desc), inside(inside_desc) {
    if (user == inside) return;
    const dnnl::reorder::primitive_desc pd = input ? dnnl::reorder::primitive_desc(cpu_engine(), user, cpu_engine(), inside, user_scratchpad())
                                                   : dnnl::reorder::primitive_desc(cpu_engine(), inside, cpu_engine(), user, user_scratchpad());
    scratch = pd.scratchpad_desc();
    reorder = dnnl::reorder(pd);
  }
  void run(dnnl::stream& s, const memory& from, const memory& to) const {
    reorder->execute(s, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scratchpad(scratch, kReorderScratch)}});
  }
  // The primitive's memory for our input `data` (reordered into buffer `role` when needed).
  memory input(dnnl::stream& s, const float* data, int role) const {
    memory mine(user, cpu_engine(), const_cast<float*>(data));
    if (!reorder) return mine;
    memory theirs(inside, cpu_engine(), thread_buffer(role, inside.get_size()));
    run(s, mine, theirs);
    return theirs;
  }
  // The primitive's memory for our output `data`; finish() moves it there.
  memory output(float* data, int role) const {
    return reorder ? memory(inside, cpu_engine(), thread_buffer(role, inside.get_size()))
                   : memory(user, cpu_engine(), data);
  }
  void finish(dnnl::stream& s, const memory& theirs, float* data) const {
    if (reorder) run(s, theirs, memory(user, cpu_engine(), data));
  }
};

struct Forward {
  dnnl::convolution_forward primitive;
  memory::desc scratch;
  Port src, weight, dst;
};
struct BackwardData {
  dnnl::convolution_backward_data primitive;
  memory::desc scratch;
  Port diff_dst, weight, diff_src;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       bool, bool, Algorithm>;
Key key_of(const Conv2dGeometry& g, bool relu, bool bias, Algorithm algorithm) {
  return {g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
          g.stride_h, g.stride_w, g.pad_h, g.pad_w, relu, bias, algorithm};
}
dnnl::algorithm dnnl_algorithm(Algorithm algorithm) {
  return algorithm == Algorithm::Winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}

// Primitives by geometry, built on first use; nullptr where oneDNN has no
// implementation. One mutex for the lookups and the runs (the convolutions
// use all threads anyway).
std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

// The primitive in our preferred layouts, else in oneDNN's ("any"); throws
// dnnl::error when neither has an optimised implementation.
template <class Make>
auto first_optimised(Make&& make) {
  try {
    return make(true);
  } catch (const dnnl::error&) {
    return make(false);
  }
}

// The primitive for `key` from `cache`, else made (first_optimised(make)) and
// kept; null, also kept, when oneDNN has no optimised implementation for it:
// the reference runs that geometry.
template <class Primitive, class Make>
std::shared_ptr<Primitive> cached_primitive(std::map<Key, std::shared_ptr<Primitive>>& cache, const Key& key,
                                            Make&& make) {
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  std::shared_ptr<Primitive> made;
  try {
    made = first_optimised(make);
  } catch (const dnnl::error&) {
    made = nullptr;
  }
  cache.emplace(key, made);
  return made;
}

std::shared_ptr<Forward> forward_primitive(const Conv2dGeometry& g, bool relu, bool bias, Algorithm algorithm) {
  static std::map<Key, std::shared_ptr<Forward>> cache;
  const Dims strides{g.stride_h, g.stride_w}, left{g.pad_h, g.pad_w}, right = right_padding(g);
  return cached_primitive(cache, key_of(g, relu, bias, algorithm), [&](bool blocked) {
    const auto kind = dnnl::prop_kind::forward_inference;
    const auto algo = dnnl_algorithm(algorithm);
    const memory::desc src = activation(src_dims(g), true, blocked), dst = activation(dst_dims(g), false, blocked);
    const auto desc = bias ? dnnl::convolution_forward::desc(kind, algo, src, any(weight_dims(g)),
                                                             plain({g.out_channels}), dst, strides, left, right)
                           : dnnl::convolution_forward::desc(kind, algo, src, any(weight_dims(g)), dst, strides, left, right);
    dnnl::primitive_attr attr = user_scratchpad();
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
    require_optimised(pd);
    return std::make_shared<Forward>(Forward{dnnl::convolution_forward(pd), pd.scratchpad_desc(),
                                             Port(plain(src_dims(g)), pd.src_desc(), true),
                                             Port(plain(weight_dims(g)), pd.weights_desc(), true),
                                             Port(plain(dst_dims(g)), pd.dst_desc(), false)});
  });
}

std::shared_ptr<BackwardData> backward_data_primitive(const Conv2dGeometry& g, Algorithm algorithm) {
  static std::map<Key, std::shared_ptr<BackwardData>> cache;
  const Dims strides{g.stride_h, g.stride_w}, left{g.pad_h, g.pad_w}, right = right_padding(g);
  return cached_primitive(cache, key_of(g, false, false, algorithm), [&](bool blocked) {
    const auto algo = dnnl_algorithm(algorithm);
    const memory::desc src = activation(src_dims(g), false, blocked), dst = activation(dst_dims(g), false, blocked);
    // oneDNN's backward primitives take the forward's description as a hint.
    const dnnl::convolution_forward::primitive_desc hint(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src, any(weight_dims(g)), dst,
                                        strides, left, right),
        cpu_engine());
    const dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(algo, src, any(weight_dims(g)), dst, strides, left, right),
        user_scratchpad(), cpu_engine(), hint);
    require_optimised(pd);
    return std::make_shared<BackwardData>(BackwardData{
        dnnl::convolution_backward_data(pd), pd.scratchpad_desc(), Port(plain(dst_dims(g)), pd.diff_dst_desc(), true),
        Port(plain(weight_dims(g)), pd.weights_desc(), true), Port(plain(src_dims(g)), pd.diff_src_desc(), false)});
  });
}

}  // namespace

bool available() { return true; }

namespace {

// The batch in chunks of images handed out dynamically to the OpenMP threads,
// about four per thread, oneDNN single-threaded in each (it runs sequentially
// inside a parallel region): on a machine shared with other processes a
// thread that lost its core does not hold the others at the end of oneDNN's
// static split, as it did with one call on all threads. A batch of fewer than
// two images per thread runs as one chunk on all threads.
int64_t chunk_size(int64_t batch) {
  const int64_t threads = omp_get_max_threads();
  if (threads == 1 || batch < 2 * threads) return batch;
  return (batch + 4 * threads - 1) / (4 * threads);
}

Conv2dGeometry with_batch(Conv2dGeometry g, int64_t batch) {
  g.batch = batch;
  return g;
}

// Calls run(first, count, primitive, weight memory) for every chunk; the
// primitives of the chunk sizes come from make(geometry), built (and their
// weights reordered, once) before the threads start. False when oneDNN has no
// implementation.
template <class P, class Make, class Run>
bool for_each_chunk(const Conv2dGeometry& g, const float* weight, Make&& make, Run&& run) {
  const int64_t chunk = chunk_size(g.batch), rest = g.batch % chunk, chunks = (g.batch + chunk - 1) / chunk;
  const std::shared_ptr<P> main = make(with_batch(g, chunk)), last = rest ? make(with_batch(g, rest)) : main;
  if (!main || !last) return false;
  dnnl::stream s(cpu_engine());
  const memory main_weight = main->weight.input(s, weight, kWeight);
  const memory last_weight = rest ? last->weight.input(s, weight, kRestWeight) : main_weight;
  s.wait();
  if (chunks == 1) {
    run(0, g.batch, *main, main_weight);
    return true;
  }
  std::string failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t first = c * chunk, count = std::min(chunk, g.batch - first);
    try {
      run(first, count, count == chunk ? *main : *last, count == chunk ? main_weight : last_weight);
    } catch (const std::exception& e) {
#pragma omp critical(differnet_onednn_failure)
      failure = e.what();
    }
  }
  if (!failure.empty()) throw Error(detail::concat("oneDNN convolution: ", failure));
  return true;
}

void run_forward(const Conv2dGeometry& g, const float* x, const memory& w, const float* bias, float* y,
                 const Forward& f) {
  dnnl::stream s(cpu_engine());
  const memory src = f.src.input(s, x, kSrc), dst = f.dst.output(y, kDst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                       {DNNL_ARG_WEIGHTS, w},
                                       {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_SCRATCHPAD, scratchpad(f.scratch, kConvScratch)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(plain({g.out_channels}), cpu_engine(), const_cast<float*>(bias)));
  f.primitive.execute(s, args);
  f.dst.finish(s, dst, y);
  s.wait();
}

void run_backward_data(const float* gy, const memory& w, float* gx, const BackwardData& b) {
  dnnl::stream s(cpu_engine());
  const memory diff_dst = b.diff_dst.input(s, gy, kSrc), diff_src = b.diff_src.output(gx, kDst);
  b.primitive.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst},
                          {DNNL_ARG_WEIGHTS, w},
                          {DNNL_ARG_DIFF_SRC, diff_src},
                          {DNNL_ARG_SCRATCHPAD, scratchpad(b.scratch, kConvScratch)}});
  b.diff_src.finish(s, diff_src, gx);
  s.wait();
}

// A strided convolution of an input with few channels (AlexNet's first layer:
// 3 channels, 11x11, stride 4) fits oneDNN's kernels badly: they vectorise
// over channels, 3 of 16 lanes busy (its backward-data took 2.5-3x the time
// of im2col). Such a layer is rewritten as a stride-1 convolution without
// padding over the space-to-depth input: channel (c, ph, pw) of z holds
// x[c, sh*j + ph - pad_h, sw*i + pw - pad_w] (0 outside x) at (j, i), and the
// kernel w'[o, (c, ph, pw), qh, qw] = w[o, c, sh*qh + ph, sw*qw + pw] (0 past
// the kernel) is ceil(k / s) wide: the same products, plus zero ones (11x11
// becomes 3x3 over 48 channels, 1.19x the multiply-adds).
bool space_to_depth(const Conv2dGeometry& g) {
  return (g.stride_h > 1 || g.stride_w > 1) && g.in_channels < 16 && g.in_channels * g.stride_h * g.stride_w <= 64;
}

Conv2dGeometry depth_geometry(const Conv2dGeometry& g) {
  Conv2dGeometry d = g;
  d.in_channels = g.in_channels * g.stride_h * g.stride_w;
  d.kernel_h = (g.kernel_h + g.stride_h - 1) / g.stride_h;
  d.kernel_w = (g.kernel_w + g.stride_w - 1) / g.stride_w;
  d.stride_h = d.stride_w = 1;
  d.pad_h = d.pad_w = 0;
  d.in_h = g.out_h + d.kernel_h - 1;
  d.in_w = g.out_w + d.kernel_w - 1;
  return d;
}

// w' of space_to_depth, in a buffer of the calling thread.
const float* depth_weight(const Conv2dGeometry& g, const Conv2dGeometry& d, const float* w) {
  float* out = thread_buffer(kDepthWeight, size_t(d.out_channels * d.col_rows()) * sizeof(float));
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int64_t ph = 0; ph < g.stride_h; ++ph)
        for (int64_t pw = 0; pw < g.stride_w; ++pw)
          for (int64_t qh = 0; qh < d.kernel_h; ++qh)
            for (int64_t qw = 0; qw < d.kernel_w; ++qw) {
              const int64_t kh = qh * g.stride_h + ph, kw = qw * g.stride_w + pw;
              const int64_t cd = (c * g.stride_h + ph) * g.stride_w + pw;
              out[((o * d.in_channels + cd) * d.kernel_h + qh) * d.kernel_w + qw] =
                  kh < g.kernel_h && kw < g.kernel_w ? w[((o * g.in_channels + c) * g.kernel_h + kh) * g.kernel_w + kw]
                                                     : 0.0f;
            }
  return out;
}

// Calls f(image of the chunk, channel of x, row of x or -1 when outside,
// channel of z, row of z) for every row of z of images [0, count); the
// columns map as iw = sw * i + pw - pad_w. Called by one thread per chunk.
template <class F>
void for_each_depth_row(const Conv2dGeometry& g, const Conv2dGeometry& d, int64_t count, F&& f) {
  for (int64_t n = 0; n < count; ++n)
    for (int64_t cd = 0; cd < d.in_channels; ++cd) {
      const int64_t c = cd / (g.stride_h * g.stride_w), ph = cd / g.stride_w % g.stride_h;
      for (int64_t j = 0; j < d.in_h; ++j) {
        const int64_t ih = j * g.stride_h + ph - g.pad_h;
        f(n, c, ih >= 0 && ih < g.in_h ? ih : -1, cd, j);
      }
    }
}

}  // namespace

bool conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y, bool relu,
            Algorithm algorithm) {
  if (g.batch <= 0) return false;  // oneDNN takes no empty tensors: the reference does nothing
  if (algorithm == Algorithm::Winograd && space_to_depth(g)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto make = [&](const Conv2dGeometry& c) { return forward_primitive(c, relu, bias != nullptr, algorithm); };
  const int64_t x_image = g.in_channels * g.in_plane(), y_image = g.out_channels * g.out_plane();
  if (!space_to_depth(g))
    return for_each_chunk<Forward>(g, weight, make, [&](int64_t first, int64_t count, const Forward& f, const memory& w) {
      run_forward(with_batch(g, count), x + first * x_image, w, bias, y + first * y_image, f);
    });
  const Conv2dGeometry d = depth_geometry(g);
  return for_each_chunk<Forward>(d, depth_weight(g, d, weight), make,
                                 [&](int64_t first, int64_t count, const Forward& f, const memory& w) {
    float* z = thread_buffer(kDepthInput, size_t(count * d.in_channels * d.in_plane()) * sizeof(float));
    for_each_depth_row(g, d, count, [&](int64_t n, int64_t c, int64_t ih, int64_t cd, int64_t j) {
      float* row = z + ((n * d.in_channels + cd) * d.in_h + j) * d.in_w;
      const float* src = ih < 0 ? nullptr : x + ((first + n) * g.in_channels + c) * g.in_plane() + ih * g.in_w;
      const int64_t pw = cd % g.stride_w;
      for (int64_t i = 0; i < d.in_w; ++i) {
        const int64_t iw = i * g.stride_w + pw - g.pad_w;
        row[i] = src && iw >= 0 && iw < g.in_w ? src[iw] : 0.0f;
      }
    });
    run_forward(with_batch(d, count), z, w, bias, y + first * y_image, f);
  });
}

bool conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx, Algorithm algorithm) {
  if (g.batch <= 0) return false;
  if (algorithm == Algorithm::Winograd && space_to_depth(g)) return false;
  std::lock_guard<std::mutex> lock(cache_mutex());
  const auto make = [&](const Conv2dGeometry& c) { return backward_data_primitive(c, algorithm); };
  const int64_t x_image = g.in_channels * g.in_plane(), y_image = g.out_channels * g.out_plane();
  if (!space_to_depth(g))
    return for_each_chunk<BackwardData>(g, weight, make,
                                        [&](int64_t first, int64_t, const BackwardData& b, const memory& w) {
      run_backward_data(gy + first * y_image, w, gx + first * x_image, b);
    });
  const Conv2dGeometry d = depth_geometry(g);
  return for_each_chunk<BackwardData>(d, depth_weight(g, d, weight), make,
                                      [&](int64_t first, int64_t count, const BackwardData& b, const memory& w) {
    float* gz = thread_buffer(kDepthInput, size_t(count * d.in_channels * d.in_plane()) * sizeof(float));
    run_backward_data(gy + first * y_image, w, gz, b);
    // gx is z's adjoint: every element of x appears in z at most once (input
    // pixels no output reads, past z's end, get 0).
    float* gx_chunk = gx + first * x_image;
    std::fill(gx_chunk, gx_chunk + count * x_image, 0.0f);
    for_each_depth_row(g, d, count, [&](int64_t n, int64_t c, int64_t ih, int64_t cd, int64_t j) {
      if (ih < 0) return;
      const float* row = gz + ((n * d.in_channels + cd) * d.in_h + j) * d.in_w;
      float* dst = gx_chunk + (n * g.in_channels + c) * g.in_plane() + ih * g.in_w;
      const int64_t pw = cd % g.stride_w;
      for (int64_t i = 0; i < d.in_w; ++i) {
        const int64_t iw = i * g.stride_w + pw - g.pad_w;
        if (iw >= 0 && iw < g.in_w) dst[iw] = row[i];
      }
    });
  });
}

#else  // built without oneDNN

bool available() { return false; }

bool conv2d(const Conv2dGeometry&, const float*, const float*, const float*, float*, bool, Algorithm) {
  throw Error("oneDNN convolution: this build has no oneDNN (configure with libdnnl-dev installed)");
}

bool conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*, Algorithm) {
  throw Error("oneDNN convolution: this build has no oneDNN (configure with libdnnl-dev installed)");
}

#endif

}  // namespace differnet::kernels::cpu::onednn
