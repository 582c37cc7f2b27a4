#include "weights/json.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "autograd/error.h"

namespace differnet::weights {

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& [name, value] : members)
    if (name == key) return &value;
  return nullptr;
}

const char* json_kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::Null: return "null";
    case JsonValue::Kind::Bool: return "boolean";
    case JsonValue::Kind::Int: return "integer";
    case JsonValue::Kind::Real: return "number";
    case JsonValue::Kind::String: return "string";
    case JsonValue::Kind::Array: return "array";
    case JsonValue::Kind::Object: return "object";
  }
  return "?";
}

namespace {

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& what, JsonNumbers numbers)
      : text_(text), what_(what), numbers_(numbers) {}

  JsonValue parse_document() {
    JsonValue value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(detail::concat(what_, ": bad JSON at byte ", pos_, ": ", message));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  char peek() {
    if (pos_ >= text_.size()) fail("unexpected end of text");
    return text_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(detail::concat("expected '", c, "'"));
    ++pos_;
  }

  void expect_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  JsonValue parse_value(int depth) {
    if (depth >= kMaxJsonDepth) fail(detail::concat("nesting deeper than ", kMaxJsonDepth));
    skip_space();
    JsonValue v;
    const char c = peek();
    if (c == '{') {
      v.kind = JsonValue::Kind::Object;
      ++pos_;
      skip_space();
      if (peek() == '}') { ++pos_; return v; }
      for (;;) {
        skip_space();
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        if (v.find(key)) fail(detail::concat("duplicate key \"", key, "\""));
        skip_space();
        expect(':');
        v.members.emplace_back(std::move(key), parse_value(depth + 1));
        skip_space();
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::Array;
      ++pos_;
      skip_space();
      if (peek() == ']') { ++pos_; return v; }
      for (;;) {
        v.elements.push_back(parse_value(depth + 1));
        skip_space();
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.text = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = pos_;
      v.kind = JsonValue::Kind::Int;
      v.integer = parse_integer();
      if (numbers_ == JsonNumbers::Any && pos_ < text_.size() &&
          (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
        v.kind = JsonValue::Kind::Real;
        v.real = parse_fraction_and_exponent(start);
      }
      return v;
    }
    if (c == 't') { expect_word("true"); v.kind = JsonValue::Kind::Bool; v.boolean = true; return v; }
    if (c == 'f') { expect_word("false"); v.kind = JsonValue::Kind::Bool; return v; }
    if (c == 'n') { expect_word("null"); return v; }
    fail("expected a value");
  }

  int64_t parse_integer() {
    const bool negative = text_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') fail("expected a digit");
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail("leading zeros are not allowed");
    // Accumulate as a negative number so that INT64_MIN fits.
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (value < (std::numeric_limits<int64_t>::min() + digit) / 10) fail("integer out of the int64 range");
      value = value * 10 - digit;
      ++pos_;
    }
    if (numbers_ == JsonNumbers::IntegersOnly && pos_ < text_.size() &&
        (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      fail("only integers are supported");
    if (!negative) {
      if (value == std::numeric_limits<int64_t>::min()) fail("integer out of the int64 range");
      value = -value;
    }
    return value;
  }

  void skip_digits() {
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') fail("expected a digit");
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
  }

  // The rest of a number whose integer part (from `start`) has been read: JSON's
  // grammar is checked here, so strtod sees only a valid number.
  double parse_fraction_and_exponent(size_t start) {
    if (text_[pos_] == '.') {
      ++pos_;
      skip_digits();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      skip_digits();
    }
    const double value = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    if (!std::isfinite(value)) fail("number out of the double range");
    return value;
  }

  unsigned parse_hex4() {
    if (text_.size() - pos_ < 4) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') code |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') code |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') code |= unsigned(h - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += char(code);
    } else if (code < 0x800) {
      out += char(0xc0 | (code >> 6));
      out += char(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += char(0xe0 | (code >> 12));
      out += char(0x80 | ((code >> 6) & 0x3f));
      out += char(0x80 | (code & 0x3f));
    } else {
      out += char(0xf0 | (code >> 18));
      out += char(0x80 | ((code >> 12) & 0x3f));
      out += char(0x80 | ((code >> 6) & 0x3f));
      out += char(0x80 | (code & 0x3f));
    }
  }

  // Copies one UTF-8 encoded code point, refusing malformed, overlong and surrogate encodings.
  void copy_utf8(std::string& out) {
    const auto lead = static_cast<unsigned char>(text_[pos_]);
    int extra;
    unsigned code, min;
    if (lead >= 0xc2 && lead <= 0xdf) { extra = 1; code = lead & 0x1f; min = 0x80; }
    else if (lead >= 0xe0 && lead <= 0xef) { extra = 2; code = lead & 0x0f; min = 0x800; }
    else if (lead >= 0xf0 && lead <= 0xf4) { extra = 3; code = lead & 0x07; min = 0x10000; }
    else fail("invalid UTF-8 in string");
    if (text_.size() - pos_ <= size_t(extra)) fail("truncated UTF-8 sequence");
    for (int i = 1; i <= extra; ++i) {
      const auto c = static_cast<unsigned char>(text_[pos_ + i]);
      if ((c & 0xc0) != 0x80) fail("invalid UTF-8 in string");
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) fail("invalid UTF-8 in string");
    out.append(text_.substr(pos_, extra + 1));
    pos_ += extra + 1;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') { ++pos_; return out; }
      if (c < 0x20) fail("control character in string");
      if (c >= 0x80) { copy_utf8(out); continue; }
      ++pos_;
      if (c != '\\') { out += char(c); continue; }
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xdc00 && code <= 0xdfff) fail("unpaired low surrogate");
          if (code >= 0xd800 && code <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") fail("unpaired high surrogate");
            pos_ += 2;
            const unsigned low = parse_hex4();
            if (low < 0xdc00 || low > 0xdfff) fail("unpaired high surrogate");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail("unknown escape");
      }
    }
  }

  std::string_view text_;
  const std::string& what_;
  JsonNumbers numbers_;
  size_t pos_ = 0;
};

}  // namespace

JsonValue parse_json(std::string_view text, const std::string& what, JsonNumbers numbers) {
  return JsonParser(text, what, numbers).parse_document();
}

std::string json_quote(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

}  // namespace differnet::weights
