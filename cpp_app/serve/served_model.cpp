// The adapter between linreg_serve and the model loader (see served_model.h): linreg_app's Model
// interface (cpp_app/model.h), so a version directory may hold a TorchScript model.pt or an
// AOTInductor model.pt2. (A .pt2 runs one call at a time: AOTInductor's default single runner.)
#include "served_model.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "../model.h"

namespace linreg_serve {

struct ServedModel::Impl {
  std::unique_ptr<linreg_app::Model> model;  // predict() may run from several threads at once
  Signature signature;
  c10::ScalarType dtype;
  std::string dtype_name;
  std::string metadata_json;
  std::string path;
  torch::Device device{torch::kCPU};
};

ServedModel::ServedModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServedModel::~ServedModel() = default;

const Signature& ServedModel::signature() const {
  return impl_->signature;
}
bool ServedModel::float32() const {
  return impl_->dtype == torch::kFloat;
}
const std::string& ServedModel::dtype_name() const {
  return impl_->dtype_name;
}
const std::string& ServedModel::metadata_json() const {
  return impl_->metadata_json;
}
const std::string& ServedModel::path() const {
  return impl_->path;
}

std::vector<double> ServedModel::predict(const std::vector<double>& rows, int64_t n) const {
  const int64_t D = impl_->signature.in_features;
  if (n < 0 || static_cast<int64_t>(rows.size()) != n * D) {
    throw std::runtime_error(
        "predict: expected " + std::to_string(n) + " x " + std::to_string(D) + " values, got " +
        std::to_string(rows.size()));
  }
  c10::InferenceMode inference;
  // Written straight into a tensor of the model's dtype, and read straight back: no float64
  // staging tensor and no conversion op on the way in or out (a few microseconds a request).
  auto X = torch::empty({n, D}, torch::TensorOptions().dtype(impl_->dtype));
  if (impl_->dtype == torch::kFloat) {
    std::copy(rows.begin(), rows.end(), X.data_ptr<float>());  // float64 -> float32, rounded
  } else {
    std::copy(rows.begin(), rows.end(), X.data_ptr<double>());
  }
  if (!impl_->device.is_cpu()) {
    X = X.to(impl_->device);
  }
  // Model::predict checks that there is exactly one value per row.
  const auto out = impl_->model->predict(X).to(torch::kCPU).contiguous();
  if (out.scalar_type() == torch::kFloat) {
    const float* p = out.data_ptr<float>();
    return std::vector<double>(p, p + n);
  }
  const auto pred = out.to(torch::kDouble);
  const double* p = pred.data_ptr<double>();
  return std::vector<double>(p, p + n);
}

std::shared_ptr<const ServedModel> ServedModel::load(
    const std::string& path,
    const std::string& device) {
  // load_model checks the metadata (a linreg_ext model, in_features >= 1, float32 or float64),
  // the op library and, for a .pt2, this CPU's features, before any of the model's code loads.
  std::unique_ptr<linreg_app::Model> loaded = linreg_app::load_model(path);
  const linreg_app::ModelMetadata& meta = loaded->metadata();
  auto impl = std::make_unique<Impl>();
  impl->dtype = meta.dtype;
  impl->dtype_name = meta.dtype == torch::kFloat ? "float32" : "float64";
  impl->signature.in_features = meta.in_features;
  impl->signature.float32 = meta.dtype == torch::kFloat;
  try {
    impl->signature.feature_names = feature_names_from_metadata(meta.text, meta.in_features);
  } catch (const std::exception& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
  impl->metadata_json = meta.text.empty() ? "{}" : meta.text;
  impl->path = path;
  impl->device = torch::Device(device);
  loaded->to(impl->device);
  impl->model = std::move(loaded);
  std::shared_ptr<const ServedModel> model(new ServedModel(std::move(impl)));
  // The check before traffic: every feature = 4.0 (as export/export.py checks), several batch
  // sizes, so the profiling executor has specialised before the first real request.
  for (const int64_t n : {1, 3, 1, 256, 1}) {
    const int64_t D = model->signature().in_features;
    std::vector<double> probe(n * D, 4.0);
    std::vector<double> out;
    try {
      out = model->predict(probe, n);
    } catch (const std::exception& e) {
      throw std::runtime_error(
          "'" + path + "' fails its check on " + device + ": " + linreg_app::first_line(e.what()));
    }
    for (const double v : out) {
      if (!std::isfinite(v)) {
        throw std::runtime_error("'" + path + "' predicts a non-finite value for x = 4.0");
      }
    }
  }
  return model;
}

std::string device_problem(const std::string& device) {
  if (device == "cpu") {
    return "";
  }
  if (device == "cuda") {
    return torch::cuda::is_available()
               ? ""
               : "--device cuda: CUDA is not available (no GPU, or a CPU-only build)";
  }
  return "--device must be cpu or cuda, got '" + device + "'";
}

void configure_torch_for_serving() {
  at::set_num_threads(1);
}

}  // namespace linreg_serve
