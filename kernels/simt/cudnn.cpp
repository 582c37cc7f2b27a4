// cuDNN stand-in of the SIMT emulator: 4-D NCHW float32 descriptors and the
// 2-D convolution calls, from the cuDNN documentation's definitions
// (cross-correlation or convolution, padding, stride, dilation; out =
// alpha * result + beta * out, out not read when beta == 0), written
// independently of our im2col/GEMM CPU convolution. Sums are kept in double.
//
// Find*AlgorithmEx report two algorithms, the "fastest" one needing a
// workspace, and fill the output they were given with NaN as the real search
// may overwrite it; the convolution calls check that the workspace passed is
// device memory of the size the algorithm needs.
#include <cudnn.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/simt/simt.h"

struct cudnnContext {};
struct cudnnTensorStruct {
  int n = 0, c = 0, h = 0, w = 0;
  bool set = false;
  size_t count() const { return size_t(n) * c * h * w; }
};
struct cudnnFilterStruct {
  int k = 0, c = 0, h = 0, w = 0;
  bool set = false;
  size_t count() const { return size_t(k) * c * h * w; }
};
struct cudnnConvolutionStruct {
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool set = false;
};

using namespace differnet::simt;

namespace {

cudnnStatus_t bad(const std::string& what, cudnnStatus_t status = CUDNN_STATUS_BAD_PARAM) {
  report(what);
  return status;
}

// The shapes of one convolution, checked against each other.
struct Geometry {
  int N, C, H, W, K, R, S, P, Q;  // input N C H W, filter K C R S, output N K P Q
  const cudnnConvolutionStruct* conv;
  size_t workspace_need() const { return sizeof(float) * size_t(C) * R * S * P * Q; }  // one image's im2col
};

cudnnStatus_t geometry(const char* call, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                       const cudnnConvolutionStruct* conv, const cudnnTensorStruct* y, Geometry& g) {
  if (!x || !w || !conv || !y || !x->set || !w->set || !conv->set || !y->set)
    return bad(std::string(call) + ": a descriptor is null or was never set");
  if (x->c != w->c) return bad(std::string(call) + ": input channels differ between the tensor and the filter");
  const int eff_h = (w->h - 1) * conv->dil_h + 1, eff_w = (w->w - 1) * conv->dil_w + 1;
  const int p = 1 + (x->h + 2 * conv->pad_h - eff_h) / conv->u, q = 1 + (x->w + 2 * conv->pad_w - eff_w) / conv->v;
  if (x->h + 2 * conv->pad_h < eff_h || x->w + 2 * conv->pad_w < eff_w)
    return bad(std::string(call) + ": the filter is larger than the padded input");
  if (y->n != x->n || y->c != w->k || y->h != p || y->w != q)
    return bad(std::string(call) + ": the output descriptor is " + std::to_string(y->n) + "x" + std::to_string(y->c) +
               "x" + std::to_string(y->h) + "x" + std::to_string(y->w) + ", the convolution gives " +
               std::to_string(x->n) + "x" + std::to_string(w->k) + "x" + std::to_string(p) + "x" + std::to_string(q));
  g = {x->n, x->c, x->h, x->w, w->k, w->h, w->w, p, q, conv};
  return CUDNN_STATUS_SUCCESS;
}

bool device_span(DeviceAccess& access, const char* call, const char* name, const void* p, size_t bytes) {
  std::string why;
  if (access.open(p, bytes, &why)) return true;
  report(std::string(call) + ": " + name + " (" + std::to_string(bytes) + " bytes) " + why);
  return false;
}

cudnnStatus_t check_memory(DeviceAccess& access, const char* call, const Geometry& g, const void* x, const void* w,
                           const void* y) {
  if (!device_span(access, call, "the input", x, sizeof(float) * size_t(g.N) * g.C * g.H * g.W) ||
      !device_span(access, call, "the filter", w, sizeof(float) * size_t(g.K) * g.C * g.R * g.S) ||
      !device_span(access, call, "the output", y, sizeof(float) * size_t(g.N) * g.K * g.P * g.Q))
    return CUDNN_STATUS_EXECUTION_FAILED;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t check_workspace(DeviceAccess& access, const char* call, size_t need, const void* workspace,
                              size_t bytes) {
  if (bytes < need)
    return bad(std::string(call) + ": the algorithm needs " + std::to_string(need) + " bytes of workspace, got " +
               std::to_string(bytes));
  if (bytes > 0 && !device_span(access, call, "the workspace", workspace, bytes)) return CUDNN_STATUS_EXECUTION_FAILED;
  return CUDNN_STATUS_SUCCESS;
}

// The filter tap (r, s) meets input row oh * u - pad + r * dil; convolution mode flips the filter.
int tap(const Geometry& g, int r, int extent) { return g.conv->mode == CUDNN_CONVOLUTION ? extent - 1 - r : r; }

void blend(float* out, const std::vector<double>& result, double alpha, double beta) {
  for (size_t i = 0; i < result.size(); ++i)
    out[i] = float(alpha * result[i] + (beta != 0.0 ? beta * double(out[i]) : 0.0));
}

double scalar(const void* p) { return double(*static_cast<const float*>(p)); }

template <class Perf, class Algo>
void report_algorithms(Perf* results, int requested, int* returned, Algo with_workspace, Algo without, size_t need,
                       size_t available, cudnnMathType_t math) {
  const Perf fits{with_workspace, need <= available ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED, 1.f, need,
                  CUDNN_DETERMINISTIC, math, {}};
  const Perf plain{without, CUDNN_STATUS_SUCCESS, 2.f, 0, CUDNN_DETERMINISTIC, math, {}};
  *returned = 0;
  if (requested > 0) results[(*returned)++] = fits;
  if (requested > 1) results[(*returned)++] = plain;
}

size_t fwd_need(const Geometry& g, cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM ? g.workspace_need() : 0;
}
size_t data_need(const Geometry& g, cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 ? g.workspace_need() : 0;
}
size_t filter_need(const Geometry& g, cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ? g.workspace_need() : 0;
}

void nan_fill(void* p, size_t bytes) { std::fill_n(static_cast<unsigned char*>(p), bytes, 0xFF); }

void forward(const Geometry& g, double alpha, const float* x, const float* w, double beta, float* y) {
  const auto& c = *g.conv;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k) {
      std::vector<double> out(size_t(g.P) * g.Q, 0.0);
      for (int ch = 0; ch < g.C; ++ch)
        for (int r = 0; r < g.R; ++r)
          for (int s = 0; s < g.S; ++s) {
            const double wv = w[((size_t(k) * g.C + ch) * g.R + tap(g, r, g.R)) * g.S + tap(g, s, g.S)];
            for (int p = 0; p < g.P; ++p) {
              const int h = p * c.u - c.pad_h + r * c.dil_h;
              if (h < 0 || h >= g.H) continue;
              const float* xrow = x + ((size_t(n) * g.C + ch) * g.H + h) * g.W;
              for (int q = 0; q < g.Q; ++q) {
                const int wi = q * c.v - c.pad_w + s * c.dil_w;
                if (wi >= 0 && wi < g.W) out[size_t(p) * g.Q + q] += wv * xrow[wi];
              }
            }
          }
      blend(y + (size_t(n) * g.K + k) * g.P * g.Q, out, alpha, beta);
    }
}

void backward_data(const Geometry& g, double alpha, const float* w, const float* dy, double beta, float* dx) {
  const auto& c = *g.conv;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int ch = 0; ch < g.C; ++ch) {
      std::vector<double> out(size_t(g.H) * g.W, 0.0);
      for (int k = 0; k < g.K; ++k)
        for (int r = 0; r < g.R; ++r)
          for (int s = 0; s < g.S; ++s) {
            const double wv = w[((size_t(k) * g.C + ch) * g.R + tap(g, r, g.R)) * g.S + tap(g, s, g.S)];
            for (int p = 0; p < g.P; ++p) {
              const int h = p * c.u - c.pad_h + r * c.dil_h;
              if (h < 0 || h >= g.H) continue;
              const float* dyrow = dy + ((size_t(n) * g.K + k) * g.P + p) * g.Q;
              for (int q = 0; q < g.Q; ++q) {
                const int wi = q * c.v - c.pad_w + s * c.dil_w;
                if (wi >= 0 && wi < g.W) out[size_t(h) * g.W + wi] += wv * dyrow[q];
              }
            }
          }
      blend(dx + (size_t(n) * g.C + ch) * g.H * g.W, out, alpha, beta);
    }
}

void backward_filter(const Geometry& g, double alpha, const float* x, const float* dy, double beta, float* dw) {
  const auto& c = *g.conv;
#pragma omp parallel for collapse(2) schedule(static)
  for (int k = 0; k < g.K; ++k)
    for (int ch = 0; ch < g.C; ++ch) {
      std::vector<double> out(size_t(g.R) * g.S, 0.0);
      for (int n = 0; n < g.N; ++n)
        for (int r = 0; r < g.R; ++r)
          for (int s = 0; s < g.S; ++s) {
            double acc = 0.0;
            for (int p = 0; p < g.P; ++p) {
              const int h = p * c.u - c.pad_h + r * c.dil_h;
              if (h < 0 || h >= g.H) continue;
              const float* xrow = x + ((size_t(n) * g.C + ch) * g.H + h) * g.W;
              const float* dyrow = dy + ((size_t(n) * g.K + k) * g.P + p) * g.Q;
              for (int q = 0; q < g.Q; ++q) {
                const int wi = q * c.v - c.pad_w + s * c.dil_w;
                if (wi >= 0 && wi < g.W) acc += double(xrow[wi]) * dyrow[q];
              }
            }
            out[size_t(tap(g, r, g.R)) * g.S + tap(g, s, g.S)] += acc;
          }
      blend(dw + (size_t(k) * g.C + ch) * g.R * g.S, out, alpha, beta);
    }
}

}  // namespace

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  *handle = new cudnnContext();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* desc) {
  *desc = new cudnnTensorStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t desc) {
  delete desc;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t desc, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  if (!desc || n <= 0 || c <= 0 || h <= 0 || w <= 0)
    return bad("cudnnSetTensor4dDescriptor: every dimension must be positive");
  if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT)
    return bad("cudnnSetTensor4dDescriptor: the emulator has NCHW float32 only", CUDNN_STATUS_NOT_SUPPORTED);
  *desc = {n, c, h, w, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* desc) {
  *desc = new cudnnFilterStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t desc) {
  delete desc;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t desc, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  if (!desc || k <= 0 || c <= 0 || h <= 0 || w <= 0)
    return bad("cudnnSetFilter4dDescriptor: every dimension must be positive");
  if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT)
    return bad("cudnnSetFilter4dDescriptor: the emulator has NCHW float32 only", CUDNN_STATUS_NOT_SUPPORTED);
  *desc = {k, c, h, w, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* desc) {
  *desc = new cudnnConvolutionStruct();
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t desc) {
  delete desc;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t desc, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute_type) {
  if (!desc || pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0 ||
      (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
    return bad("cudnnSetConvolution2dDescriptor: negative padding or non-positive stride or dilation");
  if (compute_type != CUDNN_DATA_FLOAT)
    return bad("cudnnSetConvolution2dDescriptor: the emulator computes in float32 only", CUDNN_STATUS_NOT_SUPPORTED);
  desc->pad_h = pad_h, desc->pad_w = pad_w, desc->u = u, desc->v = v, desc->dil_h = dilation_h,
  desc->dil_w = dilation_w, desc->mode = mode, desc->set = true;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t desc, cudnnMathType_t math_type) {
  if (!desc || math_type < CUDNN_DEFAULT_MATH || math_type > CUDNN_FMA_MATH)
    return bad("cudnnSetConvolutionMathType: unknown math type");
  desc->math = math_type;  // the emulator computes in full precision whatever the type
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc,
                                                     const void* x, cudnnFilterDescriptor_t w_desc, const void* w,
                                                     cudnnConvolutionDescriptor_t conv_desc,
                                                     cudnnTensorDescriptor_t y_desc, void* y, int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* results,
                                                     void* workspace, size_t workspace_bytes) {
  const char* call = "cudnnFindConvolutionForwardAlgorithmEx";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, x_desc, w_desc, conv_desc, y_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, x, w, y)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, 0, workspace, workspace_bytes)) return st;
  nan_fill(y, sizeof(float) * y_desc->count());
  report_algorithms(results, requested, returned, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, g.workspace_need(), workspace_bytes, conv_desc->math);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t handle, cudnnFilterDescriptor_t w_desc,
                                                          const void* w, cudnnTensorDescriptor_t dy_desc,
                                                          const void* dy, cudnnConvolutionDescriptor_t conv_desc,
                                                          cudnnTensorDescriptor_t dx_desc, void* dx, int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* results,
                                                          void* workspace, size_t workspace_bytes) {
  const char* call = "cudnnFindConvolutionBackwardDataAlgorithmEx";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, dx_desc, w_desc, conv_desc, dy_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, dx, w, dy)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, 0, workspace, workspace_bytes)) return st;
  nan_fill(dx, sizeof(float) * dx_desc->count());
  report_algorithms(results, requested, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
                    g.workspace_need(), workspace_bytes, conv_desc->math);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc, const void* x, cudnnTensorDescriptor_t dy_desc,
    const void* dy, cudnnConvolutionDescriptor_t conv_desc, cudnnFilterDescriptor_t dw_desc, void* dw, int requested,
    int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* results, void* workspace, size_t workspace_bytes) {
  const char* call = "cudnnFindConvolutionBackwardFilterAlgorithmEx";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, x_desc, dw_desc, conv_desc, dy_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, x, dw, dy)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, 0, workspace, workspace_bytes)) return st;
  nan_fill(dw, sizeof(float) * dw_desc->count());
  report_algorithms(results, requested, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, g.workspace_need(), workspace_bytes, conv_desc->math);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t x_desc,
                                      const void* x, cudnnFilterDescriptor_t w_desc, const void* w,
                                      cudnnConvolutionDescriptor_t conv_desc, cudnnConvolutionFwdAlgo_t algo,
                                      void* workspace, size_t workspace_bytes, const void* beta,
                                      cudnnTensorDescriptor_t y_desc, void* y) {
  const char* call = "cudnnConvolutionForward";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, x_desc, w_desc, conv_desc, y_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, x, w, y)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, fwd_need(g, algo), workspace, workspace_bytes)) return st;
  if (workspace_bytes) nan_fill(workspace, workspace_bytes);
  forward(g, scalar(alpha), static_cast<const float*>(x), static_cast<const float*>(w), scalar(beta),
          static_cast<float*>(y));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, cudnnFilterDescriptor_t w_desc,
                                           const void* w, cudnnTensorDescriptor_t dy_desc, const void* dy,
                                           cudnnConvolutionDescriptor_t conv_desc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workspace,
                                           size_t workspace_bytes, const void* beta, cudnnTensorDescriptor_t dx_desc,
                                           void* dx) {
  const char* call = "cudnnConvolutionBackwardData";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, dx_desc, w_desc, conv_desc, dy_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, dx, w, dy)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, data_need(g, algo), workspace, workspace_bytes)) return st;
  if (workspace_bytes) nan_fill(workspace, workspace_bytes);
  backward_data(g, scalar(alpha), static_cast<const float*>(w), static_cast<const float*>(dy), scalar(beta),
                static_cast<float*>(dx));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t x_desc,
                                             const void* x, cudnnTensorDescriptor_t dy_desc, const void* dy,
                                             cudnnConvolutionDescriptor_t conv_desc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workspace,
                                             size_t workspace_bytes, const void* beta,
                                             cudnnFilterDescriptor_t dw_desc, void* dw) {
  const char* call = "cudnnConvolutionBackwardFilter";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  Geometry g;
  if (cudnnStatus_t st = geometry(call, x_desc, dw_desc, conv_desc, dy_desc, g)) return st;
  DeviceAccess access;
  if (cudnnStatus_t st = check_memory(access, call, g, x, dw, dy)) return st;
  if (cudnnStatus_t st = check_workspace(access, call, filter_need(g, algo), workspace, workspace_bytes)) return st;
  if (workspace_bytes) nan_fill(workspace, workspace_bytes);
  backward_filter(g, scalar(alpha), static_cast<const float*>(x), static_cast<const float*>(dy), scalar(beta),
                  static_cast<float*>(dw));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t dy_desc,
                                           const void* dy, const void* beta, cudnnTensorDescriptor_t db_desc,
                                           void* db) {
  const char* call = "cudnnConvolutionBackwardBias";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  if (!dy_desc || !db_desc || !dy_desc->set || !db_desc->set) return bad(std::string(call) + ": unset descriptor");
  if (db_desc->n != 1 || db_desc->c != dy_desc->c || db_desc->h != 1 || db_desc->w != 1)
    return bad(std::string(call) + ": the bias descriptor must be 1 x C x 1 x 1 with the C of dy");
  DeviceAccess access;
  if (!device_span(access, call, "dy", dy, sizeof(float) * dy_desc->count()) ||
      !device_span(access, call, "db", db, sizeof(float) * db_desc->count()))
    return CUDNN_STATUS_EXECUTION_FAILED;
  const float* g = static_cast<const float*>(dy);
  const size_t plane = size_t(dy_desc->h) * dy_desc->w;
  std::vector<double> sums(size_t(dy_desc->c), 0.0);
  for (int n = 0; n < dy_desc->n; ++n)
    for (int c = 0; c < dy_desc->c; ++c)
      for (size_t i = 0; i < plane; ++i) sums[size_t(c)] += g[(size_t(n) * dy_desc->c + c) * plane + i];
  blend(static_cast<float*>(db), sums, scalar(alpha), scalar(beta));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t a_desc, const void* A,
                             const void* beta, cudnnTensorDescriptor_t c_desc, void* C) {
  const char* call = "cudnnAddTensor";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  if (!a_desc || !c_desc || !a_desc->set || !c_desc->set) return bad(std::string(call) + ": unset descriptor");
  const cudnnTensorStruct& a = *a_desc;
  const cudnnTensorStruct& c = *c_desc;
  // Each dimension of A equals C's or is 1 (broadcast).
  if ((a.n != c.n && a.n != 1) || (a.c != c.c && a.c != 1) || (a.h != c.h && a.h != 1) || (a.w != c.w && a.w != 1))
    return bad(std::string(call) + ": each dimension of A must equal C's or be 1");
  DeviceAccess access;
  if (!device_span(access, call, "A", A, sizeof(float) * a.count()) ||
      !device_span(access, call, "C", C, sizeof(float) * c.count()))
    return CUDNN_STATUS_EXECUTION_FAILED;
  const double al = scalar(alpha), be = scalar(beta);
  const float* av = static_cast<const float*>(A);
  float* cv = static_cast<float*>(C);
  for (int n = 0; n < c.n; ++n)
    for (int ch = 0; ch < c.c; ++ch)
      for (int h = 0; h < c.h; ++h)
        for (int w = 0; w < c.w; ++w) {
          const size_t ai = ((size_t(a.n == 1 ? 0 : n) * a.c + (a.c == 1 ? 0 : ch)) * a.h + (a.h == 1 ? 0 : h)) * a.w +
                            (a.w == 1 ? 0 : w);
          float& out = cv[((size_t(n) * c.c + ch) * c.h + h) * c.w + w];
          out = float(al * av[ai] + (be != 0.0 ? be * double(out) : 0.0));
        }
  return CUDNN_STATUS_SUCCESS;
}
