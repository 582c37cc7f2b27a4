#include "weights/tensor_convert.h"

#include <cmath>
#include <cstring>

namespace differnet::weights {

namespace {
DType file_dtype(differnet::DType dtype) {
  switch (dtype) {
    case differnet::DType::Float32: return DType::F32;
    case differnet::DType::Float64: return DType::F64;
    case differnet::DType::UInt8: return DType::U8;
  }
  return DType::F32;
}
}  // namespace

RawTensor to_raw(const Tensor& t) {
  const Tensor host = t.to(Device::CPU);
  RawTensor raw;
  raw.dtype = file_dtype(host.dtype());
  raw.shape = host.shape();
  raw.data.resize(host.nbytes());
  if (host.nbytes()) std::memcpy(raw.data.data(), host.raw_data(), host.nbytes());
  return raw;
}

TensorSource to_source(const Tensor& t) {
  return {file_dtype(t.dtype()), t.shape(), [t](const PartWriter& write) {
            const Tensor host = t.to(Device::CPU);  // the same tensor on the CPU, one copy on CUDA
            write(std::string_view(static_cast<const char*>(host.raw_data()), host.nbytes()));
          }};
}

Tensor to_tensor(const RawTensor& raw, const std::string& what) {
  DIFFERNET_CHECK(raw.dtype == DType::F32 || raw.dtype == DType::F64 || raw.dtype == DType::F16 ||
                      raw.dtype == DType::BF16,
                  what, ": dtype ", dtype_name(raw.dtype), " is not a floating type");
  if (raw.dtype == DType::F64) {
    std::vector<double> v(raw.data.size() / sizeof(double));
    if (!v.empty()) std::memcpy(v.data(), raw.data.data(), raw.data.size());
    return Tensor::from_vector(v, raw.shape);
  }
  return Tensor::from_vector(as_float32(raw), raw.shape);
}

void copy_into(const RawTensor& raw, Tensor& dst, const std::string& what, bool require_finite) {
  DIFFERNET_CHECK(raw.shape == dst.shape(), what, " has shape ", shape_string(raw.shape), ", expected ",
                  shape_str(dst.shape()));
  Tensor t = to_tensor(raw, what).to(dst.dtype());
  if (require_finite) {
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
      const double v = t.dtype() == differnet::DType::Float64 ? t.data<double>()[i] : double(t.data<float>()[i]);
      DIFFERNET_CHECK(std::isfinite(v), what, " holds a non-finite value (", v, ") at element ", i);
    }
  }
  dst.copy_(t);
}

}  // namespace differnet::weights
