// JSON through nlohmann-json (Debian nlohmann-json3-dev). parse_json adds the
// limits that untrusted file headers need on top of the library's strict
// RFC 8259 parser (which already refuses bad UTF-8, unpaired surrogates and
// numbers out of the double range): nesting depth, duplicate keys, integers
// only unless asked, integers within int64. Every failure is a differnet::Error
// naming the file. Objects keep their keys in file (or insertion) order.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace differnet::weights {

using Json = nlohmann::ordered_json;

constexpr int kMaxJsonDepth = 64;

enum class JsonNumbers { IntegersOnly, Any };

// Parses the whole of `text`; errors name `what` (the file) and, for syntax
// errors, the byte offset. IntegersOnly (file headers) refuses fractions and
// exponents; Any reads them as doubles.
Json parse_json(std::string_view text, const std::string& what, JsonNumbers numbers = JsonNumbers::IntegersOnly);

// "integer" (signed or unsigned), "number" (with a fraction), "string", ...: for error messages.
const char* json_kind_name(Json::value_t kind);

// The text of a file the programs write (results.json, tables): indented by
// `indent` spaces (-1: one line), a final newline; doubles in the shortest form
// that reads back to the same value, non-finite numbers as null, bytes that are
// not UTF-8 (a path) replaced by U+FFFD rather than refused.
std::string dump_json(const Json& value, int indent = 2);

}  // namespace differnet::weights
