// Model loading (see model.h): the format from the zip's records, metadata.json, the checks every
// format shares, then the implementation. The model calls linreg_ext::linear_forward, which the
// program gets by linking the op library (CMakeLists.txt); that is checked first.
#include "model.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
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

torch::Tensor Model::predict(const torch::Tensor& X) {
  const torch::Tensor out = forward(X);
  const int64_t N = X.size(0);
  const auto shape = out.sizes();
  if (!(shape == torch::IntArrayRef{N} || shape == torch::IntArrayRef{N, 1})) {
    std::ostringstream got;
    got << shape;
    throw std::runtime_error(
        "the model returned shape " + got.str() + " for " + std::to_string(N) +
        " rows; a linreg_ext model returns one value per row");
  }
  return out.reshape({-1});
}

std::unique_ptr<Model> load_model(const std::string& path) {
  if (!c10::Dispatcher::singleton().findSchema({"linreg_ext::linear_forward", ""})) {
    throw std::runtime_error(
        "this program has no linreg_ext ops: it must be linked with the op library "
        "(liblinreg_ops, with --no-as-needed)");
  }
  if (std::filesystem::is_directory(path)) {
    throw std::runtime_error("model file '" + path + "' is a directory");
  }
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error("model file '" + path + "' does not exist");
  }
  std::vector<std::string> records;
  std::string metadata_text;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    records = reader.getAllRecords();
    if (reader.hasRecord("extra/metadata.json")) {
      const auto [data, size] = reader.getRecord("extra/metadata.json");
      metadata_text.assign(static_cast<const char*>(data.get()), size);
    }
  } catch (const std::exception& e) {  // c10::Error: not a zip archive, truncated, ...
    throw std::runtime_error(
        "cannot load '" + path +
        "' as a TorchScript model or AOTInductor package: " + first_line(e.what()));
  }
  const auto has = [&](const std::string& prefix) {
    return std::any_of(records.begin(), records.end(), [&](const std::string& r) {
      return r.rfind(prefix, 0) == 0;
    });
  };
  const bool aoti = has("data/aotinductor/");
  if (!aoti && !(has("data.pkl") && has("code/"))) {
    throw std::runtime_error(
        "cannot load '" + path +
        "' as a TorchScript model or AOTInductor package: a zip archive that is neither");
  }
  ModelMetadata metadata = parse_metadata(metadata_text, path, aoti);
  return aoti ? load_aoti(path, std::move(metadata)) : load_torchscript(path, std::move(metadata));
}

}  // namespace linreg_app
