// linreg_predict: loads a TorchScript model exported by export/export.py and prints one prediction
// per input sample, with no Python. The model's forward calls linreg_ext::linear_forward, which
// this binary gets by linking the op library (see CMakeLists.txt).
//
//   linreg_predict MODEL.pt 4.0 5.5        one-feature samples
//   linreg_predict MODEL.pt --csv FILE     rows of D features (optional header); FILE '-' is stdin
#include <torch/cuda.h>
#include <torch/script.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "input.h"
#include "options.h"

using linreg_app::kUsage;
using linreg_app::Options;
using linreg_app::parse_args;
using linreg_app::UsageError;

namespace {

// The first non-blank line of a message: libtorch's may start with a newline and go on with
// source excerpts and a C++ backtrace.
std::string first_line(const std::string& message) {
  std::istringstream lines(message);
  std::string line;
  while (std::getline(lines, line) && line.find_first_not_of(" \t") == std::string::npos) {
  }
  return line;
}

torch::jit::Module load_model(const std::string& path, std::string& metadata) {
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error("model file '" + path + "' does not exist");
  }
  torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
  torch::jit::Module model;
  try {
    model = torch::jit::load(path, torch::kCPU, extra);
  } catch (const std::exception& e) {  // c10::Error, or torch::jit::ErrorReport (unknown op)
    throw std::runtime_error(
        "cannot load '" + path + "' as a TorchScript model: " + first_line(e.what()));
  }
  if (!model.hasattr("in_features") || !model.hasattr("weight")) {
    throw std::runtime_error("'" + path + "' is not a linreg_ext model (no in_features/weight)");
  }
  metadata = extra["metadata.json"];
  return model;
}

// Shortest text that reads back as the same value in the model's dtype.
std::string format(double value, bool single) {
  char buf[64];
  const auto end = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(value)).ptr
                          : std::to_chars(buf, buf + sizeof buf, value).ptr;
  return std::string(buf, end);
}

int run(const Options& opt) {
  std::string metadata;
  torch::jit::Module model = load_model(opt.model, metadata);
  if (opt.info) {
    std::cout << metadata << "\n";
    return 0;
  }
  const int64_t in_features = model.attr("in_features").toInt();
  linreg_app::Samples samples;
  if (opt.csv.empty()) {
    samples = linreg_app::samples_from_values(opt.values, in_features);
  } else if (opt.csv == "-") {
    samples = linreg_app::samples_from_csv(std::cin, "stdin", in_features);
  } else {
    std::ifstream file(opt.csv);
    if (!file) {
      throw linreg_app::InputError("cannot open CSV file '" + opt.csv + "'");
    }
    samples = linreg_app::samples_from_csv(file, opt.csv, in_features);
  }
  if (opt.device == "cuda" && !torch::cuda::is_available()) {
    throw std::runtime_error("--device cuda: CUDA is not available (no GPU, or a CPU-only build)");
  }
  const torch::Device device(opt.device);
  const auto dtype = model.attr("weight").toTensor().scalar_type();

  c10::InferenceMode inference;
  model.to(device);
  const auto X =
      torch::from_blob(samples.values.data(), {samples.rows, samples.cols}, torch::kDouble)
          .to(device, dtype);
  const auto pred = model.forward({X}).toTensor().reshape({-1}).to(torch::kCPU, torch::kDouble);
  const auto values = pred.accessor<double, 1>();
  for (int64_t i = 0; i < values.size(0); ++i) {
    std::cout << format(values[i], dtype == torch::kFloat) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse_args(argc, argv);
  } catch (const UsageError& e) {
    if (*e.what()) {
      std::cerr << "linreg_predict: " << e.what() << "\n";
    }
    std::cerr << kUsage;
    return 2;
  }
  try {
    return run(opt);
  } catch (const std::exception& e) {  // c10::Error included: its first line is the message
    std::cerr << "linreg_predict: " << first_line(e.what()) << "\n";
  }
  return 1;
}
