// linreg_predict: loads a model exported by export/export.py (TorchScript .pt or AOTInductor .pt2,
// told apart by content: model.h) and prints one prediction per input sample, with no Python. The
// model calls linreg_ext::linear_forward, which this binary gets by linking the op library. `python
// -m linreg_ext.predict` is its Python twin: same options, input rules, messages and exit codes.
//
//   linreg_predict MODEL.pt 4.0 5.5        one-feature samples (-- before values such as --1)
//   linreg_predict MODEL.pt --csv FILE     rows of D features (optional header); FILE '-' is stdin
//
// Exit codes: 0 success (and --help), 1 a bad model or input, 2 a bad command line. When stdout
// is closed early (`| head -1`) the program dies quietly of SIGPIPE, as Unix filters do.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "format.h"
#include "input.h"
#include "model.h"
#include "options.h"

using linreg_app::kUsage;
using linreg_app::Options;
using linreg_app::parse_args;
using linreg_app::UsageError;

namespace {

linreg_app::Precision precision_of(c10::ScalarType dtype) {
  if (dtype == torch::kFloat) {
    return linreg_app::Precision::kFloat32;
  }
  if (dtype == torch::kDouble) {
    return linreg_app::Precision::kFloat64;
  }
  throw std::runtime_error(
      std::string("the model's dtype ") + c10::toString(dtype) + " is not float32 or float64");
}

int run(const Options& opt) {
  if (std::filesystem::is_directory(opt.model)) {
    throw std::runtime_error("model file '" + opt.model + "' is a directory");
  }
  const std::unique_ptr<linreg_app::Model> model = linreg_app::load_model(opt.model);
  const linreg_app::ModelMetadata& meta = model->metadata();
  if (opt.info) {
    std::cout << meta.text << "\n";
    return 0;
  }
  const int64_t in_features = meta.in_features;
  const auto precision = precision_of(meta.dtype);
  linreg_app::Samples samples;
  if (opt.csv.empty()) {
    samples = linreg_app::samples_from_values(opt.values, in_features, precision);
  } else if (opt.csv == "-") {
    samples = linreg_app::samples_from_csv(std::cin, "stdin", in_features, precision);
  } else {
    if (std::filesystem::is_directory(opt.csv)) {
      throw linreg_app::InputError("CSV file '" + opt.csv + "' is a directory");
    }
    std::ifstream file(opt.csv, std::ios::binary);
    if (!file) {
      throw linreg_app::InputError("cannot open CSV file '" + opt.csv + "'");
    }
    samples = linreg_app::samples_from_csv(file, opt.csv, in_features, precision);
  }
  if (opt.device == "cuda" && !torch::cuda::is_available()) {
    throw std::runtime_error("--device cuda: CUDA is not available (no GPU, or a CPU-only build)");
  }
  const torch::Device device(opt.device);

  c10::InferenceMode inference;
  model->to(device);
  const auto X =
      torch::from_blob(samples.values.data(), {samples.rows, samples.cols}, torch::kDouble)
          .to(device, meta.dtype);
  const auto pred = model->predict(X).to(torch::kCPU, torch::kDouble);
  const auto values = pred.accessor<double, 1>();
  for (int64_t i = 0; i < values.size(0); ++i) {
    std::cout << linreg_app::format_prediction(values[i], meta.dtype) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "linreg_predict: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (opt.help) {
    std::cout << kUsage;
    return 0;
  }
  try {
    return run(opt);
  } catch (const std::exception& e) {  // c10::Error included: its first line is the message
    std::cerr << "linreg_predict: " << linreg_app::first_line(e.what()) << "\n";
  }
  return 1;
}
