// Model loading for the linreg_ext C++ programs (see model.h). The model's forward calls
// linreg_ext::linear_forward, which these programs get by linking the op library.
#include "model.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace linreg_app {

std::string first_line(const std::string& message) {
  std::istringstream lines(message);
  std::string line;
  while (std::getline(lines, line) && line.find_first_not_of(" \t") == std::string::npos) {
  }
  return line;
}

LoadedModel load_model(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error("model file '" + path + "' does not exist");
  }
  torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU, extra);
  } catch (const std::exception& e) {  // c10::Error, or torch::jit::ErrorReport (unknown op)
    throw std::runtime_error(
        "cannot load '" + path + "' as a TorchScript model: " + first_line(e.what()));
  }
  if (!module.hasattr("in_features") || !module.hasattr("weight")) {
    throw std::runtime_error("'" + path + "' is not a linreg_ext model (no in_features/weight)");
  }
  return LoadedModel{
      module, extra["metadata.json"], module.attr("in_features").toInt(),
      module.attr("weight").toTensor().scalar_type()};
}

}  // namespace linreg_app
