// A small JSON value for the files the programs write (results.json): null,
// bool, number, string, array, object (keys kept in insertion order).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace differnet::app {

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : kind_(Kind::Bool), bool_(b) {}
  Json(int v) : kind_(Kind::Number), number_(v) {}
  Json(long v) : kind_(Kind::Number), number_(double(v)) {}
  Json(long long v) : kind_(Kind::Number), number_(double(v)) {}
  Json(unsigned long v) : kind_(Kind::Number), number_(double(v)) {}
  Json(double v) : kind_(Kind::Number), number_(v) {}
  Json(const char* s) : kind_(Kind::String), string_(s) {}
  Json(std::string s) : kind_(Kind::String), string_(std::move(s)) {}
  static Json array() { Json j; j.kind_ = Kind::Array; return j; }
  static Json object() { Json j; j.kind_ = Kind::Object; return j; }

  Json& push(Json v);                        // arrays
  Json& set(const std::string& key, Json v);  // objects; replaces an existing key
  Json& operator[](const std::string& key);   // objects: get or insert null
  Kind kind() const { return kind_; }
  // Non-finite numbers are written as null: JSON has no NaN.
  std::string dump(int indent = 2) const;

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace differnet::app
