// The public C++ API of linreg_ext: the two ops as typed C++ functions that call through the
// dispatcher (defined in ops.cpp, beside the schemas), so a LibTorch program gets the right backend
// (CPU, CUDA) and autograd exactly as torch.ops.linreg_ext.* does from Python. Link the op
// library (liblinreg_ops) and include this header; never call a backend's kernel directly.
//
// Math (r_i = X_i . w + b - y_i, the residual of row i):
//   linear_forward  -> pred[i]     = X_i . w + b                         pred: [N]
//   linear_mse_grad -> loss        = (1/N) sum_i r_i^2                   0-D
//                      grad_weight = (2/N) sum_i r_i X_i                 weight's shape
//                      grad_bias   = (2/N) sum_i r_i                     bias's shape
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace linreg_ext {

// X [N, D] float; weight [D] or [1, D]; bias [1] or 0-D; same dtype and device. Returns pred [N].
at::Tensor linear_forward(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias);

// As linear_forward, plus y [N] or [N, 1] and N >= 1. Reads X once. Returns (loss,
// grad_weight, grad_bias) in X's dtype; only loss is differentiable (the gradients are values).
std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y);

}  // namespace linreg_ext
