// The AOTInductor implementation of Model (see model.h): torch::inductor::AOTIModelPackageLoader.
// A package is compiled code for one device, one dtype and one input width, and for one CPU
// instruction set: all of that is checked from metadata.json before the library is loaded (its
// code could die of SIGILL) or run (AOTI prints an extra "Error: ..." line of its own when a call
// fails inside it). The copy of the metadata compiled into the library must equal metadata.json.
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>

#include "cpu_features.h"
#include "model.h"

namespace linreg_app {
namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

class AotiModel : public Model {
 public:
  AotiModel(std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader, ModelMetadata metadata)
      : Model(std::move(metadata)), loader_(std::move(loader)) {}

  const char* format() const override {
    return "aoti";
  }

  void to(const torch::Device& device) override {
    if (device.type() != torch::Device(metadata_.device).type()) {
      throw std::runtime_error(
          "this package is compiled for " + metadata_.device + ", not " + device.str() +
          ": export one with --device " + torch::DeviceTypeName(device.type(), true));
    }
  }

 protected:
  torch::Tensor forward(const torch::Tensor& X) override {
    std::vector<torch::Tensor> out = loader_->run({X});
    if (out.size() != 1) {
      throw std::runtime_error(
          "the model returned " + std::to_string(out.size()) +
          " tensors; a linreg_ext model returns one");
    }
    return out[0];
  }

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};

}  // namespace

std::unique_ptr<Model> load_aoti(const std::string& path, ModelMetadata metadata) {
  const std::string where = "'" + path + "'";
  if (metadata.device == "cuda" && !torch::cuda::is_available()) {
    throw std::runtime_error(where + " is compiled for cuda, but CUDA is not available");
  }
  if (const auto lacking = missing_cpu_features(metadata.cpu_requires); !lacking.empty()) {
    throw std::runtime_error(
        where + " is compiled for " + metadata.cpu_isa + " (" + metadata.cpu_march +
        "); this CPU lacks " + join(lacking) + ": export it with --cpu-isa avx2 or baseline");
  }
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  try {
    loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model");
  } catch (const std::exception& e) {
    throw std::runtime_error(
        "cannot load " + where + " as an AOTInductor package: " + first_line(e.what()));
  }
  const auto embedded = loader->get_metadata();
  const auto it = embedded.find("linreg_ext.metadata");
  if (it == embedded.end() || it->second != metadata.text) {
    throw std::runtime_error(
        where + ": metadata.json does not match the compiled model (was it edited?)");
  }
  return std::make_unique<AotiModel>(std::move(loader), std::move(metadata));
}

}  // namespace linreg_app
