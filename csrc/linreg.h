// Declarations shared by the linreg_ext backends. The schemas live in ops.cpp; each backend file
// defines its entry points below and registers them with TORCH_LIBRARY_IMPL at its bottom.
//
// Math (r_i = X_i . w + b - y_i, the residual of row i):
//   linear_forward  -> pred[i]     = X_i . w + b                         pred: [N]
//   linear_mse_grad -> loss        = (1/N) sum_i r_i^2                   0-D
//                      grad_weight = (2/N) sum_i r_i X_i                 weight's shape
//                      grad_bias   = (2/N) sum_i r_i                     bias's shape
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <tuple>

namespace linreg_ext {

// linear_mse_grad's outputs, uninitialized, in X's dtype and device: loss [] and the gradients
// shaped like their parameters. Every backend returns exactly these.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
empty_mse_outputs(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  return {
      at::empty({}, X.options()), at::empty(weight.sizes(), X.options()),
      at::empty(bias.sizes(), X.options())};
}

at::Tensor
linear_forward_cpu(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias);

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cpu(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y);

// Defined in cuda/linreg_kernel.cu, when the CUDA kernels are built.
at::Tensor
linear_forward_cuda(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias);

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cuda(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y);

}  // namespace linreg_ext
