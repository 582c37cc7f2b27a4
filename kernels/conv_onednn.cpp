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

// A 64-byte aligned buffer per thread and role, grown on demand.
float* thread_buffer(int role, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[3];
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

bool conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y, bool relu) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  const std::shared_ptr<Forward> f = forward_primitive(g, relu, bias != nullptr);
  if (!f) return false;
  dnnl::stream s(cpu_engine());
  const memory src = f->src.input(s, x, 0), w = f->weight.input(s, weight, 1), dst = f->dst.output(y, 2);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(plain({g.out_channels}), cpu_engine(), const_cast<float*>(bias)));
  f->primitive.execute(s, args);
  f->dst.finish(s, dst, y);
  s.wait();
  return true;
}

bool conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  const std::shared_ptr<BackwardData> b = backward_data_primitive(g);
  if (!b) return false;
  dnnl::stream s(cpu_engine());
  const memory diff_dst = b->diff_dst.input(s, gy, 0), w = b->weight.input(s, weight, 1),
               diff_src = b->diff_src.output(gx, 2);
  b->primitive.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, diff_src}});
  b->diff_src.finish(s, diff_src, gx);
  s.wait();
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
