// The CUDA kernels of linear_forward and linear_mse_grad; their launchers, the entry points and
// the registration are in linreg_kernel.cu, the only file that includes this one.
//
// linear_mse_grad reads X once. A group of G lanes owns a row at a time (G = 1 for D <= 8 up to a
// whole warp for D <= 256): each lane holds up to K columns of the row in registers, the group
// sums its products with shuffles, and every lane adds r * X_ij into its own column sums. Each
// block writes its sums to one row of a [blocks, D + 2] partial buffer (never N-sized), and
// linear_mse_grad_finalize_kernel adds the rows in block order: no float atomics, so results are
// bit-identical run after run on a given GPU. Rows longer than 256 ("long rows") take kernels
// whose column sums live in that partial row instead of registers, so D has no limit from
// registers or shared memory.
#pragma once

#include "reduce.cuh"

#include <cstdint>

namespace linreg_ext {

constexpr int64_t kMaxRegisterD = 256;  // longer rows: the *_long_rows_kernel pair

// ---- D <= 256: a row per group of G lanes, K columns per lane in registers ------------------

// Row sums for rows owned by this block. Lane `lane` of a group owns columns lane + G k, k < K.
// U rows are loaded before any is used, so that each lane keeps U * K loads in flight.
// partial[blockIdx.x] receives (sum r^2, sum r, sum r X_j for j < D).
template <typename scalar_t, int G, int K>
__global__ void __launch_bounds__(kThreads) linear_mse_grad_rows_kernel(
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
__global__ void __launch_bounds__(kThreads) linear_forward_rows_kernel(
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

// ---- long rows (D > 256): a row per warp; column sums in the block's partial row
// -----------------------

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
__global__ void __launch_bounds__(kThreads) linear_mse_grad_long_rows_kernel(
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
__global__ void __launch_bounds__(kThreads) linear_forward_long_rows_kernel(
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
__global__ void __launch_bounds__(kThreads) linear_mse_grad_finalize_kernel(
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

}  // namespace linreg_ext
