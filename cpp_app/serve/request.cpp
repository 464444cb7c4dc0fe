// Route and :predict body parsing for linreg_serve (see request.h). Numbers are JSON numbers,
// parsed correctly rounded (number_precision::precise), so a value reaches the model exactly as
// linreg_predict would read the same text.
#include "request.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>

namespace linreg_serve {
namespace {

namespace json = boost::json;

constexpr std::string_view kModelsPrefix = "/v1/models/";
constexpr std::string_view kMetricsPath = "/monitoring/prometheus/metrics";

[[noreturn]] void not_found(std::string_view path) {
  throw ApiError(
      404, "no endpoint at '" + std::string(path.substr(0, 200)) +
               "': expected /v1/models/NAME[/versions/N][/metadata|:predict] or " +
               std::string(kMetricsPath));
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) {
      return parts;
    }
    start = end + 1;
  }
}

std::optional<int64_t> parse_version(std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return std::nullopt;
  }
  return v;
}

std::string shortest(double value) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
    default:
      return "a number";
  }
}

// Whether an input value can reach the model: finite, and still finite as float32 for a float32
// model. `number` says why not; the fast parse only hands the body over.
bool finite_in_dtype(double x, bool float32) {
  return std::isfinite(x) && (!float32 || std::isfinite(static_cast<float>(x)));
}

// One input value. `where()` names it for messages ("instances[3][1]", "inputs.x[2]"); it is
// called only on an error, so a valid request builds no such strings.
template <typename Where>
double number(const json::value& v, const Where& where, bool float32) {
  double x;
  if (v.is_double()) {
    x = v.get_double();
  } else if (v.is_int64()) {
    x = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    x = static_cast<double>(v.get_uint64());
  } else {
    throw ApiError(400, where() + ": expected a number, got " + kind_name(v));
  }
  if (finite_in_dtype(x, float32)) {
    return x;
  }
  if (!std::isfinite(x)) {
    throw ApiError(400, where() + ": expected a finite number, got one beyond float64's range");
  }
  throw ApiError(
      400, where() + ": " + shortest(x) + " overflows float32, the model's dtype (largest " +
               shortest(std::numeric_limits<float>::max()) + ")");
}

std::string feature_list(const Signature& sig) {
  std::string names;
  for (const auto& name : sig.feature_names) {
    names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

template <typename Where>
int64_t feature_index(const Signature& sig, std::string_view key, const Where& where) {
  for (size_t i = 0; i < sig.feature_names.size(); ++i) {
    if (sig.feature_names[i] == key) {
      return static_cast<int64_t>(i);
    }
  }
  throw ApiError(
      400, where() + ": unknown feature '" + std::string(key.substr(0, 100)) +
               "'; the model's features are " + feature_list(sig));
}

// Appends one instance (row format): a number (1-feature models), a list of in_features numbers,
// or an object keyed by feature name.
void append_instance(
    const json::value& v,
    const char* key,
    size_t i,
    const Signature& sig,
    std::vector<double>& rows) {
  const int64_t D = sig.in_features;
  const auto where = [&] { return std::string(key) + "[" + std::to_string(i) + "]"; };
  if (v.is_number()) {
    if (D != 1) {
      throw ApiError(
          400, where() + ": a number is an instance of a 1-feature model; this model takes " +
                   std::to_string(D) + " features (" + feature_list(sig) +
                   "): give a list of numbers or an object keyed by feature name");
    }
    rows.push_back(number(v, where, sig.float32));
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (static_cast<int64_t>(a.size()) != D) {
      throw ApiError(
          400, where() + ": expected " + std::to_string(D) + " numbers (one per feature), got " +
                   std::to_string(a.size()));
    }
    for (size_t j = 0; j < a.size(); ++j) {
      rows.push_back(
          number(a[j], [&] { return where() + "[" + std::to_string(j) + "]"; }, sig.float32));
    }
  } else if (v.is_object()) {
    const size_t start = rows.size();
    rows.resize(start + D, std::numeric_limits<double>::quiet_NaN());
    std::vector<bool> seen(D, false);
    for (const auto& [name, value] : v.get_object()) {
      const int64_t j = feature_index(sig, name, where);
      rows[start + j] =
          number(value, [&] { return where() + "." + std::string(name); }, sig.float32);
      seen[j] = true;
    }
    for (int64_t j = 0; j < D; ++j) {
      if (!seen[j]) {
        throw ApiError(400, where() + ": missing feature '" + sig.feature_names[j] + "'");
      }
    }
  } else {
    throw ApiError(
        400, where() + ": expected an instance (" + (D == 1 ? "a number, " : "") + "a list of " +
                 std::to_string(D) + " numbers or an object keyed by feature name), got " +
                 kind_name(v));
  }
}

void parse_rows(const json::value& v, const char* key, const Signature& sig, PredictRequest& req) {
  if (!v.is_array()) {
    throw ApiError(400, std::string(key) + ": expected a list of instances, got " + kind_name(v));
  }
  const auto& a = v.get_array();
  if (a.empty()) {
    throw ApiError(400, std::string(key) + ": expected at least one instance, got an empty list");
  }
  req.rows.reserve(a.size() * sig.in_features);
  for (size_t i = 0; i < a.size(); ++i) {
    append_instance(a[i], key, i, sig, req.rows);
  }
  req.n = static_cast<int64_t>(a.size());
}

// Columnar "inputs" keyed by feature name: {"x0": [1, 2], "x1": [3, 4]} is two rows.
void parse_columns(const json::object& columns, const Signature& sig, PredictRequest& req) {
  const int64_t D = sig.in_features;
  std::vector<const json::array*> by_feature(D, nullptr);
  for (const auto& [key, value] : columns) {
    const int64_t j = feature_index(sig, key, [] { return std::string("inputs"); });
    if (!value.is_array()) {
      throw ApiError(
          400,
          "inputs." + std::string(key) + ": expected a list of numbers, got " + kind_name(value));
    }
    by_feature[j] = &value.get_array();
  }
  for (int64_t j = 0; j < D; ++j) {
    if (by_feature[j] == nullptr) {
      throw ApiError(400, "inputs: missing feature '" + sig.feature_names[j] + "'");
    }
    if (by_feature[j]->size() != by_feature[0]->size()) {
      throw ApiError(
          400, "inputs." + sig.feature_names[j] + ": expected " +
                   std::to_string(by_feature[0]->size()) + " values (as many as inputs." +
                   sig.feature_names[0] + "), got " + std::to_string(by_feature[j]->size()));
    }
  }
  req.n = static_cast<int64_t>(by_feature[0]->size());
  if (req.n == 0) {
    throw ApiError(400, "inputs: expected at least one value per feature, got empty lists");
  }
  req.rows.resize(req.n * D);
  for (int64_t j = 0; j < D; ++j) {
    for (int64_t i = 0; i < req.n; ++i) {
      const auto where = [&] {
        return "inputs." + sig.feature_names[j] + "[" + std::to_string(i) + "]";
      };
      req.rows[i * D + j] = number((*by_feature[j])[i], where, sig.float32);
    }
  }
}

json::parse_options json_options() {
  json::parse_options options;
  options.numbers = json::number_precision::precise;
  options.max_depth = 16;  // a :predict body is 3 deep; deeper is malformed, not a stack risk
  return options;
}

json::value parse_json(std::string_view text, const json::storage_ptr& storage) {
  boost::system::error_code ec;
  // The parsed tree lives in `storage`, freed at once when the request is done.
  json::value v = json::parse(text, ec, storage, json_options());
  if (ec) {
    throw ApiError(
        400,
        "malformed JSON: " + ec.message() + " (expected an object like {\"instances\": [...]})");
  }
  return v;
}

// parse_predict_fast's Boost.JSON handler: the events of a body in the common shape become rows
// as they arrive. Any other event (an object instance, a string, a wrong row length, a value
// that is not finite in the model's dtype, a repeated or unknown key) stops the parse, and
// parse_predict_general reads the body again: it alone writes error messages.
class RowsHandler {
  using error_code = boost::system::error_code;
  using string_view = json::string_view;

 public:
  static constexpr size_t max_object_size = 3;
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = 14;
  static constexpr size_t max_string_size = 15;

  explicit RowsHandler(const Signature& sig) : sig_(sig) {}

  // The whole body was one object with the rows and nothing else amiss.
  bool complete() const {
    return have_rows_ && request.n > 0;
  }

  PredictRequest request;

  bool on_document_begin(error_code&) {
    return true;
  }
  bool on_document_end(error_code&) {
    return true;
  }
  bool on_object_begin(error_code& ec) {
    return depth_++ == 0 || stop(ec);  // only the root is an object
  }
  bool on_object_end(size_t, error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(error_code& ec) {
    ++depth_;
    if (depth_ == 2 && key_ == Key::kRows) {
      return true;
    }
    row_start_ = request.rows.size();
    return (depth_ == 3 && key_ == Key::kRows) || stop(ec);  // an instance as a list
  }
  bool on_array_end(size_t n, error_code& ec) {
    if (--depth_ == 2) {  // an instance's list: one number per feature
      ++request.n;
      return static_cast<int64_t>(n) == sig_.in_features || stop(ec);
    }
    key_ = Key::kNone;
    return true;
  }
  bool on_key_part(string_view part, size_t, error_code&) {
    key_text_.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view part, size_t, error_code& ec) {
    key_text_.append(part.data(), part.size());
    const std::string_view key(key_text_.data(), key_text_.size());
    bool repeated = false;
    if (key == "instances" || key == "inputs") {
      repeated = have_rows_;
      have_rows_ = true;
      request.columnar = key == "inputs";
      key_ = Key::kRows;
    } else if (key == "signature_name") {
      repeated = have_signature_;
      have_signature_ = true;
      key_ = Key::kSignature;
    } else {
      return stop(ec);
    }
    key_text_.clear();
    return !repeated || stop(ec);
  }
  bool on_string_part(string_view part, size_t, error_code&) {
    value_text_.append(part.data(), part.size());
    return true;
  }
  bool on_string(string_view part, size_t, error_code& ec) {
    value_text_.append(part.data(), part.size());
    const bool ok = depth_ == 1 && key_ == Key::kSignature && value_text_ == "serving_default";
    key_ = Key::kNone;
    return ok || stop(ec);
  }
  bool on_number_part(string_view, error_code&) {
    return true;
  }
  bool on_int64(int64_t v, string_view, error_code& ec) {
    return row_value(static_cast<double>(v), ec);
  }
  bool on_uint64(uint64_t v, string_view, error_code& ec) {
    return row_value(static_cast<double>(v), ec);
  }
  bool on_double(double v, string_view, error_code& ec) {
    return row_value(v, ec);
  }
  bool on_bool(bool, error_code& ec) {
    return stop(ec);
  }
  bool on_null(error_code& ec) {
    return stop(ec);
  }
  bool on_comment_part(string_view, error_code& ec) {
    return stop(ec);
  }
  bool on_comment(string_view, error_code& ec) {
    return stop(ec);
  }

 private:
  enum class Key { kNone, kRows, kSignature };

  bool stop(error_code& ec) {
    ec = json::error::exception;  // any error: parse_predict_general takes over
    return false;
  }

  // A number in the rows: a whole instance of a 1-feature model (depth 2) or one feature of a
  // list instance (depth 3), checked as `number` checks it.
  bool row_value(double x, error_code& ec) {
    if (key_ != Key::kRows || !finite_in_dtype(x, sig_.float32)) {
      return stop(ec);
    }
    if (depth_ == 2) {
      if (sig_.in_features != 1) {
        return stop(ec);
      }
      ++request.n;
    } else if (
        depth_ != 3 || static_cast<int64_t>(request.rows.size() - row_start_) >= sig_.in_features) {
      return stop(ec);
    }
    request.rows.push_back(x);
    return true;
  }

  const Signature& sig_;
  int depth_ = 0;
  Key key_ = Key::kNone;
  bool have_rows_ = false;
  bool have_signature_ = false;
  size_t row_start_ = 0;
  std::string key_text_;
  std::string value_text_;
};

}  // namespace

Route parse_route(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == kMetricsPath) {
    return Route{Endpoint::kMetrics, "", std::nullopt};
  }
  if (!path.starts_with(kModelsPrefix)) {
    not_found(path);
  }
  std::string_view rest = path.substr(kModelsPrefix.size());
  Endpoint endpoint = Endpoint::kStatus;
  if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.substr(colon + 1) != "predict") {
      throw ApiError(
          404, "unknown verb ':" + std::string(rest.substr(colon + 1, 100)) +
                   "': this server answers :predict");
    }
    endpoint = Endpoint::kPredict;
    rest = rest.substr(0, colon);
  }
  std::vector<std::string_view> parts = split(rest, '/');
  if (endpoint == Endpoint::kStatus && parts.size() > 1 && parts.back() == "metadata") {
    endpoint = Endpoint::kMetadata;
    parts.pop_back();
  }
  Route route{endpoint, std::string(parts[0]), std::nullopt};
  if (route.model.empty() || (parts.size() != 1 && parts.size() != 3)) {
    not_found(path);
  }
  if (parts.size() == 3) {
    route.version = parse_version(parts[2]);
    if (parts[1] != "versions" || !route.version) {
      not_found(path);
    }
  }
  return route;
}

PredictRequest parse_predict(std::string_view body, const Signature& sig) {
  if (std::optional<PredictRequest> req = parse_predict_fast(body, sig)) {
    return std::move(*req);
  }
  return parse_predict_general(body, sig);
}

std::optional<PredictRequest> parse_predict_fast(std::string_view body, const Signature& sig) {
  json::basic_parser<RowsHandler> parser(json_options(), sig);
  // At least two characters a number: room for every row without regrowth, within reason.
  parser.handler().request.rows.reserve(std::min<size_t>(body.size() / 2, 1 << 16));
  boost::system::error_code ec;
  const size_t used = parser.write_some(false, body.data(), body.size(), ec);
  RowsHandler& h = parser.handler();
  if (ec || used != body.size() || !parser.done() || !h.complete()) {
    return std::nullopt;
  }
  return std::move(h.request);
}

PredictRequest parse_predict_general(std::string_view body, const Signature& sig) {
  unsigned char first_block[16384];  // most bodies parse without a heap allocation for the tree
  const json::storage_ptr storage =
      json::make_shared_resource<json::monotonic_resource>(first_block, sizeof first_block);
  const json::value root = parse_json(body, storage);
  if (!root.is_object()) {
    throw ApiError(
        400,
        std::string("expected a JSON object like {\"instances\": [...]}, got ") + kind_name(root));
  }
  const json::value* instances = nullptr;
  const json::value* inputs = nullptr;
  for (const auto& [key, value] : root.get_object()) {
    if (key == "instances") {
      instances = &value;
    } else if (key == "inputs") {
      inputs = &value;
    } else if (key == "signature_name") {
      if (!value.is_string() || value.get_string() != "serving_default") {
        throw ApiError(
            400,
            "signature_name: expected \"serving_default\", the only signature, got " +
                (value.is_string() ? "'" + std::string(value.get_string().subview(0, 100)) + "'"
                                   : std::string(kind_name(value))));
      }
    } else {
      throw ApiError(
          400, "unknown key '" + std::string(key.substr(0, 100)) +
                   "': expected \"instances\" or \"inputs\", and optionally \"signature_name\"");
    }
  }
  if ((instances == nullptr) == (inputs == nullptr)) {
    throw ApiError(
        400, instances ? "give \"instances\" or \"inputs\", not both"
                       : "expected \"instances\" (row format) or \"inputs\" (columnar format)");
  }
  PredictRequest req;
  if (instances) {
    parse_rows(*instances, "instances", sig, req);
  } else if (inputs->is_object()) {
    req.columnar = true;
    parse_columns(inputs->get_object(), sig, req);
  } else {
    req.columnar = true;
    parse_rows(*inputs, "inputs", sig, req);
  }
  return req;
}

std::vector<std::string> feature_names_from_metadata(
    const std::string& metadata_json,
    int64_t in_features) {
  std::vector<std::string> names;
  boost::system::error_code ec;
  const json::value meta = json::parse(metadata_json.empty() ? "{}" : metadata_json, ec);
  if (ec || !meta.is_object()) {
    throw std::runtime_error("metadata.json is not a JSON object");
  }
  if (const json::value* given = meta.get_object().if_contains("feature_names")) {
    if (!given->is_array() || static_cast<int64_t>(given->get_array().size()) != in_features) {
      throw std::runtime_error(
          "metadata.json: feature_names must list " + std::to_string(in_features) +
          " names (in_features)");
    }
    for (const auto& name : given->get_array()) {
      if (!name.is_string()) {
        throw std::runtime_error("metadata.json: feature_names must be strings");
      }
      names.emplace_back(name.get_string());
    }
  } else {
    for (int64_t i = 0; i < in_features; ++i) {
      names.push_back("x" + std::to_string(i));
    }
  }
  return names;
}

}  // namespace linreg_serve
