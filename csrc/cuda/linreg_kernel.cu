// CUDA kernels of linear_forward and linear_mse_grad (float32, float64, float16, bfloat16),
// registered with TORCH_LIBRARY_IMPL(linreg_ext, CUDA, m) at the bottom.
//
// linear_mse_grad reads X once. A group of G lanes owns a row at a time (G = 1 for D <= 8 up to a
// whole warp for D <= 256): each lane holds up to K columns of the row in registers, the group
// sums its products with shuffles, and every lane adds r * X_ij into its own column sums. Each
// block writes its sums to one row of a [blocks, D + 2] partial buffer (never N-sized), and a
// second kernel adds the rows in block order: no float atomics, so results are bit-identical run
// after run on a given GPU. Rows longer than 256 take a kernel whose column sums live in that
// partial row instead of registers, so D has no limit from registers or shared memory.
//
// Sums are float64 for float32 and float64 inputs (the float32 accuracy bar at N = 10^8) and
// float32 for float16/bfloat16; each result is rounded once to the input dtype.
#include "../checks.h"
#include "../linreg.h"

#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <array>
#include <atomic>

namespace linreg_ext {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kMaxRegisterD = 256;  // wider rows: mse_wide_kernel / forward_wide_kernel

// The type sums are formed in: at::acc_type on CUDA (float for half types), but float64 for
// float32, whose sums over 10^8 rows must stay within 1e-6 of the exact value.
template <typename scalar_t>
struct Acc {
  using type = at::acc_type<scalar_t, /*is_cuda=*/true>;
};
template <>
struct Acc<float> {
  using type = double;
};
template <typename scalar_t>
using acc_t = typename Acc<scalar_t>::type;

// Sum over the G lanes of a lane group (G a power of two, groups aligned within the warp);
// every lane of the group receives the sum. A fixed butterfly: the same order every run.
template <int G, typename T>
__device__ __forceinline__ T group_sum(T v) {
#pragma unroll
  for (int offset = G / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset, G);
  }
  return v;
}

// Sum over the block in a fixed order (warps by shuffles, then warp 0 over the warps' sums);
// the result is valid in thread 0. `scratch` holds kThreads / kWarp values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  v = group_sum<kWarp>(v);
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (lane == 0) {
    scratch[warp] = v;
  }
  __syncthreads();
  v = threadIdx.x < blockDim.x / kWarp ? scratch[lane] : T(0);
  if (warp == 0) {
    v = group_sum<kWarp>(v);
  }
  return v;
}

// ---- D <= 256: a row per group of G lanes, K columns per lane in registers ------------------

// Row sums for rows owned by this block. Lane `lane` of a group owns columns lane + G k, k < K.
// U rows are loaded before any is used, so that each lane keeps U * K loads in flight.
// partial[blockIdx.x] receives (sum r^2, sum r, sum r X_j for j < D).
template <typename scalar_t, int G, int K>
__global__ void __launch_bounds__(kThreads) mse_rows_kernel(
    const scalar_t* __restrict__ X,     // [N, D], contiguous
    const scalar_t* __restrict__ w,     // [D]
    const scalar_t* __restrict__ bias,  // [1]
    const scalar_t* __restrict__ y,     // [N]
    int64_t N,
    int64_t D,
    acc_t<scalar_t>* __restrict__ partial) {  // [gridDim.x, D + 2]
  using acc = acc_t<scalar_t>;
  constexpr int kGroups = kThreads / G;
  constexpr int U = K >= 8 ? 1 : 8 / K;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  acc* shared = reinterpret_cast<acc*>(shared_bytes);  // [kGroups, D + 2]

  const int lane = threadIdx.x % G;
  const int group = threadIdx.x / G;
  const acc b = static_cast<acc>(bias[0]);
  acc wk[K], g[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int64_t j = lane + int64_t(G) * k;
    wk[k] = j < D ? static_cast<acc>(w[j]) : acc(0);
    g[k] = acc(0);
  }
  acc s_rr = 0, s_r = 0;
  const int64_t stride = int64_t(gridDim.x) * kGroups;
  // The loop runs on a block-uniform index, so every lane reaches every shuffle in group_sum;
  // rows past N are masked instead.
  for (int64_t first = int64_t(blockIdx.x) * kGroups; first < N; first += stride * U) {
    const int64_t row0 = first + group;
    acc x[U][K], yv[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t row = row0 + stride * u;
      yv[u] = row < N ? static_cast<acc>(y[row]) : acc(0);
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int64_t j = lane + int64_t(G) * k;
        x[u][k] = row < N && j < D ? static_cast<acc>(X[row * D + j]) : acc(0);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      acc dot = 0;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        dot += x[u][k] * wk[k];
      }
      const acc pred = group_sum<G>(dot) + b;
      const acc r = row0 + stride * u < N ? pred - yv[u] : acc(0);
      s_rr += r * r;
      s_r += r;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        g[k] += r * x[u][k];
      }
    }
  }
  // Block reduction through shared memory, in group order.
  const int64_t width = D + 2;
  if (lane == 0) {
    shared[group * width] = s_rr;
    shared[group * width + 1] = s_r;
  }
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int64_t j = lane + int64_t(G) * k;
    if (j < D) {
      shared[group * width + 2 + j] = g[k];
    }
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < width; c += kThreads) {
    acc total = 0;
    for (int q = 0; q < kGroups; ++q) {
      total += shared[q * width + c];
    }
    partial[blockIdx.x * width + c] = total;
  }
}

template <typename scalar_t, int G, int K>
__global__ void __launch_bounds__(kThreads) forward_rows_kernel(
    const scalar_t* __restrict__ X,
    const scalar_t* __restrict__ w,
    const scalar_t* __restrict__ bias,
    int64_t N,
    int64_t D,
    scalar_t* __restrict__ pred) {
  using acc = acc_t<scalar_t>;
  constexpr int kGroups = kThreads / G;
  const int lane = threadIdx.x % G;
  const acc b = static_cast<acc>(bias[0]);
  acc wk[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int64_t j = lane + int64_t(G) * k;
    wk[k] = j < D ? static_cast<acc>(w[j]) : acc(0);
  }
  const int64_t stride = int64_t(gridDim.x) * kGroups;
  // A block-uniform loop index, so that every lane reaches group_sum's shuffles (see above).
  for (int64_t first = int64_t(blockIdx.x) * kGroups; first < N; first += stride) {
    const int64_t row = first + threadIdx.x / G;
    acc dot = 0;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int64_t j = lane + int64_t(G) * k;
      dot += row < N && j < D ? static_cast<acc>(X[row * D + j]) * wk[k] : acc(0);
    }
    dot = group_sum<G>(dot);
    if (lane == 0 && row < N) {
      pred[row] = static_cast<scalar_t>(dot + b);
    }
  }
}

// ---- D > 256: a row per warp; column sums in the block's partial row -----------------------

// A row's dot product by one warp, lanes striding over the columns.
template <typename scalar_t>
__device__ __forceinline__ acc_t<scalar_t>
warp_row_dot(const scalar_t* __restrict__ xr, const scalar_t* __restrict__ w, int64_t D) {
  acc_t<scalar_t> dot = 0;
  for (int64_t j = threadIdx.x % kWarp; j < D; j += kWarp) {
    dot += static_cast<acc_t<scalar_t>>(xr[j]) * static_cast<acc_t<scalar_t>>(w[j]);
  }
  return group_sum<kWarp>(dot);
}

// Chunks of kRows rows (one per warp): the warps form the rows' residuals, then every thread adds
// sum_k r_k X_kj for its columns j into the partial row (the chunk's rows are in L1/L2 by then).
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads) mse_wide_kernel(
    const scalar_t* __restrict__ X,
    const scalar_t* __restrict__ w,
    const scalar_t* __restrict__ bias,
    const scalar_t* __restrict__ y,
    int64_t N,
    int64_t D,
    acc_t<scalar_t>* __restrict__ partial) {
  using acc = acc_t<scalar_t>;
  constexpr int kRows = kThreads / kWarp;
  __shared__ acc r_chunk[kRows];
  __shared__ acc scratch[kThreads / kWarp];
  const int warp = threadIdx.x / kWarp;
  const acc b = static_cast<acc>(bias[0]);
  acc* mine = partial + blockIdx.x * (D + 2);
  for (int64_t c = threadIdx.x; c < D + 2; c += kThreads) {
    mine[c] = 0;
  }
  acc s_rr = 0, s_r = 0;
  for (int64_t row0 = int64_t(blockIdx.x) * kRows; row0 < N; row0 += int64_t(gridDim.x) * kRows) {
    const int64_t row = row0 + warp;
    acc r = 0;
    if (row < N) {
      r = warp_row_dot(X + row * D, w, D) + b - static_cast<acc>(y[row]);
    }
    if (threadIdx.x % kWarp == 0) {
      r_chunk[warp] = r;
      s_rr += r * r;
      s_r += r;
    }
    __syncthreads();  // r_chunk complete; also orders the zeroing above before the adds below
    const int rows = static_cast<int>(N - row0 < kRows ? N - row0 : kRows);
    for (int64_t j = threadIdx.x; j < D; j += kThreads) {
      acc t = 0;
      for (int k = 0; k < rows; ++k) {
        t += r_chunk[k] * static_cast<acc>(X[(row0 + k) * D + j]);
      }
      mine[2 + j] += t;
    }
    __syncthreads();  // before r_chunk is overwritten
  }
  // s_rr and s_r live in lane 0 of each warp; the other lanes hold zeros.
  s_rr = block_sum(s_rr, scratch);
  __syncthreads();
  s_r = block_sum(s_r, scratch);
  if (threadIdx.x == 0) {
    mine[0] = s_rr;
    mine[1] = s_r;
  }
}

template <typename scalar_t>
__global__ void __launch_bounds__(kThreads) forward_wide_kernel(
    const scalar_t* __restrict__ X,
    const scalar_t* __restrict__ w,
    const scalar_t* __restrict__ bias,
    int64_t N,
    int64_t D,
    scalar_t* __restrict__ pred) {
  constexpr int kRows = kThreads / kWarp;
  const acc_t<scalar_t> b = static_cast<acc_t<scalar_t>>(bias[0]);
  for (int64_t row = int64_t(blockIdx.x) * kRows + threadIdx.x / kWarp; row < N;
       row += int64_t(gridDim.x) * kRows) {
    const acc_t<scalar_t> dot = warp_row_dot(X + row * D, w, D);
    if (threadIdx.x % kWarp == 0) {
      pred[row] = static_cast<scalar_t>(dot + b);
    }
  }
}

// ---- the final reduction -------------------------------------------------------------------

// Column c of partial ([blocks, D + 2]) summed over the blocks, one block per column, in a
// fixed order; then scaled: loss = s0 / N, grad_bias = 2 s1 / N, grad_weight_j = 2 s_{2+j} / N.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads) finalize_kernel(
    const acc_t<scalar_t>* __restrict__ partial,
    int64_t blocks,
    int64_t D,
    int64_t N,
    scalar_t* __restrict__ loss,
    scalar_t* __restrict__ grad_weight,
    scalar_t* __restrict__ grad_bias) {
  using acc = acc_t<scalar_t>;
  __shared__ acc scratch[kThreads / kWarp];
  const int64_t c = blockIdx.x;
  acc s = 0;
  for (int64_t q = threadIdx.x; q < blocks; q += kThreads) {
    s += partial[q * (D + 2) + c];
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const acc mean = s / static_cast<acc>(N);
    if (c == 0) {
      *loss = static_cast<scalar_t>(mean);
    } else if (c == 1) {
      *grad_bias = static_cast<scalar_t>(2 * mean);
    } else {
      grad_weight[c - 2] = static_cast<scalar_t>(2 * mean);
    }
  }
}

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
      mse_rows_kernel<scalar_t, decltype(G)::value, decltype(K)::value>
          <<<blocks, kThreads, shared, stream>>>(
              X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
              bias.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(), N, D,
              partial.mutable_data_ptr<acc>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  } else {
    blocks = grid_size(N, kThreads / kWarp, device);
    partial = at::empty({blocks, D + 2}, X.options().dtype(acc_dtype));
    mse_wide_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
        bias.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(), N, D,
        partial.mutable_data_ptr<acc>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  finalize_kernel<scalar_t><<<D + 2, kThreads, 0, stream>>>(
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
      forward_rows_kernel<scalar_t, decltype(G)::value, decltype(K)::value>
          <<<grid_size(N, kGroups, device), kThreads, 0, stream>>>(
              X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
              bias.const_data_ptr<scalar_t>(), N, D, pred.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  } else {
    forward_wide_kernel<scalar_t><<<grid_size(N, kThreads / kWarp, device), kThreads, 0, stream>>>(
        X.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
        bias.const_data_ptr<scalar_t>(), N, D, pred.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

at::Tensor
linear_forward_cuda(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  const char* op = "linear_forward";
  check_linear_inputs(op, X, weight, bias);
  check_dtype_supported(op, X, {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}, "CUDA");
  const c10::cuda::CUDAGuard guard(X.device());
  at::Tensor pred = at::empty({X.size(0)}, X.options());
  if (X.size(0) == 0) {
    return pred;  // no work: never launch a 0-block grid
  }
  const at::Tensor Xc = X.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, X.scalar_type(), "linear_forward_impl",
      [&] { linear_forward_impl<scalar_t>(Xc, wc, bc, pred); });
  return pred;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cuda(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const char* op = "linear_mse_grad";
  check_mse_inputs(op, X, weight, bias, y);
  check_dtype_supported(op, X, {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}, "CUDA");
  const c10::cuda::CUDAGuard guard(X.device());
  // std::tie, not a structured binding: C++17 (torch 2.11) cannot capture those in a lambda.
  at::Tensor loss, grad_weight, grad_bias;
  std::tie(loss, grad_weight, grad_bias) = empty_mse_outputs(X, weight, bias);
  // Raw pointers only from contiguous tensors: a non-contiguous input is copied once here.
  const at::Tensor Xc = X.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const at::Tensor yc = y.reshape({-1}).contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, X.scalar_type(), "linear_mse_grad_impl",
      [&] { linear_mse_grad_impl<scalar_t>(Xc, wc, bc, yc, loss, grad_weight, grad_bias); });
  return {loss, grad_weight, grad_bias};
}

TORCH_LIBRARY_IMPL(linreg_ext, CUDA, m) {
  m.impl("linear_forward", &linear_forward_cuda);
  m.impl("linear_mse_grad", &linear_mse_grad_cuda);
}

}  // namespace linreg_ext
