#include "weights/pickle.h"

#include <cstring>
#include <iomanip>
#include <sstream>

#include "autograd/error.h"

namespace differnet::weights {

const PickleValue* PickleValue::lookup(std::string_view key) const {
  if (kind != Kind::Dict) return nullptr;
  const PickleValue* found = nullptr;  // a later SETITEM replaces an earlier one, as in Python
  for (size_t i = 0; i + 1 < items.size(); i += 2)
    if (items[i]->kind == Kind::String && items[i]->text == key) found = items[i + 1];
  return found;
}

const char* pickle_kind_name(PickleValue::Kind kind) {
  switch (kind) {
    case PickleValue::Kind::None: return "None";
    case PickleValue::Kind::Bool: return "bool";
    case PickleValue::Kind::Int: return "int";
    case PickleValue::Kind::BigInt: return "big int";
    case PickleValue::Kind::Float: return "float";
    case PickleValue::Kind::String: return "str";
    case PickleValue::Kind::Bytes: return "bytes";
    case PickleValue::Kind::Tuple: return "tuple";
    case PickleValue::Kind::List: return "list";
    case PickleValue::Kind::Dict: return "dict";
    case PickleValue::Kind::Global: return "global";
    case PickleValue::Kind::Call: return "call";
    case PickleValue::Kind::PersistentId: return "persistent id";
  }
  return "?";
}

namespace {

constexpr size_t kMaxStack = 1 << 20;
constexpr size_t kMaxMarks = 1 << 16;
constexpr uint64_t kMaxMemo = 1 << 20;
constexpr size_t kMaxGlobalLine = 256;

const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
    case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'J': return "BININT";
    case 'K': return "BININT1"; case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE"; case 'S': return "STRING";
    case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE";
    case 'X': return "BINUNICODE"; case 'a': return "APPEND"; case 'b': return "BUILD"; case 'c': return "GLOBAL";
    case 'd': return "DICT"; case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET"; case 'l': return "LIST";
    case ']': return "EMPTY_LIST"; case 'o': return "OBJ"; case 'p': return "PUT"; case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT"; case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 0x80: return "PROTO"; case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1"; case 0x83: return "EXT2"; case 0x84: return "EXT4"; case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3"; case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1"; case 0x8b: return "LONG4"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET"; case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE"; case 0x95: return "FRAME"; case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER"; case 0x98: return "READONLY_BUFFER";
    default: return "unknown";
  }
}

class Unpickler {
 public:
  Unpickler(std::string_view bytes, size_t offset, const UnpickleOptions& options)
      : bytes_(bytes), pos_(offset), options_(options), result_(std::make_unique<Pickle>()) {}

  std::unique_ptr<Pickle> run(size_t& end) {
    for (;;) {
      op_pos_ = pos_;
      op_ = read_u8();
      if (op_ == '.') {
        result_->root = pop();
        end = pos_;
        return std::move(result_);
      }
      step();
    }
  }

 private:
  using Kind = PickleValue::Kind;

  [[noreturn]] void fail(const std::string& message) const {
    std::ostringstream os;
    os << options_.what << ": pickle byte " << op_pos_ << " (opcode " << opcode_name(op_) << "): " << message;
    throw Error(os.str());
  }

  const char* need(uint64_t n) {
    if (n > bytes_.size() - pos_) fail(detail::concat("needs ", n, " more bytes but the data ends (truncated file?)"));
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t read_u8() {
    if (pos_ >= bytes_.size()) fail("the data ends before the STOP opcode (truncated file?)");
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  template <class T>
  T read_le() {
    T v;
    std::memcpy(&v, need(sizeof(T)), sizeof(T));
    return v;
  }

  PickleValue* make(Kind kind) {
    PickleValue& v = result_->values.emplace_back();
    v.kind = kind;
    return &v;
  }
  PickleValue* make_int(int64_t i) {
    PickleValue* v = make(Kind::Int);
    v->integer = i;
    return v;
  }
  PickleValue* make_text(Kind kind, uint64_t length) {
    PickleValue* v = make(kind);
    v->text.assign(need(length), length);
    return v;
  }

  void push(PickleValue* v) {
    if (stack_.size() >= kMaxStack) fail("stack too deep");
    stack_.push_back(v);
  }
  size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue* pop() {
    if (stack_.size() <= stack_floor()) fail("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.size() <= stack_floor()) fail("stack underflow");
    return stack_.back();
  }
  // The values pushed since the last MARK, which is removed.
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }
  PickleValue* tuple_of(std::vector<PickleValue*> items) {
    PickleValue* t = make(Kind::Tuple);
    t->items = std::move(items);
    return t;
  }

  void memo_put(uint64_t index) {
    if (index >= kMaxMemo) fail(detail::concat("memo index ", index, " exceeds the limit of ", kMaxMemo));
    if (index >= memo_.size()) memo_.resize(index + 1, nullptr);
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    if (index >= memo_.size() || !memo_[index]) fail(detail::concat("memo index ", index, " was never stored"));
    push(memo_[index]);
  }

  std::string read_line() {
    const size_t start = pos_;
    while (pos_ < bytes_.size() && bytes_[pos_] != '\n') {
      if (pos_ - start >= kMaxGlobalLine) fail("global name too long");
      ++pos_;
    }
    if (pos_ >= bytes_.size()) fail("the data ends inside a global name (truncated file?)");
    return std::string(bytes_.substr(start, pos_++ - start));
  }

  void push_global(const std::string& module, const std::string& name) {
    const std::string qualified = module + "." + name;
    if (!options_.allowed_globals.count(qualified)) fail(detail::concat("refusing global '", qualified, "' (not on the allow-list)"));
    PickleValue* g = make(Kind::Global);
    g->text = qualified;
    push(g);
  }

  void add_items(PickleValue* container, const std::vector<PickleValue*>& items) {
    if (container->kind == Kind::Dict) {
      if (items.size() % 2) fail("odd number of items for a dict");
    } else if (container->kind != Kind::List) {
      fail(detail::concat("cannot add items to a ", pickle_kind_name(container->kind)));
    }
    container->items.insert(container->items.end(), items.begin(), items.end());
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        const uint8_t version = read_u8();
        if (version > 5) fail(detail::concat("unsupported protocol ", int(version)));
        return;
      }
      case 0x95: need(8); return;  // FRAME: only a hint for buffered readers
      case '(':
        if (marks_.size() >= kMaxMarks) fail("too many nested MARKs");
        marks_.push_back(stack_.size());
        return;
      case '}': push(make(Kind::Dict)); return;
      case ']': push(make(Kind::List)); return;
      case ')': push(make(Kind::Tuple)); return;
      case 'N': push(make(Kind::None)); return;
      case 0x88: case 0x89: {
        PickleValue* b = make(Kind::Bool);
        b->integer = op_ == 0x88;
        push(b);
        return;
      }
      case 'J': push(make_int(read_le<int32_t>())); return;
      case 'K': push(make_int(read_le<uint8_t>())); return;
      case 'M': push(make_int(read_le<uint16_t>())); return;
      case 0x8a: {  // LONG1: little-endian two's complement
        const uint8_t n = read_u8();
        const char* p = need(n);
        if (n <= 8) {
          uint64_t u = 0;
          for (int i = n - 1; i >= 0; --i) u = (u << 8) | static_cast<uint8_t>(p[i]);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(p[n - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * n);
          push(make_int(static_cast<int64_t>(u)));
        } else {
          PickleValue* v = make(Kind::BigInt);
          v->text.assign(p, n);
          push(v);
        }
        return;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        const char* p = need(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(p[i]);
        PickleValue* v = make(Kind::Float);
        std::memcpy(&v->real, &u, 8);
        push(v);
        return;
      }
      case 'X': push(make_text(Kind::String, read_le<uint32_t>())); return;
      case 0x8c: push(make_text(Kind::String, read_le<uint8_t>())); return;
      case 0x8d: push(make_text(Kind::String, read_le<uint64_t>())); return;
      case 'T': {
        const int32_t n = read_le<int32_t>();
        if (n < 0) fail("negative string length");
        push(make_text(Kind::String, uint64_t(n)));
        return;
      }
      case 'U': push(make_text(Kind::String, read_le<uint8_t>())); return;
      case 'B': push(make_text(Kind::Bytes, read_le<uint32_t>())); return;
      case 'C': push(make_text(Kind::Bytes, read_le<uint8_t>())); return;
      case 0x8e: push(make_text(Kind::Bytes, read_le<uint64_t>())); return;
      case 't': push(tuple_of(pop_mark())); return;
      case 0x85: case 0x86: case 0x87: {
        std::vector<PickleValue*> items(op_ - 0x84);
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(tuple_of(std::move(items)));
        return;
      }
      case 'l': {
        PickleValue* list = make(Kind::List);
        list->items = pop_mark();
        push(list);
        return;
      }
      case 'd': {
        PickleValue* dict = make(Kind::Dict);
        add_items(dict, pop_mark());
        push(dict);
        return;
      }
      case '0': pop(); return;
      case '1': pop_mark(); return;
      case 'q': memo_put(read_le<uint8_t>()); return;
      case 'r': memo_put(read_le<uint32_t>()); return;
      case 0x94: memo_put(memo_.size()); return;
      case 'h': memo_get(read_le<uint8_t>()); return;
      case 'j': memo_get(read_le<uint32_t>()); return;
      case 's': {
        PickleValue* value = pop();
        PickleValue* key = pop();
        if (top()->kind != Kind::Dict) fail(detail::concat("SETITEM on a ", pickle_kind_name(top()->kind)));
        add_items(top(), {key, value});
        return;
      }
      case 'u': {
        const std::vector<PickleValue*> items = pop_mark();
        if (top()->kind != Kind::Dict) fail(detail::concat("SETITEMS on a ", pickle_kind_name(top()->kind)));
        add_items(top(), items);
        return;
      }
      case 'a': {
        PickleValue* value = pop();
        if (top()->kind != Kind::List) fail(detail::concat("APPEND to a ", pickle_kind_name(top()->kind)));
        add_items(top(), {value});
        return;
      }
      case 'e': {
        const std::vector<PickleValue*> items = pop_mark();
        if (top()->kind != Kind::List) fail(detail::concat("APPENDS to a ", pickle_kind_name(top()->kind)));
        add_items(top(), items);
        return;
      }
      case 'c': {
        const std::string module = read_line();
        const std::string name = read_line();
        push_global(module, name);
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleValue* name = pop();
        PickleValue* module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) fail("STACK_GLOBAL needs two strings");
        push_global(module->text, name->text);
        return;
      }
      case 'R': {
        PickleValue* args = pop();
        PickleValue* callable = pop();
        if (callable->kind != Kind::Global) fail(detail::concat("REDUCE on a ", pickle_kind_name(callable->kind), ", not a global"));
        if (args->kind != Kind::Tuple) fail(detail::concat("REDUCE of ", callable->text, " with a ", pickle_kind_name(args->kind), " of arguments"));
        if (callable->text == "collections.OrderedDict") {
          if (!args->items.empty()) fail("collections.OrderedDict called with arguments");
          push(make(Kind::Dict));
          return;
        }
        PickleValue* call = make(Kind::Call);
        call->text = callable->text;
        call->items = args->items;
        push(call);
        return;
      }
      case 'b': {
        PickleValue* state = pop();
        PickleValue* object = top();
        if (object->kind == Kind::Dict) return;  // attributes of an OrderedDict (torch's _metadata): not needed
        if (object->kind != Kind::Call || object->state) fail(detail::concat("BUILD on a ", pickle_kind_name(object->kind)));
        object->state = state;
        return;
      }
      case 'Q': {
        PickleValue* id = make(Kind::PersistentId);
        id->items = {pop()};
        push(id);
        return;
      }
      default: {
        std::ostringstream os;
        os << "unsupported opcode " << opcode_name(op_) << " (0x" << std::hex << std::setw(2) << std::setfill('0') << int(op_)
           << ") refused";
        fail(os.str());
      }
    }
  }

  std::string_view bytes_;
  size_t pos_;
  const UnpickleOptions& options_;
  std::unique_ptr<Pickle> result_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::vector<PickleValue*> memo_;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
};

}  // namespace

namespace {

void visit_leaves(const PickleValue& dict, const std::string& prefix, int depth, const std::string& what,
                  const std::function<void(const std::string&, const PickleValue&)>& visit,
                  std::set<const PickleValue*>& seen) {
  DIFFERNET_CHECK(depth < 32, what, ": dicts nested deeper than 32 levels at \"", prefix, "\"");
  // Each dict once: a hostile pickle could otherwise share one dict many times over.
  DIFFERNET_CHECK(seen.insert(&dict).second, what, ": the dict at \"", prefix, "\" appears twice");
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleValue& key = *dict.items[i];
    DIFFERNET_CHECK(key.kind == PickleValue::Kind::String, what, ": dict key of type ", pickle_kind_name(key.kind),
                    " under \"", prefix, "\" (state dicts have string keys)");
    const std::string name = prefix.empty() ? key.text : prefix + "." + key.text;
    const PickleValue& value = *dict.items[i + 1];
    if (value.kind == PickleValue::Kind::Dict)
      visit_leaves(value, name, depth + 1, what, visit, seen);
    else
      visit(name, value);
  }
}

}  // namespace

void for_each_dict_leaf(const PickleValue& root, const std::string& what,
                        const std::function<void(const std::string&, const PickleValue&)>& visit) {
  DIFFERNET_CHECK(root.kind == PickleValue::Kind::Dict, what, ": holds a ", pickle_kind_name(root.kind), ", not a dict");
  std::set<const PickleValue*> seen;
  visit_leaves(root, "", 0, what, visit, seen);
}

std::unique_ptr<Pickle> unpickle(std::string_view bytes, size_t& offset, const UnpickleOptions& options) {
  DIFFERNET_CHECK(offset <= bytes.size(), options.what, ": pickle offset ", offset, " past the end of the data");
  return Unpickler(bytes, offset, options).run(offset);
}

}  // namespace differnet::weights
