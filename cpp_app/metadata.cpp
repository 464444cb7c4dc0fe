// metadata.json parsing (see metadata.h): a small strict JSON reader (RFC 8259 syntax; numbers
// via strtod, strings with escapes) and the checks that make a file a linreg_ext model.
#include "metadata.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>

namespace linreg_app {
namespace {

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;
};

class Reader {
 public:
  explicit Reader(const std::string& text) : s_(text) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size())
      fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + " at offset " + std::to_string(i_));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c))
      fail(std::string("expected '") + c + "'");
  }
  bool word(const char* w) {
    const std::string ws(w);
    if (s_.compare(i_, ws.size(), ws) != 0)
      return false;
    i_ += ws.size();
    return true;
  }

  Json value(int depth) {
    if (depth > 64)
      fail("nesting too deep");
    skip_space();
    if (i_ >= s_.size())
      fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::kObject;
      ++i_;
      if (eat('}'))
        return v;
      do {
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '"')
          fail("expected a member name");
        std::string key = string();
        expect(':');
        v.object[key] = value(depth + 1);
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      v.kind = Json::kArray;
      ++i_;
      if (eat(']'))
        return v;
      do {
        v.array.push_back(value(depth + 1));
      } while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::kString;
      v.string = string();
    } else if (word("true") || word("false")) {
      v.kind = Json::kBool;
    } else if (word("null")) {
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      // JSON numbers are a subset of what strtod reads; NaN/Infinity (Python's extension) are not
      // numbers here, so the subset check is on the first character only.
      char* end = nullptr;
      v.kind = Json::kNumber;
      v.number = std::strtod(s_.c_str() + i_, &end);
      i_ = end - s_.c_str();
    } else {
      fail("unexpected character");
    }
    return v;
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size())
        break;
      c = s_[i_++];
      const std::string simple = "\"\\/bfnrt", meaning = "\"\\/\b\f\n\r\t";
      if (const auto k = simple.find(c); k != std::string::npos) {
        out += meaning[k];
      } else if (c == 'u' && i_ + 4 <= s_.size()) {
        // Only ASCII matters to the checks; other code points are kept as '?'.
        const unsigned long code = std::strtoul(s_.substr(i_, 4).c_str(), nullptr, 16);
        out += code < 0x80 ? static_cast<char>(code) : '?';
        i_ += 4;
      } else {
        fail("bad escape");
      }
    }
    if (i_ >= s_.size())
      fail("unterminated string");
    ++i_;
    return out;
  }

  const std::string& s_;
  size_t i_ = 0;
};

const Json* member(const Json& object, const std::string& name) {
  const auto it = object.object.find(name);
  return it == object.object.end() ? nullptr : &it->second;
}

std::string string_member(const Json& object, const std::string& name) {
  const Json* v = member(object, name);
  return v && v->kind == Json::kString ? v->string : "";
}

}  // namespace

ModelMetadata parse_metadata(const std::string& text, const std::string& path, bool needs_cpu_isa) {
  const std::string where = "'" + path + "'";
  Json root;
  try {
    root = Reader(text).document();
  } catch (const std::runtime_error&) {
    throw std::runtime_error(where + " is not a linreg_ext model (metadata.json is not JSON)");
  }
  if (root.kind != Json::kObject || !member(root, "linreg_ext_version")) {
    throw std::runtime_error(where + " is not a linreg_ext model (no linreg_ext metadata.json)");
  }
  ModelMetadata m;
  m.text = text;
  const Json* D = member(root, "in_features");
  if (!D || D->kind != Json::kNumber || D->number < 1 || D->number > 1e15 ||
      D->number != static_cast<double>(static_cast<int64_t>(D->number))) {
    throw std::runtime_error(where + ": metadata.json in_features must be an integer >= 1");
  }
  m.in_features = static_cast<int64_t>(D->number);
  const std::string dtype = string_member(root, "dtype");
  if (dtype != "float32" && dtype != "float64") {
    throw std::runtime_error(
        where + ": metadata.json dtype must be float32 or float64, got '" + dtype + "'");
  }
  m.dtype = dtype == "float32" ? c10::ScalarType::Float : c10::ScalarType::Double;
  if (member(root, "device")) {
    m.device = string_member(root, "device");
    if (m.device != "cpu" && m.device != "cuda") {
      throw std::runtime_error(where + ": metadata.json device must be cpu or cuda");
    }
  }
  if (needs_cpu_isa) {
    const Json* isa = member(root, "cpu_isa");
    const Json* requires_ = isa && isa->kind == Json::kObject ? member(*isa, "requires") : nullptr;
    if (!requires_ || requires_->kind != Json::kArray) {
      throw std::runtime_error(
          where + ": metadata.json does not say which CPU it was compiled for (cpu_isa)");
    }
    m.cpu_isa = string_member(*isa, "name");
    m.cpu_march = string_member(*isa, "march");
    for (const Json& feature : requires_->array) {
      m.cpu_requires.push_back(feature.kind == Json::kString ? feature.string : "?");
    }
  }
  return m;
}

}  // namespace linreg_app
