// Eight-lane float64 vectors for the CPU kernels, written with GCC/Clang vector extensions: one
// AVX-512 register, two AVX2 or four SSE2 registers, whichever instruction set the including
// function is compiled for (see LINREG_CPU_CLONES). float32 data is widened to float64 as it is
// loaded. All helpers are always inlined, so they take the instruction set of their caller.
#pragma once

#include <c10/macros/Macros.h>

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// Compiles a function for AVX-512, AVX2 and baseline x86-64; the loader picks one at run time.
#define LINREG_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// Passing these vectors by value has another ABI with AVX-512 than without, and GCC says so. Every
// function taking or returning one is inlined into its caller, so no ABI boundary is crossed.
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define LINREG_CPU_CLONES
#endif

namespace linreg_ext::vec {

using f64x8 = double __attribute__((vector_size(64)));
using f32x8 = float __attribute__((vector_size(32)));
using i64x8 = int64_t __attribute__((vector_size(64)));
constexpr int64_t kLanes = 8;
// Sixteen floats: the float32 wide-row kernel's 4-row sums of r X (see add_wide).
using f32x16 = float __attribute__((vector_size(64)));

C10_ALWAYS_INLINE f64x8 splat(double v) {
  return f64x8{} + v;
}

// p[0, 8) widened to float64; p need not be aligned.
C10_ALWAYS_INLINE f64x8 load(const double* p) {
  f64x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
C10_ALWAYS_INLINE f64x8 load(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, f64x8);
}

// p[0, n) for 1 <= n <= 8, the other lanes zero; reads nothing past p[n - 1].
template <typename T>
C10_ALWAYS_INLINE f64x8 load_first(const T* p, int64_t n) {
  T buf[kLanes] = {};
  for (int64_t l = 0; l < n; ++l) {
    buf[l] = p[l];
  }
  return load(buf);
}

// v rounded to T, stored to p[0, 8).
C10_ALWAYS_INLINE void store(double* p, f64x8 v) {
  std::memcpy(p, &v, sizeof v);
}
C10_ALWAYS_INLINE void store(float* p, f64x8 v) {
  const f32x8 narrow = __builtin_convertvector(v, f32x8);
  std::memcpy(p, &narrow, sizeof narrow);
}

// All ones in lanes [0, n), zero in the others.
C10_ALWAYS_INLINE i64x8 first_lanes(int64_t n) {
  const i64x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  return lane < n;
}

// v with the lanes outside `mask` set to +0.0: NaN or Inf read there cannot leak into a sum.
C10_ALWAYS_INLINE f64x8 keep(f64x8 v, i64x8 mask) {
  return mask ? v : f64x8{};
}

// ---- sixteen floats ----

C10_ALWAYS_INLINE f32x16 load16(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// acc[0] += v[0, 8), acc[1] += v[8, 16), widened to float64.
C10_ALWAYS_INLINE void add_wide(f64x8* acc, f32x16 v) {
  acc[0] += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), f64x8);
  acc[1] +=
      __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), f64x8);
}

// The lanes' sum, in a fixed tree order so that results do not depend on the instruction set.
C10_ALWAYS_INLINE double sum(f64x8 v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

// Lane k of the result is the sum of the lanes of d[k]: eight horizontal sums at once, by
// pairwise shuffles and adds (a fixed tree, like sum()).
C10_ALWAYS_INLINE f64x8 transpose_sum(const f64x8* d) {
  f64x8 t[4], u[2];
  for (int m = 0; m < 4; ++m) {
    const f64x8 a = d[2 * m], b = d[2 * m + 1];
    t[m] = __builtin_shufflevector(a, b, 0, 8, 2, 10, 4, 12, 6, 14) +
           __builtin_shufflevector(a, b, 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int m = 0; m < 2; ++m) {
    const f64x8 a = t[2 * m], b = t[2 * m + 1];
    u[m] = __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13) +
           __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
  }
  return __builtin_shufflevector(u[0], u[1], 0, 1, 2, 3, 8, 9, 10, 11) +
         __builtin_shufflevector(u[0], u[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

}  // namespace linreg_ext::vec
