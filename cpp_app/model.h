// Loading an exported linreg_ext model in a C++ program: one interface, two implementations
// (model_torchscript.cpp: a TorchScript .pt; model_aoti.cpp: an AOTInductor .pt2), chosen by the
// file's content. Every failure throws std::runtime_error with one clear line; everything that
// can be checked (metadata, CPU features, device, output shape) is checked before or around the
// model's own code, so that its errors never reach the user as multi-line dumps or signals.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "metadata.h"

namespace linreg_app {

class Model {
 public:
  virtual ~Model() = default;

  // "torchscript" or "aoti"
  virtual const char* format() const = 0;
  const ModelMetadata& metadata() const {
    return metadata_;
  }

  // Prepares the model to run on `device`; throws if it cannot (a .pt2 runs on one device only).
  virtual void to(const torch::Device& device) = 0;

  // X [N, in_features] in the model's dtype, on its device -> predictions [N]. Throws unless the
  // model returns exactly one value per row.
  torch::Tensor predict(const torch::Tensor& X);

 protected:
  explicit Model(ModelMetadata metadata) : metadata_(std::move(metadata)) {}
  virtual torch::Tensor forward(const torch::Tensor& X) = 0;

  ModelMetadata metadata_;
};

// Reads `path` and loads the model it holds, after checking that it is a linreg_ext model this
// program and this machine can run.
std::unique_ptr<Model> load_model(const std::string& path);

// The two implementations (model_torchscript.cpp, model_aoti.cpp), given the checked metadata.
std::unique_ptr<Model> load_torchscript(const std::string& path, ModelMetadata metadata);
std::unique_ptr<Model> load_aoti(const std::string& path, ModelMetadata metadata);

// The first non-blank line of a message: libtorch's may start with a newline and go on with
// source excerpts and a C++ backtrace.
std::string first_line(const std::string& message);

}  // namespace linreg_app
