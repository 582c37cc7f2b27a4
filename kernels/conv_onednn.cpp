// oneDNN convolutions (conv_onednn.h). Each geometry gets its primitive once
// (oneDNN JIT-compiles it), with "any" layouts so that oneDNN picks its
// blocked ones (nChw16c activations, blocked weights: what its AVX-512 direct
// convolutions want); our NCHW tensors are reordered into them and the result
// back, through buffers kept per thread. The reorders are memory-bound passes
// of the activations, a few percent of a convolution's time.
#include "kernels/conv_onednn.h"

#include "autograd/error.h"
#include "kernels/sgemm_avx512.h"

#if DIFFERNET_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

// A 64-byte aligned buffer per thread and role, grown on demand (0-2: the
// reorders of Port, 3: the space-to-depth input, 4: its weight).
float* thread_buffer(int role, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[5];
  Buffer& b = buffers[role];
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

// One tensor between our NCHW memory and the primitive's layout: the reorder
// when the two differ.
struct Port {
  memory::desc user, inside;
  std::optional<dnnl::reorder> to_inside, to_user;

  Port(const memory::desc& user_desc, const memory::desc& inside_desc, bool input) : user(user_desc), inside(inside_desc) {
    if (user == inside) return;
    if (input)
      to_inside = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), user, cpu_engine(), inside));
    else
      to_user = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), inside, cpu_engine(), user));
  }
  // The primitive's memory for our input `data` (reordered into buffer `role` when needed).
  memory input(dnnl::stream& s, const float* data, int role) const {
    memory mine(user, cpu_engine(), const_cast<float*>(data));
    if (!to_inside) return mine;
    memory theirs(inside, cpu_engine(), thread_buffer(role, inside.get_size()));
    to_inside->execute(s, mine, theirs);
    return theirs;
  }
  // The primitive's memory for our output `data`; finish() moves it there.
  memory output(float* data, int role) const {
    return to_user ? memory(inside, cpu_engine(), thread_buffer(role, inside.get_size()))
                   : memory(user, cpu_engine(), data);
  }
  void finish(dnnl::stream& s, memory theirs, float* data) const {
    if (!to_user) return;
    memory mine(user, cpu_engine(), data);
    to_user->execute(s, theirs, mine);
  }
};

struct Forward {
  dnnl::convolution_forward primitive;
  Port src, weight, dst;
  bool bias;
};
struct BackwardData {
  dnnl::convolution_backward_data primitive;
  Port diff_dst, weight, diff_src;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       bool, bool>;
Key key_of(const Conv2dGeometry& g, bool relu, bool bias) {
  return {g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
          g.stride_h, g.stride_w, g.pad_h, g.pad_w, relu, bias};
}

// Primitives by geometry, built on first use; nullptr where oneDNN has no
// implementation. One mutex for the lookups and the runs: a primitive's
// scratch and our per-thread buffers are safe to share this way, and the
// convolutions use all threads anyway.
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

std::shared_ptr<Forward> forward_primitive(const Conv2dGeometry& g, bool relu, bool bias) {
  static std::map<Key, std::shared_ptr<Forward>> cache;
  const Key key = key_of(g, relu, bias);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const Dims strides{g.stride_h, g.stride_w}, left{g.pad_h, g.pad_w}, right = right_padding(g);
  std::shared_ptr<Forward> made;
  try {
    made = first_optimised([&](bool blocked) {
      const auto kind = dnnl::prop_kind::forward_inference;
      const auto algo = dnnl::algorithm::convolution_direct;
      const memory::desc src = activation(src_dims(g), true, blocked), dst = activation(dst_dims(g), false, blocked);
      const auto desc = bias ? dnnl::convolution_forward::desc(kind, algo, src, any(weight_dims(g)),
                                                               plain({g.out_channels}), dst, strides, left, right)
                             : dnnl::convolution_forward::desc(kind, algo, src, any(weight_dims(g)), dst, strides, left, right);
      dnnl::primitive_attr attr;
      if (relu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        attr.set_post_ops(ops);
      }
      const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
      require_optimised(pd);
      return std::make_shared<Forward>(Forward{dnnl::convolution_forward(pd), Port(plain(src_dims(g)), pd.src_desc(), true),
                                               Port(plain(weight_dims(g)), pd.weights_desc(), true),
                                               Port(plain(dst_dims(g)), pd.dst_desc(), false), bias});
    });
  } catch (const dnnl::error&) {
    made = nullptr;  // no optimised implementation for this geometry: the reference runs it
  }
  cache.emplace(key, made);
  return made;
}

std::shared_ptr<BackwardData> backward_data_primitive(const Conv2dGeometry& g) {
  static std::map<Key, std::shared_ptr<BackwardData>> cache;
  const Key key = key_of(g, false, false);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const Dims strides{g.stride_h, g.stride_w}, left{g.pad_h, g.pad_w}, right = right_padding(g);
  std::shared_ptr<BackwardData> made;
  try {
    made = first_optimised([&](bool blocked) {
      const auto algo = dnnl::algorithm::convolution_direct;
      const memory::desc src = activation(src_dims(g), false, blocked), dst = activation(dst_dims(g), false, blocked);
      // oneDNN's backward primitives take the forward's description as a hint.
      const dnnl::convolution_forward::primitive_desc hint(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src, any(weight_dims(g)), dst,
                                          strides, left, right),
          cpu_engine());
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(algo, src, any(weight_dims(g)), dst, strides, left, right), cpu_engine(),
          hint);
      require_optimised(pd);
      return std::make_shared<BackwardData>(BackwardData{
          dnnl::convolution_backward_data(pd), Port(plain(dst_dims(g)), pd.diff_dst_desc(), true),
          Port(plain(weight_dims(g)), pd.weights_desc(), true), Port(plain(src_dims(g)), pd.diff_src_desc(), false)});
    });
  } catch (const dnnl::error&) {
    made = nullptr;
  }
  cache.emplace(key, made);
  return made;
}

}  // namespace

bool available() { return true; }

namespace {

void run_forward(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y,
                 const Forward& f) {
  dnnl::stream s(cpu_engine());
  const memory src = f.src.input(s, x, 0), w = f.weight.input(s, weight, 1), dst = f.dst.output(y, 2);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(plain({g.out_channels}), cpu_engine(), const_cast<float*>(bias)));
  f.primitive.execute(s, args);
  f.dst.finish(s, dst, y);
  s.wait();
}

void run_backward_data(const float* gy, const float* weight, float* gx, const BackwardData& b) {
  dnnl::stream s(cpu_engine());
  const memory diff_dst = b.diff_dst.input(s, gy, 0), w = b.weight.input(s, weight, 1), diff_src = b.diff_src.output(gx, 2);
  b.primitive.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, diff_src}});
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

// w' of space_to_depth, into buffer `role`.
const float* depth_weight(const Conv2dGeometry& g, const Conv2dGeometry& d, const float* w, int role) {
  float* out = thread_buffer(role, size_t(d.out_channels * d.col_rows()) * sizeof(float));
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

// Calls f(image, channel of x, row of x or -1 when outside, channel of z,
// row of z) for every row of z; the columns map as iw = sw * i + pw - pad_w.
template <class F>
void for_each_depth_row(const Conv2dGeometry& g, const Conv2dGeometry& d, F&& f) {
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t cd = 0; cd < d.in_channels; ++cd) {
      const int64_t c = cd / (g.stride_h * g.stride_w), ph = cd / g.stride_w % g.stride_h;
      for (int64_t j = 0; j < d.in_h; ++j) {
        const int64_t ih = j * g.stride_h + ph - g.pad_h;
        f(n, c, ih >= 0 && ih < g.in_h ? ih : -1, cd, j);
      }
    }
}

}  // namespace

bool conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y, bool relu) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  if (!space_to_depth(g)) {
    const std::shared_ptr<Forward> f = forward_primitive(g, relu, bias != nullptr);
    if (!f) return false;
    run_forward(g, x, weight, bias, y, *f);
    return true;
  }
  const Conv2dGeometry d = depth_geometry(g);
  const std::shared_ptr<Forward> f = forward_primitive(d, relu, bias != nullptr);
  if (!f) return false;
  float* z = thread_buffer(3, size_t(d.batch * d.in_channels * d.in_plane()) * sizeof(float));
  for_each_depth_row(g, d, [&](int64_t n, int64_t c, int64_t ih, int64_t cd, int64_t j) {
    float* row = z + ((n * d.in_channels + cd) * d.in_h + j) * d.in_w;
    const float* src = ih < 0 ? nullptr : x + ((n * g.in_channels + c) * g.in_h + ih) * g.in_w;
    const int64_t pw = cd % g.stride_w;
    for (int64_t i = 0; i < d.in_w; ++i) {
      const int64_t iw = i * g.stride_w + pw - g.pad_w;
      row[i] = src && iw >= 0 && iw < g.in_w ? src[iw] : 0.0f;
    }
  });
  run_forward(d, z, depth_weight(g, d, weight, 4), bias, y, *f);
  return true;
}

bool conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  if (!space_to_depth(g)) {
    const std::shared_ptr<BackwardData> b = backward_data_primitive(g);
    if (!b) return false;
    run_backward_data(gy, weight, gx, *b);
    return true;
  }
  const Conv2dGeometry d = depth_geometry(g);
  const std::shared_ptr<BackwardData> b = backward_data_primitive(d);
  if (!b) return false;
  float* gz = thread_buffer(3, size_t(d.batch * d.in_channels * d.in_plane()) * sizeof(float));
  run_backward_data(gy, depth_weight(g, d, weight, 4), gz, *b);
  // gx is z's adjoint: every element of x appears in z at most once (input
  // pixels no output reads, past z's end, get 0).
  std::fill(gx, gx + g.batch * g.in_channels * g.in_plane(), 0.0f);
  for_each_depth_row(g, d, [&](int64_t n, int64_t c, int64_t ih, int64_t cd, int64_t j) {
    if (ih < 0) return;
    const float* row = gz + ((n * d.in_channels + cd) * d.in_h + j) * d.in_w;
    float* dst = gx + ((n * g.in_channels + c) * g.in_h + ih) * g.in_w;
    const int64_t pw = cd % g.stride_w;
    for (int64_t i = 0; i < d.in_w; ++i) {
      const int64_t iw = i * g.stride_w + pw - g.pad_w;
      if (iw >= 0 && iw < g.in_w) dst[iw] = row[i];
    }
  });
  return true;
}

#else  // built without oneDNN

bool available() { return false; }

bool conv2d(const Conv2dGeometry&, const float*, const float*, const float*, float*, bool) {
  throw Error("oneDNN convolution: this build has no oneDNN (configure with libdnnl-dev installed)");
}

bool conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*) {
  throw Error("oneDNN convolution: this build has no oneDNN (configure with libdnnl-dev installed)");
}

#endif

}  // namespace differnet::kernels::cpu::onednn
