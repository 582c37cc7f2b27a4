// A small strict JSON reader for file headers (safetensors) and the programs'
// own result files: objects, arrays, strings with escapes, integers,
// true/false/null, and (only when asked for) numbers with fractions and
// exponents. Hostile input gives differnet::Error, never a crash: nesting is
// limited, every read is bounds-checked, strings must be valid UTF-8.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace differnet::weights {

struct JsonValue {
  enum class Kind { Null, Bool, Int, Real, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;                                        // Kind::Real (finite)
  std::string text;                                       // Kind::String
  std::vector<JsonValue> elements;                        // Kind::Array
  std::vector<std::pair<std::string, JsonValue>> members;  // Kind::Object, in file order, keys unique

  // The member called `key`, or nullptr (Kind::Object only).
  const JsonValue* find(std::string_view key) const;
  bool is_number() const { return kind == Kind::Int || kind == Kind::Real; }
  double number() const { return kind == Kind::Real ? real : double(integer); }  // Int or Real
};

const char* json_kind_name(JsonValue::Kind kind);

constexpr int kMaxJsonDepth = 64;

enum class JsonNumbers { IntegersOnly, Any };

// Parses the whole of `text`; errors name `what` (the file) and the byte offset.
// IntegersOnly (file headers) refuses fractions and exponents; Any reads them as Kind::Real.
JsonValue parse_json(std::string_view text, const std::string& what, JsonNumbers numbers = JsonNumbers::IntegersOnly);

// `s` as a quoted JSON string, with the escapes JSON requires.
std::string json_quote(std::string_view s);

}  // namespace differnet::weights
