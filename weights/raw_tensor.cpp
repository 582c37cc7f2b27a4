#include "weights/raw_tensor.h"

#include <cstring>
#include <limits>
#include <sstream>

#include "autograd/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoint readers assume a little-endian host");

namespace differnet::weights {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I64: return "int64";
    case DType::I32: return "int32";
    case DType::I16: return "int16";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "?";
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
  int64_t numel = 1;
  for (int64_t extent : shape) {
    DIFFERNET_CHECK(extent >= 0, what, ": negative extent ", extent, " in shape ", shape_string(shape));
    DIFFERNET_CHECK(extent == 0 || numel <= std::numeric_limits<int64_t>::max() / extent, what,
                    ": shape ", shape_string(shape), " has too many elements");
    numel *= extent;
  }
  return numel;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: renormalise
    int e = -1;
    do { ++e; mantissa <<= 1; } while ((mantissa & 0x400) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <class T>
void convert(const std::vector<uint8_t>& data, std::vector<float>& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

}  // namespace

std::vector<float> as_float32(const RawTensor& tensor) {
  const size_t n = static_cast<size_t>(checked_numel(tensor.shape, "as_float32"));
  DIFFERNET_CHECK(tensor.data.size() == n * dtype_size(tensor.dtype), "as_float32: ", tensor.data.size(),
                  " bytes do not hold ", n, " ", dtype_name(tensor.dtype), " values");
  std::vector<float> out(n);
  switch (tensor.dtype) {
    case DType::F32: convert<float>(tensor.data, out); break;
    case DType::F64: convert<double>(tensor.data, out); break;
    case DType::I64: convert<int64_t>(tensor.data, out); break;
    case DType::I32: convert<int32_t>(tensor.data, out); break;
    case DType::I16: convert<int16_t>(tensor.data, out); break;
    case DType::I8: convert<int8_t>(tensor.data, out); break;
    case DType::U8: case DType::Bool: convert<uint8_t>(tensor.data, out); break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, tensor.data.data() + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      break;
    case DType::BF16:  // the upper half of a float32
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, tensor.data.data() + 2 * i, 2);
        const uint32_t bits = uint32_t(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      break;
  }
  return out;
}

RawTensor make_float32_tensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  RawTensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  DIFFERNET_CHECK(static_cast<size_t>(checked_numel(t.shape, "make_float32_tensor")) == values.size(),
                  "make_float32_tensor: ", values.size(), " values for shape ", shape_string(t.shape));
  t.data.resize(values.size() * 4);
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

RawTensor copy_strided(std::string_view storage, DType dtype, int64_t offset, const std::vector<int64_t>& shape,
                       const std::vector<int64_t>& strides, const std::string& what) {
  const size_t itemsize = dtype_size(dtype);
  DIFFERNET_CHECK(storage.size() % itemsize == 0, what, ": storage of ", storage.size(), " bytes is not a whole number of ",
                  dtype_name(dtype), " elements");
  DIFFERNET_CHECK(shape.size() == strides.size(), what, ": shape ", shape_string(shape), " and strides ",
                  shape_string(strides), " differ in length");
  const int64_t numel = checked_numel(shape, what);
  RawTensor t;
  t.dtype = dtype;
  t.shape = shape;
  if (numel == 0) return t;
  // The largest element index the view touches must lie inside the storage.
  const int64_t storage_elems = static_cast<int64_t>(storage.size() / itemsize);
  DIFFERNET_CHECK(offset >= 0 && offset < storage_elems, what, ": storage offset ", offset, " outside a storage of ",
                  storage_elems, " elements");
  int64_t last = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    DIFFERNET_CHECK(strides[d] >= 0, what, ": negative stride in ", shape_string(strides));
    const int64_t room = storage_elems - 1 - last;
    DIFFERNET_CHECK(strides[d] == 0 || shape[d] - 1 <= room / strides[d], what, ": view (offset ", offset, ", shape ",
                    shape_string(shape), ", strides ", shape_string(strides), ") reaches outside a storage of ",
                    storage_elems, " elements");
    last += (shape[d] - 1) * strides[d];
  }
  t.data.resize(static_cast<size_t>(numel) * itemsize);
  // Odometer over the index; the innermost dimension is copied element by element.
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = rank ? shape[rank - 1] : 1;
  const int64_t inner_stride = rank ? strides[rank - 1] : 0;
  uint8_t* out = t.data.data();
  int64_t base = offset;
  for (int64_t done = 0; done < numel; done += inner) {
    if (inner_stride == 1) {
      std::memcpy(out, storage.data() + base * itemsize, inner * itemsize);
      out += inner * itemsize;
    } else {
      for (int64_t i = 0; i < inner; ++i, out += itemsize)
        std::memcpy(out, storage.data() + (base + i * inner_stride) * itemsize, itemsize);
    }
    for (size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {
      base += strides[d];
      if (++index[d] < shape[d]) break;
      base -= shape[d] * strides[d];
      index[d] = 0;
    }
  }
  return t;
}

const RawTensor* find_tensor(const RawTensorMap& tensors, const std::string& name) {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return &tensor;
  return nullptr;
}

}  // namespace differnet::weights
