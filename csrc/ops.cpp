// The schemas of the linreg_ext operator library, and the public C++ API (linreg.h) that calls
// them through the dispatcher. Kernels register themselves per backend (cpu/linreg_kernel.cpp,
// cuda/linreg_kernel.cu), autograd in autograd/linreg_autograd.cpp, fake kernels from Python
// (linreg_ext/ops.py). A C++-only process gets all of it by linking this library. (The CPU backend
// also defines three private diagnostics, _cpu_isa and friends, in cpu/linreg_kernel.cpp.)
#include "linreg.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace linreg_ext {

at::Tensor linear_forward(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("linreg_ext::linear_forward", "")
                             .typed<decltype(linear_forward)>();
  return op.call(X, weight, bias);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("linreg_ext::linear_mse_grad", "")
                             .typed<decltype(linear_mse_grad)>();
  return op.call(X, weight, bias, y);
}

TORCH_LIBRARY(linreg_ext, m) {
  // pred[N] = X[N, D] @ weight + bias
  m.def("linear_forward(Tensor X, Tensor weight, Tensor bias) -> Tensor");
  // (loss, grad_weight, grad_bias) of mean((X @ weight + bias - y)^2), in one pass over X
  m.def(
      "linear_mse_grad(Tensor X, Tensor weight, Tensor bias, Tensor y) "
      "-> (Tensor loss, Tensor grad_weight, Tensor grad_bias)");
}

}  // namespace linreg_ext
