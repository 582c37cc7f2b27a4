// Tensors as checkpoint files hold them: a dtype, a shape and little-endian,
// contiguous row-major bytes. The loaders in this folder produce these; the
// framework's own tensor class converts from them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace differnet::weights {

enum class DType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };

struct RawTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // numel(shape) * dtype_size(dtype) bytes
};

// Named tensors in file order.
using RawTensorMap = std::vector<std::pair<std::string, RawTensor>>;

size_t dtype_size(DType dtype);
// "float32", "float64", "float16", "bfloat16", "int64", ..., "uint8", "bool".
const char* dtype_name(DType dtype);

// Element count of `shape`; throws differnet::Error naming `what` for a negative
// extent or a count that overflows int64.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what);

// "[64, 3, 11, 11]"
std::string shape_string(const std::vector<int64_t>& shape);

// The values as float32 (f32, f64, f16, bf16 and the integer types).
std::vector<float> as_float32(const RawTensor& tensor);

RawTensor make_float32_tensor(std::vector<int64_t> shape, const std::vector<float>& values);

// A contiguous copy of the strided view (element `offset`, `shape`, element
// `strides`, all >= 0) of `storage`, which holds `dtype` elements. Throws
// differnet::Error naming `what` when the view reaches outside the storage.
RawTensor copy_strided(std::string_view storage, DType dtype, int64_t offset, const std::vector<int64_t>& shape,
                       const std::vector<int64_t>& strides, const std::string& what);

// The tensor called `name`, or nullptr.
const RawTensor* find_tensor(const RawTensorMap& tensors, const std::string& name);

}  // namespace differnet::weights
