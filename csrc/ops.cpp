// The schemas of the linreg_ext operator library, and nothing else. Kernels register themselves
// per backend (cpu/linreg_kernel.cpp, cuda/linreg_kernel.cu); fake kernels and autograd are
// registered from Python (linreg_ext/ops.py). A C++-only process gets the schemas and kernels
// by linking this library.
#include <torch/library.h>

TORCH_LIBRARY(linreg_ext, m) {
  // pred[N] = X[N, D] @ weight + bias
  m.def("linear_forward(Tensor X, Tensor weight, Tensor bias) -> Tensor");
  // (loss, grad_weight, grad_bias) of mean((X @ weight + bias - y)^2), in one pass over X
  m.def(
      "linear_mse_grad(Tensor X, Tensor weight, Tensor bias, Tensor y) "
      "-> (Tensor loss, Tensor grad_weight, Tensor grad_bias)");
}
