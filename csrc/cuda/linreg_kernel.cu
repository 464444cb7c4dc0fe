// The CUDA backend of linear_forward and linear_mse_grad (float32, float64, float16, bfloat16):
// launchers and entry points, registered with TORCH_LIBRARY_IMPL(linreg_ext, CUDA, m) at the
// bottom. The kernels and how they split the work are in linreg_kernels.cuh.
//
// Sums are float64 for float32 and float64 inputs (the float32 accuracy bar at N = 10^8) and
// float32 for float16/bfloat16; each result is rounded once to the input dtype.
#include "../checks.h"
#include "linreg_kernels.cuh"

#include <ATen/Dispatch_v2.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <array>
#include <atomic>

// The dtypes these kernels are compiled for: the checks and the dispatch both use this list.
#define LINREG_CUDA_DTYPES AT_EXPAND(AT_FLOATING_TYPES), at::kHalf, at::kBFloat16

namespace linreg_ext {
namespace {

// ---- launchers -----------------------------------------------------------------------------

int multiprocessors(int device) {
  static std::array<std::atomic<int>, 64> cache{};
  int count = device < 64 ? cache[device].load() : 0;
  if (count == 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    if (device < 64) {
      cache[device].store(count);
    }
  }
  return count;
}

// Blocks for `rows_per_block` rows a block: enough to fill the GPU (8 blocks of 256 threads per
// multiprocessor), never more than the rows need; at least 1.
int64_t grid_size(int64_t N, int64_t rows_per_block, int device) {
  const int64_t full = 8 * int64_t(multiprocessors(device));
  return std::max<int64_t>(1, std::min<int64_t>(full, (N + rows_per_block - 1) / rows_per_block));
}

// Calls f with (G, K) as template arguments: the smallest lane group whose K <= 8 registers per
// lane hold a row of D columns.
template <typename F>
void with_row_shape(int64_t D, F&& f) {
  if (D <= 1) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
  } else if (D <= 2) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{});
  } else if (D <= 4) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 4>{});
  } else if (D <= 8) {
    f(std::integral_constant<int, 1>{}, std::integral_constant<int, 8>{});
  } else if (D <= 32) {
    f(std::integral_constant<int, 4>{}, std::integral_constant<int, 8>{});
  } else if (D <= 64) {
    f(std::integral_constant<int, 8>{}, std::integral_constant<int, 8>{});
  } else if (D <= 128) {
    f(std::integral_constant<int, 16>{}, std::integral_constant<int, 8>{});
  } else {
    f(std::integral_constant<int, 32>{}, std::integral_constant<int, 8>{});
  }
}

template <typename scalar_t>
void linear_mse_grad_impl(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y,
    at::Tensor& loss,
    at::Tensor& grad_weight,
    at::Tensor& grad_bias) {
  using acc = acc_t<scalar_t>;
  const int64_t N = X.size(0);
  const int64_t D = X.size(1);
  const int device = X.get_device();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device);
  const auto acc_dtype = std::is_same_v<acc, double> ? at::kDouble : at::kFloat;
  int64_t blocks = 0;
  at::Tensor partial;
  if (D <= kMaxRegisterD) {
    with_row_shape(D, [&](auto G, auto K) {
      constexpr int kGroups = kThreads / decltype(G)::value;
      blocks = grid_size(N, kGroups, device);
      partial = at::empty({blocks, D + 2}, X.options().dtype(acc_dtype));
      const size_t shared = size_t(kGroups) * (D + 2) * sizeof(acc);
      linear_mse_grad_rows_kernel<scalar_t, decltype(G)::value, decltype(K)::value>
          <<<blocks, kThreads, shared, stream>>>(
              X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
              bias.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(), N, D,
              partial.mutable_data_ptr<acc>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  } else {
    blocks = grid_size(N, kThreads / kWarp, device);
    partial = at::empty({blocks, D + 2}, X.options().dtype(acc_dtype));
    linear_mse_grad_long_rows_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
        bias.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(), N, D,
        partial.mutable_data_ptr<acc>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  linear_mse_grad_finalize_kernel<scalar_t><<<D + 2, kThreads, 0, stream>>>(
      partial.const_data_ptr<acc>(), blocks, D, N, loss.mutable_data_ptr<scalar_t>(),
      grad_weight.mutable_data_ptr<scalar_t>(), grad_bias.mutable_data_ptr<scalar_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t>
void linear_forward_impl(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    at::Tensor& pred) {
  const int64_t N = X.size(0);
  const int64_t D = X.size(1);
  const int device = X.get_device();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device);
  if (D <= kMaxRegisterD) {
    with_row_shape(D, [&](auto G, auto K) {
      constexpr int kGroups = kThreads / decltype(G)::value;
      linear_forward_rows_kernel<scalar_t, decltype(G)::value, decltype(K)::value>
          <<<grid_size(N, kGroups, device), kThreads, 0, stream>>>(
              X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
              bias.const_data_ptr<scalar_t>(), N, D, pred.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  } else {
    linear_forward_long_rows_kernel<scalar_t>
        <<<grid_size(N, kThreads / kWarp, device), kThreads, 0, stream>>>(
            X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
            bias.const_data_ptr<scalar_t>(), N, D, pred.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// The entry points. They have the same shape as the CPU backend's on purpose (checks, outputs,
// dispatch over the backend's dtype list, as torchvision's per-backend ops do); what the two
// really share, the checks and the outputs, lives once in checks.h.
at::Tensor
linear_forward_cuda(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  const char* op = "linear_forward";
  check_linear_inputs(op, X, weight, bias);
  check_dtype_supported(op, X, {LINREG_CUDA_DTYPES}, "CUDA");
  const c10::cuda::CUDAGuard guard(X.device());
  at::Tensor pred = at::empty({X.size(0)}, X.options());
  if (X.size(0) == 0) {
    return pred;  // no work: never launch a 0-block grid
  }
  const at::Tensor Xc = X.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  AT_DISPATCH_V2(
      X.scalar_type(), "linear_forward_impl",
      AT_WRAP([&] { linear_forward_impl<scalar_t>(Xc, wc, bc, pred); }), LINREG_CUDA_DTYPES);
  return pred;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cuda(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const char* op = "linear_mse_grad";
  check_mse_inputs(op, X, weight, bias, y);
  check_dtype_supported(op, X, {LINREG_CUDA_DTYPES}, "CUDA");
  const c10::cuda::CUDAGuard guard(X.device());
  // std::tie, not a structured binding: C++17 (torch 2.11) cannot capture those in a lambda.
  at::Tensor loss, grad_weight, grad_bias;
  std::tie(loss, grad_weight, grad_bias) = empty_mse_outputs(X, weight, bias);
  // Raw pointers only from contiguous tensors: a non-contiguous input is copied once here.
  const at::Tensor Xc = X.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const at::Tensor yc = y.reshape({-1}).contiguous();
  AT_DISPATCH_V2(
      X.scalar_type(), "linear_mse_grad_impl", AT_WRAP([&] {
        linear_mse_grad_impl<scalar_t>(Xc, wc, bc, yc, loss, grad_weight, grad_bias);
      }),
      LINREG_CUDA_DTYPES);
  return {loss, grad_weight, grad_bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(linreg_ext, CUDA, m) {
  m.impl("linear_forward", &linear_forward_cuda);
  m.impl("linear_mse_grad", &linear_mse_grad_cuda);
}

}  // namespace linreg_ext
