#include "weights/safetensors.h"

#include <memory>

#include <algorithm>
#include <cstring>
#include <set>

#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/json.h"

namespace differnet::weights {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

constexpr DType kAllDTypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64,
                                DType::I32, DType::I16, DType::I8,  DType::U8,   DType::Bool};

bool dtype_from_safetensors(const std::string& name, DType& dtype) {
  for (DType d : kAllDTypes)
    if (name == safetensors_dtype_name(d)) { dtype = d; return true; }
  return false;
}

// parse_json has refused integers beyond int64.
int64_t json_integer(const Json& v, const std::string& what, const char* field) {
  DIFFERNET_CHECK(v.is_number_integer(), what, ": ", field, " must hold integers, not ", json_kind_name(v.type()));
  return v.get<int64_t>();
}

struct Entry {
  std::string name;
  RawTensor tensor;
  uint64_t begin, end;
};

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

SafetensorsContents parse_safetensors(std::string_view bytes, const std::string& what) {
  DIFFERNET_CHECK(bytes.size() >= 8, what, ": not a safetensors file (", bytes.size(), " bytes, shorter than the 8-byte header length)");
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  DIFFERNET_CHECK(header_len <= kMaxHeaderBytes, what, ": header length ", header_len, " exceeds the ", kMaxHeaderBytes, "-byte limit");
  DIFFERNET_CHECK(header_len <= bytes.size() - 8, what, ": header length ", header_len, " runs past the end of the file (",
                  bytes.size(), " bytes)");
  const std::string_view header = bytes.substr(8, header_len);
  DIFFERNET_CHECK(!header.empty() && header[0] == '{', what, ": the header is not a JSON object");
  const Json root = parse_json(header, what + " (safetensors header)");
  DIFFERNET_CHECK(root.is_object(), what, ": the header is not a JSON object");

  const std::string_view data = bytes.substr(8 + header_len);
  SafetensorsContents contents;
  std::vector<Entry> entries;
  for (const auto& [name, spec] : root.items()) {
    if (name == "__metadata__") {
      DIFFERNET_CHECK(spec.is_object(), what, ": __metadata__ must be an object of strings");
      for (const auto& [key, value] : spec.items()) {
        DIFFERNET_CHECK(value.is_string(), what, ": __metadata__ value \"", key, "\" is a ",
                        json_kind_name(value.type()), ", not a string");
        contents.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = what + ": tensor \"" + name + "\"";
    DIFFERNET_CHECK(spec.is_object(), where, " is described by a ", json_kind_name(spec.type()), ", not an object");
    for (const auto& member : spec.items())
      DIFFERNET_CHECK(member.key() == "dtype" || member.key() == "shape" || member.key() == "data_offsets", where,
                      ": unknown field \"", member.key(), "\"");
    const auto dtype = spec.find("dtype");
    const auto shape = spec.find("shape");
    const auto offsets = spec.find("data_offsets");
    DIFFERNET_CHECK(dtype != spec.end() && shape != spec.end() && offsets != spec.end(), where,
                    ": needs dtype, shape and data_offsets");
    DIFFERNET_CHECK(dtype->is_string(), where, ": dtype must be a string");
    const std::string& dtype_text = dtype->get_ref<const std::string&>();
    Entry e;
    e.name = name;
    DIFFERNET_CHECK(dtype_from_safetensors(dtype_text, e.tensor.dtype), where, ": unknown dtype \"", dtype_text, "\"");
    DIFFERNET_CHECK(shape->is_array(), where, ": shape must be an array");
    for (const Json& d : *shape) e.tensor.shape.push_back(json_integer(d, where, "shape"));
    const int64_t numel = checked_numel(e.tensor.shape, where);
    DIFFERNET_CHECK(offsets->is_array() && offsets->size() == 2, where, ": data_offsets must be [begin, end]");
    const int64_t begin = json_integer((*offsets)[0], where, "data_offsets");
    const int64_t end = json_integer((*offsets)[1], where, "data_offsets");
    DIFFERNET_CHECK(begin >= 0 && begin <= end && uint64_t(end) <= data.size(), where, ": data_offsets [", begin, ", ", end,
                    "] outside the ", data.size(), "-byte data section");
    const uint64_t itemsize = dtype_size(e.tensor.dtype);
    DIFFERNET_CHECK(uint64_t(numel) <= data.size() / itemsize && uint64_t(end - begin) == uint64_t(numel) * itemsize, where,
                    ": ", end - begin, " bytes for shape ", shape_string(e.tensor.shape), " of ", dtype_text, " (",
                    itemsize, " bytes each)");
    e.begin = uint64_t(begin);
    e.end = uint64_t(end);
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly: no overlaps, no gaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    DIFFERNET_CHECK(e.begin >= covered, what, ": tensor \"", e.name, "\" data [", e.begin, ", ", e.end,
                    ") overlaps tensor \"", entries[i - 1].name, "\"");
    DIFFERNET_CHECK(e.begin == covered, what, ": ", e.begin - covered, " unused bytes before tensor \"", e.name, "\"");
    covered = e.end;
  }
  DIFFERNET_CHECK(covered == data.size(), what, ": ", data.size() - covered, " bytes after the last tensor's data");

  for (Entry& e : entries) {
    e.tensor.data.assign(data.begin() + e.begin, data.begin() + e.end);
    contents.tensors.emplace_back(std::move(e.name), std::move(e.tensor));
  }
  return contents;
}

SafetensorsContents read_safetensors(const std::string& path) { return parse_safetensors(read_file_bytes(path), path); }

namespace {

// The 8-byte length and the JSON header (padded to keep the data 8-byte
// aligned) of tensors with these names, dtypes, shapes and byte counts;
// `data_bytes` receives the data section's size.
struct HeaderEntry {
  const std::string& name;
  DType dtype;
  const std::vector<int64_t>& shape;
  uint64_t bytes;
};
std::string header_of(const std::vector<HeaderEntry>& tensors, const Metadata& metadata, const std::string& what,
                      uint64_t& data_bytes) {
  Json json = Json::object();
  if (!metadata.empty()) {
    Json& meta = json["__metadata__"] = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const HeaderEntry& t : tensors) {
    const std::string where = what + ": tensor \"" + t.name + "\"";
    DIFFERNET_CHECK(t.name != "__metadata__" && names.insert(t.name).second, where, ": duplicate or reserved name");
    const int64_t numel = checked_numel(t.shape, where);
    DIFFERNET_CHECK(t.bytes == uint64_t(numel) * dtype_size(t.dtype), where, ": ", t.bytes, " bytes for shape ",
                    shape_string(t.shape), " of ", dtype_name(t.dtype));
    json[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string header;
  try {
    header = json.dump();
  } catch (const Json::type_error&) {  // 316: a string that is not UTF-8
    throw Error(detail::concat(what, ": a tensor name or metadata entry is not valid UTF-8"));
  }
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer does
  std::string out(8, '\0');
  const uint64_t header_len = header.size();
  std::memcpy(out.data(), &header_len, 8);
  data_bytes = offset;
  return out + header;
}

}  // namespace

std::string serialize_safetensors(const RawTensorMap& tensors, const Metadata& metadata, const std::string& what) {
  std::vector<HeaderEntry> entries;
  for (const auto& [name, tensor] : tensors) entries.push_back({name, tensor.dtype, tensor.shape, tensor.data.size()});
  uint64_t data_bytes = 0;
  std::string out = header_of(entries, metadata, what, data_bytes);
  out.reserve(out.size() + data_bytes);
  for (const auto& entry : tensors) out.append(reinterpret_cast<const char*>(entry.second.data.data()), entry.second.data.size());
  return out;
}

void write_safetensors(const std::string& path, const RawTensorMap& tensors, const Metadata& metadata) {
  write_file_atomically(path, serialize_safetensors(tensors, metadata, path));
}

TensorSource source_of(RawTensor tensor) {
  auto kept = std::make_shared<RawTensor>(std::move(tensor));
  return {kept->dtype, kept->shape, [kept](const PartWriter& write) {
            write(std::string_view(reinterpret_cast<const char*>(kept->data.data()), kept->data.size()));
          }};
}

void stream_safetensors(const std::string& path, const TensorSourceMap& tensors, const Metadata& metadata) {
  std::vector<HeaderEntry> entries;
  for (const auto& [name, t] : tensors) {
    const int64_t numel = checked_numel(t.shape, path + ": tensor \"" + name + "\"");
    entries.push_back({name, t.dtype, t.shape, uint64_t(numel) * dtype_size(t.dtype)});
  }
  uint64_t data_bytes = 0;
  const std::string header = header_of(entries, metadata, path, data_bytes);
  write_file_atomically(path, [&](const PartWriter& write) {
    write(header);
    for (size_t i = 0; i < tensors.size(); ++i) {
      uint64_t passed = 0;
      tensors[i].second.bytes([&](std::string_view part) {
        passed += part.size();
        write(part);
      });
      DIFFERNET_CHECK(passed == entries[i].bytes, path, ": tensor \"", tensors[i].first, "\" gave ", passed,
                      " bytes, its shape needs ", entries[i].bytes);
    }
  });
}

}  // namespace differnet::weights
