#include "apps/common/json.h"

#include <cmath>
#include <cstdio>

#include "autograd/error.h"
#include "weights/json.h"

namespace differnet::app {

Json& Json::push(Json v) {
  DIFFERNET_CHECK(kind_ == Kind::Array, "Json::push on a value that is not an array");
  items_.push_back(std::move(v));
  return items_.back();
}

Json& Json::set(const std::string& key, Json v) {
  Json& slot = (*this)[key];
  slot = std::move(v);
  return slot;
}

Json& Json::operator[](const std::string& key) {
  DIFFERNET_CHECK(kind_ == Kind::Object, "Json['", key, "'] on a value that is not an object");
  for (auto& [k, v] : members_)
    if (k == key) return v;
  members_.emplace_back(key, Json());
  return members_.back().second;
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  const std::string pad = indent > 0 ? "\n" + std::string(size_t(indent * (depth + 1)), ' ') : "";
  const std::string close_pad = indent > 0 ? "\n" + std::string(size_t(indent * depth), ' ') : "";
  switch (kind_) {
    case Kind::Null: out += "null"; break;
    case Kind::Bool: out += bool_ ? "true" : "false"; break;
    case Kind::Number: {
      if (!std::isfinite(number_)) {
        out += "null";
      } else if (number_ == std::floor(number_) && std::abs(number_) < 1e15) {
        out += std::to_string((long long)number_);
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", number_);
        out += buf;
      }
      break;
    }
    case Kind::String: out += weights::json_quote(string_); break;
    case Kind::Array:
      if (items_.empty()) {
        out += "[]";
        break;
      }
      out += "[";
      for (size_t i = 0; i < items_.size(); ++i) {
        out += (i ? "," : "") + pad;
        items_[i].dump_to(out, indent, depth + 1);
      }
      out += close_pad + "]";
      break;
    case Kind::Object:
      if (members_.empty()) {
        out += "{}";
        break;
      }
      out += "{";
      for (size_t i = 0; i < members_.size(); ++i) {
        out += (i ? "," : "") + pad + weights::json_quote(members_[i].first) + ": ";
        members_[i].second.dump_to(out, indent, depth + 1);
      }
      out += close_pad + "}";
      break;
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out + "\n";
}

}  // namespace differnet::app
