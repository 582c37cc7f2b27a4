#include "weights/json.h"

#include <cstdint>
#include <limits>
#include <unordered_set>
#include <vector>

#include "autograd/error.h"

namespace differnet::weights {

const char* json_kind_name(Json::value_t kind) {
  switch (kind) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    case Json::value_t::binary: return "binary";
    case Json::value_t::discarded: return "discarded";
  }
  return "?";
}

namespace {
// The library's message without its "[json.exception.parse_error.101] " tag.
std::string message_of(const Json::exception& e) {
  const std::string m = e.what();
  const size_t tag_end = m.find("] ");
  return m.rfind("[json.exception.", 0) == 0 && tag_end != std::string::npos ? m.substr(tag_end + 2) : m;
}
}  // namespace

Json parse_json(std::string_view text, const std::string& what, JsonNumbers numbers) {
  auto fail = [&](const std::string& message) { throw Error(detail::concat(what, ": bad JSON: ", message)); };
  // The keys seen so far in each open object, by depth (the parser calls back
  // with the number of enclosing containers).
  std::vector<std::unordered_set<std::string>> keys;
  const Json::parser_callback_t limits = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if (event == E::object_start || event == E::array_start || event == E::value) {
      if (depth >= kMaxJsonDepth) fail(detail::concat("nesting deeper than ", kMaxJsonDepth));
    }
    if (event == E::object_start) {
      if (keys.size() <= size_t(depth)) keys.resize(size_t(depth) + 1);
      keys[size_t(depth)].clear();
    } else if (event == E::key) {
      // A key event comes at the depth of the object's members, one below the object.
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!keys[size_t(depth) - 1].insert(key).second) fail(detail::concat("duplicate key \"", key, "\""));
    } else if (event == E::value) {
      if (parsed.is_number_float() && numbers == JsonNumbers::IntegersOnly) fail("only integers are supported");
      if (parsed.is_number_unsigned() && parsed.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        fail("integer out of the int64 range");
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), limits);
  } catch (const Json::parse_error& e) {
    throw Error(detail::concat(what, ": bad JSON at byte ", e.byte, ": ", message_of(e)));
  } catch (const Json::exception& e) {  // out_of_range: a number beyond the double range
    fail(message_of(e));
  }
  return {};  // not reached: fail throws
}

std::string dump_json(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace differnet::weights
