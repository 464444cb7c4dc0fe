// What every backend of the linreg_ext ops shares: the user-facing input checks (each message
// names the op, the argument, what was expected and what arrived) and linear_mse_grad's outputs.
// The Python fake kernels in linreg_ext/ops.py mirror these messages for meta/fake tensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <initializer_list>
#include <string>
#include <tuple>

namespace linreg_ext {

// A dtype as Python users write it ("float32", not c10's "Float"): the Python fake kernels in
// linreg_ext/ops.py print str(dtype) without "torch.", so both paths give the same message.
inline std::string dtype_name(at::ScalarType dtype) {
  return std::string(c10::getDtypeNames(dtype).first);
}

// linear_forward(X, weight, bias): X [N, D], weight [D] or [1, D], bias [1] or [].
inline void check_linear_inputs(
    const char* op,
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias) {
  TORCH_CHECK(
      X.dim() == 2, op, ": X must be 2-D [N, D], got ", X.dim(), "-D with shape ", X.sizes());
  TORCH_CHECK(
      at::isFloatingType(X.scalar_type()), op, ": X must be a floating-point tensor, got dtype ",
      dtype_name(X.scalar_type()));
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
        dtype_name(X.scalar_type()), "), got ", dtype_name(t.scalar_type()));
    TORCH_CHECK(
        t.device() == X.device(), op, ": ", name, " must be on the device of X (", X.device(),
        "), got ", t.device());
  }
}

// linear_mse_grad(X, weight, bias, y): as above, plus y [N] or [N, 1] and N >= 1.
inline void check_mse_inputs(
    const char* op,
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  check_linear_inputs(op, X, weight, bias);
  const int64_t N = X.size(0);
  const bool y_ok =
      (y.dim() == 1 && y.size(0) == N) || (y.dim() == 2 && y.size(0) == N && y.size(1) == 1);
  TORCH_CHECK(
      y_ok, op, ": y must have shape [", N, "] or [", N,
      ", 1] (one target per row of X), got shape ", y.sizes());
  TORCH_CHECK(
      y.scalar_type() == X.scalar_type(), op, ": y must have the dtype of X (",
      dtype_name(X.scalar_type()), "), got ", dtype_name(y.scalar_type()));
  TORCH_CHECK(
      y.device() == X.device(), op, ": y must be on the device of X (", X.device(), "), got ",
      y.device());
  TORCH_CHECK(
      N > 0, op,
      ": X must have at least one row; the mean squared error of an empty batch "
      "is undefined, got shape ",
      X.sizes());
}

// Each backend states which dtypes its kernels are compiled for, from the same list that its
// AT_DISPATCH_V2 calls use (LINREG_CPU_DTYPES, LINREG_CUDA_DTYPES).
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
    names += (names.empty() ? "" : ", ") + dtype_name(dtype);
  }
  TORCH_CHECK(
      false, op, ": the ", backend, " kernel supports X of dtype ", names, ", got ",
      dtype_name(X.scalar_type()));
}

// linear_mse_grad's outputs, uninitialized, in X's dtype and device: loss [] and the gradients
// shaped like their parameters. Every backend returns exactly these.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
empty_mse_outputs(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  return {
      at::empty({}, X.options()), at::empty(weight.sizes(), X.options()),
      at::empty(bias.sizes(), X.options())};
}

}  // namespace linreg_ext
