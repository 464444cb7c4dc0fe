// User-facing input checks for the linreg_ext ops, written once and called by every backend
// (CPU, CUDA). Each message names the op, the argument, what was expected and what arrived.
// The Python fake kernels in linreg_ext/ops.py mirror these messages for meta/fake tensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <initializer_list>

namespace linreg_ext {

// Sizes of a checked problem: X is [N, D].
struct ProblemSize {
  int64_t N;
  int64_t D;
};

// linear_forward(X, weight, bias): X [N, D], weight [D] or [1, D], bias [1] or [].
inline ProblemSize check_linear_inputs(
    const char* op,
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias) {
  TORCH_CHECK(
      X.dim() == 2, op, ": X must be 2-D [N, D], got ", X.dim(), "-D with shape ", X.sizes());
  TORCH_CHECK(
      at::isFloatingType(X.scalar_type()), op, ": X must be a floating-point tensor, got dtype ",
      X.scalar_type());
  const int64_t N = X.size(0);
  const int64_t D = X.size(1);
  const bool weight_ok = (weight.dim() == 1 && weight.size(0) == D) ||
                         (weight.dim() == 2 && weight.size(0) == 1 && weight.size(1) == D);
  TORCH_CHECK(
      weight_ok, op, ": weight must have shape [", D, "] or [1, ", D,
      "] (one entry per column of X), got shape ", weight.sizes());
  TORCH_CHECK(
      bias.dim() <= 1 && bias.numel() == 1, op,
      ": bias must have shape [1] (or be a 0-D scalar tensor), got shape ", bias.sizes());
  for (const auto& [name, t] :
       {std::pair<const char*, const at::Tensor&>{"weight", weight},
        std::pair<const char*, const at::Tensor&>{"bias", bias}}) {
    TORCH_CHECK(
        t.scalar_type() == X.scalar_type(), op, ": ", name, " must have the dtype of X (",
        X.scalar_type(), "), got ", t.scalar_type());
    TORCH_CHECK(
        t.device() == X.device(), op, ": ", name, " must be on the device of X (", X.device(),
        "), got ", t.device());
  }
  return {N, D};
}

// linear_mse_grad(X, weight, bias, y): as above, plus y [N] or [N, 1] and N >= 1.
inline ProblemSize check_mse_inputs(
    const char* op,
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const ProblemSize size = check_linear_inputs(op, X, weight, bias);
  const bool y_ok = (y.dim() == 1 && y.size(0) == size.N) ||
                    (y.dim() == 2 && y.size(0) == size.N && y.size(1) == 1);
  TORCH_CHECK(
      y_ok, op, ": y must have shape [", size.N, "] or [", size.N,
      ", 1] (one target per row of X), got shape ", y.sizes());
  TORCH_CHECK(
      y.scalar_type() == X.scalar_type(), op, ": y must have the dtype of X (", X.scalar_type(),
      "), got ", y.scalar_type());
  TORCH_CHECK(
      y.device() == X.device(), op, ": y must be on the device of X (", X.device(), "), got ",
      y.device());
  TORCH_CHECK(
      size.N > 0, op,
      ": X must have at least one row; the mean squared error of an empty batch "
      "is undefined, got shape ",
      X.sizes());
  return size;
}

// Each backend states which dtypes its kernels are compiled for.
inline void check_dtype_supported(
    const char* op,
    const at::Tensor& X,
    std::initializer_list<at::ScalarType> supported,
    const char* backend) {
  for (const auto dtype : supported) {
    if (X.scalar_type() == dtype) {
      return;
    }
  }
  std::string names;
  for (const auto dtype : supported) {
    names += (names.empty() ? "" : ", ") + std::string(c10::toString(dtype));
  }
  TORCH_CHECK(
      false, op, ": the ", backend, " kernel supports X of dtype ", names, ", got ",
      X.scalar_type());
}

}  // namespace linreg_ext
