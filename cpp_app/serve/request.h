// What a linreg_serve client asks for: the endpoint its path names, and the rows of a :predict
// body in TensorFlow Serving's row ("instances") or columnar ("inputs") format. No torch here, so
// the fuzz driver (fuzz_request.cpp) exercises exactly this code without loading a model.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace linreg_serve {

// A request the client can fix: the HTTP status and one line naming what was expected and what
// arrived, sent back as {"error": "..."}.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

enum class Endpoint { kStatus, kMetadata, kPredict, kMetrics };

struct Route {
  Endpoint endpoint;
  std::string model;               // empty for kMetrics
  std::optional<int64_t> version;  // nullopt: the served (highest loaded) version
};

// /v1/models/NAME[/versions/N][/metadata | :predict] or /monitoring/prometheus/metrics, with any
// query string ignored. Throws ApiError 404 for any other path.
Route parse_route(std::string_view target);

// What a request body is checked against: the served version's input signature.
struct Signature {
  int64_t in_features = 0;
  std::vector<std::string> feature_names;  // [in_features]
  bool float32 = false;                    // values must stay finite after the cast to float32
};

struct PredictRequest {
  std::vector<double> rows;  // [n, in_features], row-major
  int64_t n = 0;
  bool columnar = false;  // "inputs" given: answer with "outputs", not "predictions"
};

// Parses a :predict body. Throws ApiError 400 for malformed JSON, a wrong shape, a value that is
// not a finite number of the model's dtype, or an unknown or missing feature name.
PredictRequest parse_predict(std::string_view body, const Signature& signature);

// parse_predict's two halves, for the fuzz driver to compare. The fast one reads the common body
// ({"instances" or "inputs": a list of numbers or of D-number lists}, and "signature_name") in one
// pass with no JSON tree; on anything else, valid or not, it returns nullopt. The general one
// builds the tree and reads every format, and names what is wrong. Where the fast one answers,
// both give the same rows.
std::optional<PredictRequest> parse_predict_fast(std::string_view body, const Signature& signature);
PredictRequest parse_predict_general(std::string_view body, const Signature& signature);

// The feature names in an export's metadata.json ("feature_names"), or x0, x1, ... when it has
// none, as export/export.py names them. Throws std::runtime_error when the metadata is not a JSON
// object or its names do not match in_features.
std::vector<std::string> feature_names_from_metadata(
    const std::string& metadata_json,
    int64_t in_features);

}  // namespace linreg_serve
