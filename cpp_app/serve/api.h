// TensorFlow Serving's REST API over a ModelRegistry: one request (method, path, body) in, one
// response out. Independent of the HTTP transport (http_server.h), and never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "metrics.h"
#include "registry.h"

namespace linreg_serve {

struct Response {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  const char* allow = nullptr;  // the Allow header of a 405
  int64_t instances = 0;        // rows predicted, for the metrics
};

// {"error": "<message>"}, the message escaped as a JSON string.
Response error_response(int status, std::string_view message);

class Api {
 public:
  Api(const ModelRegistry& registry, const Metrics& metrics);
  Response handle(std::string_view method, std::string_view target, std::string_view body) const;

 private:
  Response predict(const VersionState& version, std::string_view body) const;
  Response status(const Snapshot& snapshot, const std::string& name, const int64_t* version) const;
  Response metadata(const std::string& name, int64_t version, const VersionState& state) const;

  const ModelRegistry& registry_;
  const Metrics& metrics_;
};

}  // namespace linreg_serve
