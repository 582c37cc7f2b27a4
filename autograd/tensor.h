// Tensor: a handle to an n-dimensional, contiguous, row-major array on the CPU
// or a CUDA device, with the autograd fields (requires_grad, grad, grad_fn).
// Copying a Tensor copies the handle, not the data (like torch.Tensor).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/dtype.h"
#include "autograd/error.h"
#include "autograd/storage.h"

namespace differnet {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[96, 768]"
int64_t shape_numel(const Shape& shape);

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements: a tensor may view part of a storage (a flat parameter buffer)
  Shape shape;
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward() on leaves
  // zero_grad() was called and nothing has written the gradient since: its
  // buffer holds stale values that read as zeros (grad() writes the zeros),
  // and the next backward() writes over it instead of adding to it.
  bool grad_zero_pending = false;
  std::shared_ptr<Node> grad_fn;     // the op that made this tensor; null for leaves
  int output_nr = 0;                 // which output of grad_fn this is
  std::string name;                  // optional, used in error messages
};

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU) {
    return full(shape, 1.0, dtype, device);
  }
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = Device::CPU);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, Device device = Device::CPU);
  static Tensor from_vector(const std::vector<uint8_t>& values, const Shape& shape, Device device = Device::CPU);
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::CPU) {
    return full({}, value, dtype, device);
  }
  // A tensor viewing `numel(shape)` elements of `storage` from element `offset`.
  static Tensor view_of(std::shared_ptr<Storage> storage, int64_t offset, const Shape& shape, DType dtype);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  const std::string& name() const { return impl().name; }
  Tensor& set_name(std::string name);
  std::string describe() const;  // e.g. "'flow.0.subnet1.0.weight' float32[2048, 384] on cuda"

  // ---- data ----
  void* raw_data() const;
  template <class T> T* data() const;  // checks that T matches the dtype
  Tensor to(Device device) const;      // copy to another device (same tensor when already there)
  Tensor to(DType dtype) const;        // convert float32 <-> float64 (uint8 -> float) on the CPU
  Tensor clone() const;                // a new leaf with a copy of the data
  Tensor detach() const;               // shares data, no autograd history
  template <class T> std::vector<T> to_vector() const;  // copies to the host
  double item() const;                 // the value of a one-element tensor
  void copy_(const Tensor& src);       // overwrite the data in place (same shape; any devices)
  void fill_(double value);            // overwrite every element in place
  bool shares_storage_with(const Tensor& other) const;
  // Copies the values into `storage` from element `offset` on and makes this
  // tensor (and every handle to it) read them there; its old storage is
  // released with its last user. Adam's flat buffer and a ParameterArena
  // gather parameters this way, and Module::to moves them to another device
  // (layers/adam.h, layers/module.h).
  void move_into(const std::shared_ptr<Storage>& storage, int64_t offset);

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool value);  // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  bool has_grad() const { return impl().grad != nullptr; }
  Tensor grad() const;          // throws when a gradient was expected but never computed
  void set_grad(const Tensor& g);
  // Sets an existing gradient to zero, keeping its memory, lazily: the zeros
  // are written only if the gradient is read (grad()) before a backward pass
  // writes it. A backward pass that reaches it first writes over the stale
  // values (GEMM beta = 0, a copy instead of an add), which spares a pass over
  // the buffer and a read of it: for the paper's flow 688 MB each, per step.
  void zero_grad();
  // For backward passes: the gradient buffer (has_grad() must hold), with
  // `accumulate` false when it is zero by zero_grad() and not yet written: the
  // caller then writes every element instead of adding. Either way it counts
  // as written from here on.
  Tensor grad_for_write(bool& accumulate) const;
  void backward() const;        // from a one-element tensor: d(this)/d(leaves)
  void backward(const Tensor& grad_output) const;  // for any shape, with an explicit seed

  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorImpl& impl() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Throws a clear error unless a and b agree in shape (op names the caller).
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_defined(const char* op, const Tensor& t, const char* what);

}  // namespace differnet
