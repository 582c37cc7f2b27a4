// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}}, then the tensor bytes (offsets are
// relative to the end of the header). Reading validates everything.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "weights/file_io.h"
#include "weights/raw_tensor.h"

namespace differnet::weights {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  RawTensorMap tensors;  // in file order (of data offsets)
  Metadata metadata;
};

// Throws differnet::Error naming the file (and the tensor) for any inconsistency.
SafetensorsContents read_safetensors(const std::string& path);
// The same for bytes in memory; `what` names them in errors.
SafetensorsContents parse_safetensors(std::string_view bytes, const std::string& what);

// Writes atomically (temporary file + rename); tensors are stored in the given order.
void write_safetensors(const std::string& path, const RawTensorMap& tensors, const Metadata& metadata = {});
std::string serialize_safetensors(const RawTensorMap& tensors, const Metadata& metadata, const std::string& what);

// A tensor to write without first copying it into a RawTensor: its dtype and
// shape, and `bytes`, called once when the writer reaches it, which passes its
// little-endian contiguous bytes (numel * dtype size, in one or more parts) to
// the writer. Checkpoints of the paper's flow (2 GB) are written this way, so
// their parameters and Adam state are never copied in memory.
struct TensorSource {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::function<void(const PartWriter& write)> bytes;
};
using TensorSourceMap = std::vector<std::pair<std::string, TensorSource>>;
// A RawTensor as a source (for small tensors: it is kept in the source).
TensorSource source_of(RawTensor tensor);
// Writes atomically, streaming each tensor's bytes; the file is the one
// write_safetensors(path, RawTensorMap) writes for the same tensors.
void stream_safetensors(const std::string& path, const TensorSourceMap& tensors, const Metadata& metadata = {});

// "F32" <-> DType::F32 etc. (the safetensors dtype names).
const char* safetensors_dtype_name(DType dtype);

}  // namespace differnet::weights
