#include "autograd/tensor.h"

#include <cstring>
#include <sstream>

#include "autograd/dispatch.h"
#include "autograd/engine.h"
#include "autograd/grad_mode.h"

namespace differnet {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("use of an undefined tensor (a Tensor that was never assigned)");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) DIFFERNET_CHECK(d >= 0, "cannot create a tensor of shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, int64_t offset, const Shape& shape, DType dtype) {
  DIFFERNET_CHECK(storage != nullptr, "view_of: null storage");
  const size_t end = size_t(offset + shape_numel(shape)) * dtype_size(dtype);
  DIFFERNET_CHECK(offset >= 0 && end <= storage->bytes(), "view_of: a ", dtype_name(dtype), shape_str(shape),
                  " view at element ", offset, " does not fit a storage of ", storage->bytes(), " bytes");
  auto impl = std::make_shared<TensorImpl>();
  impl->device = storage->device();
  impl->storage = std::move(storage);
  impl->offset = offset;
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  zero_bytes(t.raw_data(), device, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

namespace {
template <class T>
Tensor tensor_from_vector(const std::vector<T>& values, const Shape& shape, DType dtype, Device device) {
  DIFFERNET_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
                  " values do not fill shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype, device);
  copy_bytes(t.raw_data(), device, values.data(), Device::CPU, t.nbytes());
  return t;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s, Device d) {
  return tensor_from_vector(v, s, DType::Float32, d);
}
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s, Device d) {
  return tensor_from_vector(v, s, DType::Float64, d);
}
Tensor Tensor::from_vector(const std::vector<uint8_t>& v, const Shape& s, Device d) {
  return tensor_from_vector(v, s, DType::UInt8, d);
}

int64_t Tensor::size(int64_t d) const {
  const int64_t r = dim();
  DIFFERNET_CHECK(d >= -r && d < r, "dimension ", d, " out of range for ", describe());
  return shape()[size_t(d < 0 ? d + r : d)];
}

Tensor& Tensor::set_name(std::string name) {
  impl().name = std::move(name);
  return *this;
}

std::string Tensor::describe() const {
  if (!impl_) return "<undefined tensor>";
  std::string s = impl_->name.empty() ? "" : "'" + impl_->name + "' ";
  return s + dtype_name(impl_->dtype) + shape_str(impl_->shape) + " on " + device_name(impl_->device);
}

void* Tensor::raw_data() const {
  return static_cast<unsigned char*>(impl().storage->data()) + impl().offset * int64_t(dtype_size(impl().dtype));
}

namespace {
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::UInt8; }
}  // namespace

template <class T>
T* Tensor::data() const {
  DIFFERNET_CHECK(dtype() == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">() on ", describe());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template uint8_t* Tensor::data<uint8_t>() const;

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  if (device == Device::CUDA) DIFFERNET_CHECK(cuda_available(), "cannot move ", describe(), " to cuda: ", cuda_unavailable_reason());
  Tensor out = empty(shape(), dtype(), device);
  copy_bytes(out.raw_data(), device, raw_data(), this->device(), nbytes());
  out.impl().name = name();
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  DIFFERNET_CHECK(device() == Device::CPU, "dtype conversion of ", describe(), " to ", dtype_name(target),
                  ": only on the CPU (move it with to(Device::CPU) first)");
  DIFFERNET_CHECK(target != DType::UInt8, "conversion of ", describe(), " to uint8 is not supported");
  Tensor out = empty(shape(), target, Device::CPU);
  const int64_t n = numel();
  auto convert = [&](auto src_tag) {
    using S = decltype(src_tag);
    const S* src = static_cast<const S*>(raw_data());
    if (target == DType::Float32) {
      float* dst = out.data<float>();
      for (int64_t i = 0; i < n; ++i) dst[i] = float(src[i]);
    } else {
      double* dst = out.data<double>();
      for (int64_t i = 0; i < n; ++i) dst[i] = double(src[i]);
    }
  };
  switch (dtype()) {
    case DType::Float32: convert(float{}); break;
    case DType::Float64: convert(double{}); break;
    case DType::UInt8: convert(uint8_t{}); break;
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_bytes(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::detach() const {
  Tensor out = view_of(impl().storage, impl().offset, shape(), dtype());
  out.impl().name = name();
  return out;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  DIFFERNET_CHECK(dtype() == dtype_of<T>(), "to_vector<", dtype_name(dtype_of<T>()), ">() on ", describe());
  std::vector<T> out(static_cast<size_t>(numel()));
  copy_bytes(out.data(), Device::CPU, raw_data(), device(), nbytes());
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

double Tensor::item() const {
  DIFFERNET_CHECK(numel() == 1, "item() needs a one-element tensor, got ", describe());
  switch (dtype()) {
    case DType::Float32: return to_vector<float>()[0];
    case DType::Float64: return to_vector<double>()[0];
    case DType::UInt8: return to_vector<uint8_t>()[0];
  }
  return 0;
}

void Tensor::copy_(const Tensor& src) {
  check_defined("copy_", src, "source");
  DIFFERNET_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: cannot copy ", src.describe(), " into ",
                  describe());
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::fill_(double value) {
  const int64_t n = numel();
  if (device() == Device::CPU) {
    switch (dtype()) {
      case DType::Float32: kernels::cpu::fill(data<float>(), n, float(value)); break;
      case DType::Float64: kernels::cpu::fill(data<double>(), n, value); break;
      case DType::UInt8: kernels::cpu::fill(data<uint8_t>(), n, uint8_t(value)); break;
    }
  } else if (value == 0.0) {
    zero_bytes(raw_data(), device(), nbytes());
  } else {
    detail::check_cuda_float32("fill_", *this);
    DIFFERNET_ON_CUDA(kernels::cuda::fill(data<float>(), n, float(value)));
  }
}

Tensor& Tensor::set_requires_grad(bool value) {
  DIFFERNET_CHECK(is_leaf(), "set_requires_grad: ", describe(),
                  " was computed by an op; only leaves (parameters, inputs) can be marked");
  DIFFERNET_CHECK(!value || dtype() != DType::UInt8, "set_requires_grad: ", describe(), " is not a floating tensor");
  impl().requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const {
  if (!impl().grad) {
    DIFFERNET_CHECK(!requires_grad(), "gradient of ", describe(),
                    " was requested but never computed: no backward() reached it");
    throw Error("gradient of " + describe() + " was requested, but it does not require grad");
  }
  if (impl().grad_zero_pending) {
    Tensor(impl().grad).fill_(0.0);
    impl().grad_zero_pending = false;
  }
  return Tensor(impl().grad);
}

Tensor Tensor::grad_for_write(bool& accumulate) const {
  DIFFERNET_CHECK(impl().grad, "internal: grad_for_write on ", describe(), ", which has no gradient buffer");
  accumulate = !impl().grad_zero_pending;
  impl().grad_zero_pending = false;
  return Tensor(impl().grad);
}

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl().grad.reset();
    impl().grad_zero_pending = false;
    return;
  }
  DIFFERNET_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), "set_grad: gradient ",
                  g.describe(), " does not match ", describe());
  impl().grad = g.impl_ptr();
  impl().grad_zero_pending = false;
}

void Tensor::zero_grad() {
  if (impl().grad) impl().grad_zero_pending = true;
}

void Tensor::backward() const { run_backward(*this, Tensor()); }
void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

void Tensor::move_into(const std::shared_ptr<Storage>& storage, int64_t offset) {
  view_of(storage, offset, shape(), dtype()).copy_(*this);
  impl().storage = storage;
  impl().offset = offset;
  impl().device = storage->device();
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return impl().storage == other.impl().storage;
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  DIFFERNET_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", a.describe(), " and ", b.describe());
}
void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  DIFFERNET_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.describe(), " and ",
                  b.describe(), " (move one with .to(device))");
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  DIFFERNET_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", a.describe(), " and ", b.describe());
}
void check_defined(const char* op, const Tensor& t, const char* what) {
  DIFFERNET_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
}

}  // namespace differnet
