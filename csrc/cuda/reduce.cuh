// Reduction helpers of the CUDA kernels (linreg_kernel.cu): the accumulation type, and sums over
// a lane group and over a block, each in a fixed order so that results are the same run after run.
#pragma once

#include <ATen/AccumulateType.h>

namespace linreg_ext {

constexpr int kThreads = 256;  // threads per block, in every kernel
constexpr int kWarp = 32;

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

}  // namespace linreg_ext
