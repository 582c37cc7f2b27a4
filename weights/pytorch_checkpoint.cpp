#include "weights/pytorch_checkpoint.h"

#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/pickle.h"
#include "weights/safetensors.h"
#include "weights/zip_archive.h"

namespace differnet::weights {

namespace {

using Kind = PickleValue::Kind;

// 0x1950a86a20f9469cfc6c as LONG1 bytes (little-endian).
constexpr char kLegacyMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr int64_t kLegacyProtocolVersion = 1001;
constexpr uint64_t kCopyBudgetFactor = 4;

const std::map<std::string, DType>& storage_dtypes() {
  static const std::map<std::string, DType> types = {
      {"torch.FloatStorage", DType::F32}, {"torch.DoubleStorage", DType::F64}, {"torch.HalfStorage", DType::F16},
      {"torch.BFloat16Storage", DType::BF16}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8}, {"torch.ByteStorage", DType::U8},
      {"torch.BoolStorage", DType::Bool}};
  return types;
}

// What a persistent id ('storage', storage_type, key, location, numel[, view_metadata]) names.
struct StorageRef {
  DType dtype;
  std::string key;             // the root storage
  int64_t view_offset = 0;     // legacy storage views: elements into the root storage
  int64_t view_size = -1;      // elements, or -1 for the whole root storage
};

StorageRef storage_ref(const PickleValue& node, const std::string& where) {
  DIFFERNET_CHECK(node.kind == Kind::PersistentId, where, ": expected a storage, found a ", pickle_kind_name(node.kind));
  const PickleValue& id = *node.items.at(0);
  DIFFERNET_CHECK(id.kind == Kind::Tuple && (id.items.size() == 5 || id.items.size() == 6) &&
                      id.items[0]->kind == Kind::String && id.items[0]->text == "storage",
                  where, ": persistent id is not ('storage', type, key, location, numel[, view])");
  const PickleValue& type = *id.items[1];
  const PickleValue& key = *id.items[2];
  DIFFERNET_CHECK(type.kind == Kind::Global && storage_dtypes().count(type.text), where, ": unknown storage type ",
                  type.kind == Kind::Global ? type.text : pickle_kind_name(type.kind));
  DIFFERNET_CHECK(key.kind == Kind::String, where, ": storage key is a ", pickle_kind_name(key.kind), ", not a string");
  StorageRef ref{storage_dtypes().at(type.text), key.text};
  if (id.items.size() == 6 && id.items[5]->kind != Kind::None) {
    const PickleValue& view = *id.items[5];  // (view_key, offset, size)
    DIFFERNET_CHECK(view.kind == Kind::Tuple && view.items.size() == 3 && view.items[1]->kind == Kind::Int &&
                        view.items[2]->kind == Kind::Int && view.items[1]->integer >= 0 && view.items[2]->integer >= 0,
                    where, ": storage view metadata is not (key, offset, size)");
    ref.view_offset = view.items[1]->integer;
    ref.view_size = view.items[2]->integer;
  }
  return ref;
}

std::vector<int64_t> int_tuple(const PickleValue& node, const std::string& where, const char* field) {
  DIFFERNET_CHECK(node.kind == Kind::Tuple, where, ": ", field, " is a ", pickle_kind_name(node.kind), ", not a tuple");
  std::vector<int64_t> values;
  for (const PickleValue* item : node.items) {
    DIFFERNET_CHECK(item->kind == Kind::Int, where, ": ", field, " holds a ", pickle_kind_name(item->kind));
    values.push_back(item->integer);
  }
  return values;
}

using StorageBytes = std::function<std::string_view(const StorageRef&)>;

// Tensors may share storages and views may repeat elements (stride 0), so a small
// hostile file could describe huge tensors; the copies are capped relative to the file.
struct CopyBudget {
  uint64_t bytes_left;
};

// The tensor a rebuild call describes, or false when `node` is not a tensor.
bool rebuild_tensor(const PickleValue& call, const std::string& where, const StorageBytes& storage_bytes, CopyBudget& budget,
                    RawTensor& out) {
  if (call.kind != Kind::Call) return false;
  const PickleValue* node = &call;
  // A parameter wraps exactly one tensor: _rebuild_parameter[_with_state](data, requires_grad, hooks[, state]).
  if (node->text == "torch._utils._rebuild_parameter" || node->text == "torch._utils._rebuild_parameter_with_state") {
    DIFFERNET_CHECK(!node->items.empty() && node->items[0]->kind == Kind::Call, where, ": ", node->text, " without a tensor");
    node = node->items[0];
  }
  const std::vector<PickleValue*>& args = node->items;
  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]);
  // legacy _rebuild_tensor(storage, offset, size, stride).
  const bool v2 = node->text == "torch._utils._rebuild_tensor_v2";
  DIFFERNET_CHECK(v2 || node->text == "torch._utils._rebuild_tensor", where, ": unexpected call to ", node->text);
  DIFFERNET_CHECK(v2 ? (args.size() == 6 || args.size() == 7) : args.size() == 4, where, ": ", node->text, " with ",
                  args.size(), " arguments");
  const StorageRef ref = storage_ref(*args[0], where);
  DIFFERNET_CHECK(args[1]->kind == Kind::Int, where, ": storage offset is a ", pickle_kind_name(args[1]->kind));
  std::string_view bytes = storage_bytes(ref);
  if (ref.view_size >= 0) {
    const uint64_t itemsize = dtype_size(ref.dtype);
    DIFFERNET_CHECK(uint64_t(ref.view_offset) <= bytes.size() / itemsize &&
                        uint64_t(ref.view_size) <= bytes.size() / itemsize - uint64_t(ref.view_offset),
                    where, ": storage view outside storage ", ref.key);
    bytes = bytes.substr(ref.view_offset * itemsize, ref.view_size * itemsize);
  }
  const std::vector<int64_t> size = int_tuple(*args[2], where, "size");
  const uint64_t numel = uint64_t(checked_numel(size, where));
  const uint64_t itemsize = dtype_size(ref.dtype);
  DIFFERNET_CHECK(numel <= budget.bytes_left / itemsize, where, ": the tensors need more bytes than ", kCopyBudgetFactor,
                  "x the file size (hostile file?)");
  budget.bytes_left -= numel * itemsize;
  out = copy_strided(bytes, ref.dtype, args[1]->integer, size, int_tuple(*args[3], where, "stride"),
                     where + " (storage " + ref.key + ")");
  return true;
}

RawTensorMap collect_tensors(const PickleValue& root, const std::string& what, uint64_t file_size,
                             const StorageBytes& storage_bytes) {
  CopyBudget budget{kCopyBudgetFactor * file_size + (1u << 20)};
  const PickleValue* state = &root;
  if (root.kind == Kind::Dict) {
    const PickleValue* nested = root.lookup("state_dict");
    if (nested && nested->kind == Kind::Dict) state = nested;
  }
  RawTensorMap tensors;
  for_each_dict_leaf(*state, what, [&](const std::string& name, const PickleValue& value) {
    RawTensor tensor;
    if (rebuild_tensor(value, what + ": tensor \"" + name + "\"", storage_bytes, budget, tensor))
      tensors.emplace_back(name, std::move(tensor));
  });
  return tensors;
}

// Every storage the pickle refers to, in first-use order; depth-limited walk.
void find_storages(const PickleValue& node, int depth, const std::string& what, std::map<std::string, DType>& found,
                   std::set<const PickleValue*>& seen) {
  DIFFERNET_CHECK(depth < 64, what, ": values nested deeper than 64 levels");
  if (!seen.insert(&node).second) return;
  if (node.kind == Kind::PersistentId) {
    const StorageRef ref = storage_ref(node, what);
    const auto [it, inserted] = found.emplace(ref.key, ref.dtype);
    DIFFERNET_CHECK(inserted || it->second == ref.dtype, what, ": storage ", ref.key, " used with two dtypes");
    return;
  }
  for (const PickleValue* item : node.items) find_storages(*item, depth + 1, what, found, seen);
  if (node.state) find_storages(*node.state, depth + 1, what, found, seen);
}

UnpickleOptions torch_options(const std::string& what) { return {torch_allowed_globals(), what}; }

RawTensorMap parse_zip_checkpoint(std::string_view bytes, const std::string& what) {
  const ZipArchive zip(bytes, what);
  std::string prefix;
  int found = 0;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      prefix = e.name.substr(0, slash);
      ++found;
    }
  }
  DIFFERNET_CHECK(found == 1, what, ": expected one <archive>/data.pkl entry in the zip, found ", found);
  if (const ZipEntry* order = zip.find(prefix + "/byteorder")) {
    const std::string_view byteorder = zip.read(order->name);
    DIFFERNET_CHECK(byteorder == "little", what, ": byteorder \"", byteorder, "\" is not supported (only little-endian)");
  }
  const std::string pickle_name = prefix + "/data.pkl";
  const std::string_view pickle_bytes = zip.read(pickle_name);
  size_t offset = 0;
  const auto pickle = unpickle(pickle_bytes, offset, torch_options(what + " (" + pickle_name + ")"));
  return collect_tensors(*pickle->root, what, bytes.size(), [&](const StorageRef& ref) {
    return zip.read(prefix + "/data/" + ref.key);
  });
}

RawTensorMap parse_legacy_checkpoint(std::string_view bytes, const std::string& what) {
  size_t offset = 0;
  const UnpickleOptions plain{{}, what};
  const auto magic = unpickle(bytes, offset, plain);
  DIFFERNET_CHECK(magic->root->kind == Kind::BigInt && magic->root->text == std::string_view(kLegacyMagic, 10), what,
                  ": wrong magic number (not a legacy PyTorch checkpoint)");
  const auto version = unpickle(bytes, offset, plain);
  DIFFERNET_CHECK(version->root->kind == Kind::Int && version->root->integer == kLegacyProtocolVersion, what,
                  ": unsupported legacy protocol version (expected 1001)");
  const auto sys_info = unpickle(bytes, offset, plain);
  const PickleValue* little = sys_info->root->lookup("little_endian");
  DIFFERNET_CHECK(little && little->kind == Kind::Bool && little->integer == 1, what,
                  ": the system info does not say little_endian=True (big-endian files are not supported)");
  const auto state = unpickle(bytes, offset, torch_options(what));
  const auto keys = unpickle(bytes, offset, plain);
  DIFFERNET_CHECK(keys->root->kind == Kind::List, what, ": the storage key list is a ", pickle_kind_name(keys->root->kind));

  std::map<std::string, DType> dtypes;
  std::set<const PickleValue*> seen;
  find_storages(*state->root, 0, what, dtypes, seen);
  std::map<std::string, std::string_view> storages;
  for (const PickleValue* key : keys->root->items) {
    DIFFERNET_CHECK(key->kind == Kind::String, what, ": storage key of type ", pickle_kind_name(key->kind));
    const auto dtype = dtypes.find(key->text);
    DIFFERNET_CHECK(dtype != dtypes.end(), what, ": storage ", key->text, " is stored but never used");
    DIFFERNET_CHECK(!storages.count(key->text), what, ": storage ", key->text, " is stored twice");
    const uint64_t itemsize = dtype_size(dtype->second);
    DIFFERNET_CHECK(bytes.size() - offset >= 8, what, ": truncated before the data of storage ", key->text);
    int64_t count;
    std::memcpy(&count, bytes.data() + offset, 8);
    offset += 8;
    DIFFERNET_CHECK(count >= 0 && uint64_t(count) <= (bytes.size() - offset) / itemsize, what, ": storage ", key->text,
                    " claims ", count, " elements but the file has ", bytes.size() - offset, " bytes left (truncated?)");
    storages[key->text] = bytes.substr(offset, count * itemsize);
    offset += count * itemsize;
  }
  return collect_tensors(*state->root, what, bytes.size(), [&](const StorageRef& ref) {
    const auto it = storages.find(ref.key);
    DIFFERNET_CHECK(it != storages.end(), what, ": storage ", ref.key, " is used but its data is missing");
    return it->second;
  });
}

}  // namespace

const std::set<std::string>& torch_allowed_globals() {
  static const std::set<std::string> globals = [] {
    std::set<std::string> g = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
                               "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"};
    for (const auto& entry : storage_dtypes()) g.insert(entry.first);
    return g;
  }();
  return globals;
}

std::string detect_weights_format(std::string_view bytes, const std::string& what) {
  if (bytes.substr(0, 4) == std::string_view("PK\x03\x04", 4)) return "pytorch-zip";
  if (bytes.substr(0, 4) == std::string_view("\x80\x02\x8a\x0a", 4)) return "pytorch-legacy";
  if (bytes.size() >= 9 && bytes[8] == '{') return "safetensors";
  throw Error(what + ": not a PyTorch checkpoint (zip or legacy) or a safetensors file: unrecognised first bytes");
}

RawTensorMap parse_pytorch_checkpoint(std::string_view bytes, const std::string& what) {
  const std::string format = detect_weights_format(bytes, what);
  DIFFERNET_CHECK(format != "safetensors", what, ": is a safetensors file, not a PyTorch checkpoint");
  return format == "pytorch-zip" ? parse_zip_checkpoint(bytes, what) : parse_legacy_checkpoint(bytes, what);
}

RawTensorMap load_pytorch_checkpoint(const std::string& path) { return parse_pytorch_checkpoint(read_file_bytes(path), path); }

RawTensorMap load_weights_file(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  if (detect_weights_format(bytes, path) == "safetensors") return parse_safetensors(bytes, path).tensors;
  return parse_pytorch_checkpoint(bytes, path);
}

}  // namespace differnet::weights
