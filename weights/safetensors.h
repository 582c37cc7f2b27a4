// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}}, then the tensor bytes (offsets are
// relative to the end of the header). Reading validates everything.
#pragma once
#include <map>
#include <string>
#include <string_view>

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

// "F32" <-> DType::F32 etc. (the safetensors dtype names).
const char* safetensors_dtype_name(DType dtype);

}  // namespace differnet::weights
