// A restricted pickle reader. It builds a tree of plain values and NEVER runs
// anything: a global is only a name, and it must be on the caller's allow-list;
// REDUCE on a global becomes a Call node (name + arguments) for the caller to
// interpret, BUILD attaches its state to that node, and a persistent id becomes
// a PersistentId node. Only the opcodes that state dicts and numpy arrays use are
// implemented; anything else (INST, OBJ, NEWOBJ, EXT*, ...) is refused. Sizes are
// bounded and every read is bounds-checked, so hostile bytes give a
// differnet::Error naming the file, the opcode or the global, never a crash.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace differnet::weights {

struct PickleValue {
  enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Global, Call, PersistentId };
  Kind kind = Kind::None;
  int64_t integer = 0;  // Int, Bool (0/1)
  double real = 0;      // Float
  // String, Bytes; BigInt: little-endian two's-complement bytes; Global and Call: "module.name".
  std::string text;
  // Tuple, List: the elements. Dict: key0, value0, key1, value1, ... Call: the
  // arguments. PersistentId: the id.
  std::vector<PickleValue*> items;
  PickleValue* state = nullptr;  // Call: the BUILD argument, when there was one

  // Dict only: the value stored under the string `key`, or nullptr.
  const PickleValue* lookup(std::string_view key) const;
};

const char* pickle_kind_name(PickleValue::Kind kind);

// The values of one pickle. Nodes point into `values`, which owns them all.
struct Pickle {
  std::deque<PickleValue> values;
  const PickleValue* root = nullptr;
};

struct UnpickleOptions {
  std::set<std::string> allowed_globals;  // "module.name"
  std::string what;                       // names the file (and entry) in errors
};

// Reads one pickle from `bytes` starting at `offset`; on return `offset` is just
// past its STOP opcode.
std::unique_ptr<Pickle> unpickle(std::string_view bytes, size_t& offset, const UnpickleOptions& options);

// Calls `visit(name, value)` for every value in nested dicts with string keys
// below `root` (not for the dicts themselves); names are the keys joined by '.'.
// Nesting deeper than 32 levels throws (a hostile pickle can make cycles).
void for_each_dict_leaf(const PickleValue& root, const std::string& what,
                        const std::function<void(const std::string&, const PickleValue&)>& visit);

}  // namespace differnet::weights
