// The REST handlers (see api.h). Each reads like a CLI's main: parse the request (ApiError on a
// bad one), run the model, format. Predictions are written by linreg_app::format_prediction, the
// shortest round-trip text linreg_predict prints; never by Boost.JSON's double serializer.
#include "api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <string_view>

#include "../format.h"

namespace linreg_serve {
namespace {

namespace json = boost::json;

std::string quoted(std::string_view text) {
  return json::serialize(json::string(text));
}

// The version a route names, or the served one. Throws ApiError 404 / 503.
const VersionState& find_version(
    const Snapshot& snapshot,
    const std::string& name,
    const std::optional<int64_t>& requested,
    int64_t* version) {
  if (!requested) {
    const VersionState* latest = snapshot.latest(version);
    if (!latest) {
      throw ApiError(
          503, "model '" + name + "' has no loaded version yet (" +
                   std::to_string(snapshot.versions.size()) + " found, none loaded)");
    }
    return *latest;
  }
  *version = *requested;
  const auto it = snapshot.versions.find(*requested);
  if (it == snapshot.versions.end() || !it->second.model) {
    std::string loaded;
    for (const auto& [v, state] : snapshot.versions) {
      if (state.model) {
        loaded += (loaded.empty() ? "" : ", ") + std::to_string(v);
      }
    }
    throw ApiError(
        404, "version " + std::to_string(*requested) + " of model '" + name + "' is not " +
                 (it == snapshot.versions.end() ? "found" : "loaded: " + it->second.error) +
                 "; loaded versions: " + (loaded.empty() ? "none" : loaded));
  }
  return it->second;
}

std::string version_status_json(int64_t version, const VersionState& state) {
  return "{\"version\": \"" + std::to_string(version) + "\", \"state\": \"" +
         (state.model ? "AVAILABLE" : "END") + "\", \"status\": {\"error_code\": \"" +
         (state.model ? "OK" : "UNKNOWN") + "\", \"error_message\": " + quoted(state.error) + "}}";
}

}  // namespace

Response error_response(int status, std::string_view message) {
  return Response{status, "{\"error\": " + quoted(message) + "}"};
}

Api::Api(const ModelRegistry& registry, const Metrics& metrics)
    : registry_(registry), metrics_(metrics) {}

Response Api::handle(std::string_view method, std::string_view target, std::string_view body)
    const {
  try {
    const Route route = parse_route(target);
    const bool post = route.endpoint == Endpoint::kPredict;
    if (method != (post ? "POST" : "GET")) {
      Response r = error_response(
          405, "method " + std::string(method.substr(0, 20)) + " is not allowed here; use " +
                   (post ? "POST" : "GET"));
      r.allow = post ? "POST" : "GET";
      return r;
    }
    const std::shared_ptr<const Snapshot> snapshot = registry_.snapshot();
    if (route.endpoint == Endpoint::kMetrics) {
      return Response{
          200, metrics_.prometheus(registry_.model_name(), *snapshot),
          "text/plain; version=0.0.4; charset=utf-8"};
    }
    if (route.model != registry_.model_name()) {
      throw ApiError(
          404, "model '" + route.model.substr(0, 100) +
                   "' is not served here; this server serves '" + registry_.model_name() + "'");
    }
    if (route.endpoint == Endpoint::kStatus) {
      return status(*snapshot, route.model, route.version ? &*route.version : nullptr);
    }
    int64_t version = -1;
    const VersionState& state = find_version(*snapshot, route.model, route.version, &version);
    if (route.endpoint == Endpoint::kMetadata) {
      return metadata(route.model, version, state);
    }
    return predict(state, body);
  } catch (const ApiError& e) {
    return error_response(e.status, e.what());
  } catch (const std::exception& e) {  // the model failed on valid input: ours, not the client's
    return error_response(500, std::string("prediction failed: ") + e.what());
  }
}

Response Api::predict(const VersionState& version, std::string_view body) const {
  // `version.model` is held by the snapshot the caller holds: a swap cannot unload it mid-call.
  const ServedModel& model = *version.model;
  const PredictRequest req = parse_predict(body, model.signature());
  const std::vector<double> out = model.predict(req.rows, req.n);
  const c10::ScalarType dtype = model.float32() ? c10::ScalarType::Float : c10::ScalarType::Double;
  const std::string_view head = req.columnar ? "{\"outputs\": [" : "{\"predictions\": [";
  // Sized for the longest numbers, which are written in place: no regrowth, and no copy a number.
  std::string text(head.size() + out.size() * (linreg_app::kMaxPredictionChars + 2) + 2, '\0');
  char* p = std::copy(head.begin(), head.end(), text.data());
  for (size_t i = 0; i < out.size(); ++i) {
    const bool finite =
        model.float32() ? std::isfinite(static_cast<float>(out[i])) : std::isfinite(out[i]);
    if (!finite) {  // JSON has no inf or nan
      throw ApiError(
          400, "instance " + std::to_string(i) + ": the prediction is " +
                   linreg_app::format_prediction(out[i], dtype) + ", which JSON cannot carry (" +
                   model.dtype_name() + " overflow)");
    }
    if (i) {
      *p++ = ',';
      *p++ = ' ';
    }
    p = linreg_app::format_prediction_to(p, out[i], dtype);
  }
  *p++ = ']';
  *p++ = '}';
  text.resize(p - text.data());
  return Response{200, std::move(text), "application/json", nullptr, req.n};
}

Response Api::status(const Snapshot& snapshot, const std::string& name, const int64_t* version)
    const {
  std::string list;
  for (const auto& [v, state] : snapshot.versions) {
    if (!version || v == *version) {
      list += (list.empty() ? "" : ", ") + version_status_json(v, state);
    }
  }
  if (list.empty()) {
    if (version) {
      throw ApiError(
          404, "version " + std::to_string(*version) + " of model '" + name + "' is not found");
    }
    throw ApiError(503, "model '" + name + "' has no versions yet");
  }
  return Response{200, "{\"model_version_status\": [" + list + "]}"};
}

Response Api::metadata(const std::string& name, int64_t version, const VersionState& state) const {
  const ServedModel& model = *state.model;
  const Signature& sig = model.signature();
  std::string names;
  for (const auto& feature : sig.feature_names) {
    names += (names.empty() ? "" : ", ") + quoted(feature);
  }
  const std::string D = std::to_string(sig.in_features);
  const std::string tf_dtype = model.float32() ? "DT_FLOAT" : "DT_DOUBLE";
  // TF Serving's shape (model_spec, metadata.signature_def), plus the export's metadata.json as
  // written (its numbers untouched) and the input signature in plain terms.
  std::string body = "{\"model_spec\": {\"name\": " + quoted(name) +
                     ", \"signature_name\": \"\", \"version\": \"" + std::to_string(version) +
                     "\"}, \"metadata\": {\"signature_def\": {\"signature_def\": {"
                     "\"serving_default\": {\"inputs\": {\"instances\": {\"dtype\": \"" +
                     tf_dtype +
                     "\", \"tensor_shape\": {\"dim\": [{\"size\": \"-1\"}, {\"size\": \"" + D +
                     "\"}]}, \"name\": \"instances\"}}, \"outputs\": {\"predictions\": {"
                     "\"dtype\": \"" +
                     tf_dtype +
                     "\", \"tensor_shape\": {\"dim\": [{\"size\": "
                     "\"-1\"}]}, \"name\": \"predictions\"}}, \"method_name\": "
                     "\"tensorflow/serving/predict\"}}}, \"input_signature\": {\"in_features\": " +
                     D + ", \"feature_names\": [" + names + "], \"dtype\": \"" +
                     model.dtype_name() + "\"}, \"linreg_ext\": " + model.metadata_json() + "}}";
  return Response{200, std::move(body)};
}

}  // namespace linreg_serve
