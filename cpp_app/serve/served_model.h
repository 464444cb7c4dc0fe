// One loaded, checked model version as linreg_serve uses it: the only place the server touches
// the model loader (cpp_app/model.h) or torch, so a change of loader is a change in one file.
// The header is torch-free; the rest of the server compiles without torch's headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "request.h"

namespace linreg_serve {

class ServedModel {
 public:
  // Loads `path` onto `device` ("cpu" or "cuda") and checks it before it may take traffic: a
  // served dtype (float32 or float64), readable metadata, and one finite output per row on a
  // probe batch (run a few times, which also warms up the TorchScript executor). Throws
  // std::runtime_error with one line.
  static std::shared_ptr<const ServedModel> load(
      const std::string& path,
      const std::string& device);
  ~ServedModel();

  const Signature& signature() const;
  bool float32() const;                      // else float64
  const std::string& dtype_name() const;     // "float32" or "float64"
  const std::string& metadata_json() const;  // the export's metadata.json, a JSON object
  const std::string& path() const;

  // rows: [n, in_features] row-major; returns the n predictions as float64. Thread-safe.
  // Throws std::runtime_error unless the model gives exactly one output per row.
  std::vector<double> predict(const std::vector<double>& rows, int64_t n) const;

 private:
  struct Impl;
  explicit ServedModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "" when `device` can serve here, else why not (a CUDA device without a GPU).
std::string device_problem(const std::string& device);

// Once per process: one intra-op thread per inference call. Requests are small and the server's
// own threads are the parallelism; OpenMP teams per request would only oversubscribe the cores.
void configure_torch_for_serving();

}  // namespace linreg_serve
