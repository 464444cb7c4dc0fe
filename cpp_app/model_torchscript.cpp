// The TorchScript implementation of Model (see model.h): torch::jit::load, forward(X).
#include <torch/script.h>

#include "model.h"

namespace linreg_app {
namespace {

class TorchScriptModel : public Model {
 public:
  TorchScriptModel(torch::jit::Module module, ModelMetadata metadata)
      : Model(std::move(metadata)), module_(std::move(module)) {}

  const char* format() const override {
    return "torchscript";
  }

  void to(const torch::Device& device) override {
    module_.to(device);
  }

 protected:
  torch::Tensor forward(const torch::Tensor& X) override {
    const c10::IValue out = module_.forward({X});
    if (!out.isTensor()) {
      throw std::runtime_error(
          "the model returned " + out.tagKind() +
          ", not a tensor; a linreg_ext model returns one value per row");
    }
    return out.toTensor();
  }

 private:
  torch::jit::Module module_;
};

}  // namespace

std::unique_ptr<Model> load_torchscript(const std::string& path, ModelMetadata metadata) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {  // c10::Error, or torch::jit::ErrorReport (unknown op)
    throw std::runtime_error(
        "cannot load '" + path + "' as a TorchScript model: " + first_line(e.what()));
  }
  return std::make_unique<TorchScriptModel>(std::move(module), std::move(metadata));
}

}  // namespace linreg_app
