// Loading an exported linreg_ext model (export/export.py) in a C++ program: the module and the
// metadata.json written beside it. Every failure throws std::runtime_error with one clear line.
#pragma once

#include <torch/script.h>

#include <string>

namespace linreg_app {

struct LoadedModel {
  torch::jit::Module module;
  std::string metadata;  // metadata.json, as written by the export
  int64_t in_features;
  c10::ScalarType dtype;  // of the weights: the dtype inputs are converted to
};

LoadedModel load_model(const std::string& path);

// The first non-blank line of a message: libtorch's may start with a newline and go on with
// source excerpts and a C++ backtrace.
std::string first_line(const std::string& message);

}  // namespace linreg_app
