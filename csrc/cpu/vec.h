// Vectors of kLanes float64 for the CPU loops (GCC/Clang vector extensions), compiled once per
// instruction set: included by linreg_loops.h in a kernels_<isa>.cpp, after its target pragma.
// kLanes is 8 with AVX-512 (one zmm register), else 4 (one ymm, or two SSE2 registers). float32
// is widened as it is loaded, by intrinsics where the ISA file sets LINREG_CPU_AVX512/_AVX2: GCC 12
// lowers __builtin_convertvector into 2-lane pieces (1.7x slower per row at D = 8), and
// `#pragma GCC target` does not define __AVX2__.
#pragma once

namespace linreg_ext::cpu::LINREG_CPU_ISA::vec {

constexpr int kLanes = LINREG_CPU_LANES;
using vd = double __attribute__((vector_size(kLanes * sizeof(double))));
using vi = int64_t __attribute__((vector_size(kLanes * sizeof(int64_t))));
using vf = float __attribute__((vector_size(kLanes * sizeof(float))));

C10_ALWAYS_INLINE vd splat(double v) {
  vd r;
  for (int l = 0; l < kLanes; ++l) {
    r[l] = v;
  }
  return r;
}

// p[0, kLanes) widened to float64; p need not be aligned.
C10_ALWAYS_INLINE vd load(const double* p) {
  vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
C10_ALWAYS_INLINE vd load(const float* p) {
#if LINREG_CPU_AVX512
  return reinterpret_cast<vd>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
#elif LINREG_CPU_AVX2
  return reinterpret_cast<vd>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#else
  vf v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, vd);
#endif
}

// base[0], base[stride], ..., base[(kLanes - 1) * stride] widened to float64, one lane at a time.
template <typename T, size_t... K>
C10_ALWAYS_INLINE vd gather(const T* base, int64_t stride, std::index_sequence<K...>) {
  return vd{static_cast<double>(base[static_cast<int64_t>(K) * stride])...};
}
template <typename T>
C10_ALWAYS_INLINE vd gather(const T* base, int64_t stride) {
  return gather(base, stride, std::make_index_sequence<kLanes>{});
}

// p[0, n) for 1 <= n <= kLanes, the other lanes zero; reads nothing past p[n - 1].
template <typename T>
C10_ALWAYS_INLINE vd load_first(const T* p, int64_t n) {
  T buf[kLanes] = {};
  for (int64_t l = 0; l < n; ++l) {
    buf[l] = p[l];
  }
  return load(buf);
}

// v rounded to T, stored to p[0, kLanes).
C10_ALWAYS_INLINE void store(double* p, vd v) {
  std::memcpy(p, &v, sizeof v);
}
C10_ALWAYS_INLINE void store(float* p, vd v) {
#if LINREG_CPU_AVX512
  _mm256_storeu_ps(p, _mm512_cvtpd_ps(reinterpret_cast<__m512d>(v)));
#elif LINREG_CPU_AVX2
  _mm_storeu_ps(p, _mm256_cvtpd_ps(reinterpret_cast<__m256d>(v)));
#else
  const vf narrow = __builtin_convertvector(v, vf);
  std::memcpy(p, &narrow, sizeof narrow);
#endif
}

// All ones in lanes [0, n), zero in the others.
C10_ALWAYS_INLINE vi first_lanes(int64_t n) {
  vi lane;
  for (int l = 0; l < kLanes; ++l) {
    lane[l] = l;
  }
  return lane < n;
}

// v with the lanes outside `mask` set to +0.0: NaN or Inf read there cannot leak into a sum.
C10_ALWAYS_INLINE vd keep(vd v, vi mask) {
  return mask ? v : vd{};
}

// The lanes' sum, in a fixed tree order.
C10_ALWAYS_INLINE double sum(vd v) {
#if LINREG_CPU_LANES == 8
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
#else
  return (v[0] + v[2]) + (v[1] + v[3]);
#endif
}

// Lane k of the result is the sum of the lanes of d[k]: kLanes horizontal sums at once, by
// pairwise shuffles and adds (a fixed tree, like sum()).
C10_ALWAYS_INLINE vd transpose_sum(const vd* d) {
#if LINREG_CPU_LANES == 8
  {
    vd t[4], u[2];
    for (int m = 0; m < 4; ++m) {
      const vd a = d[2 * m], b = d[2 * m + 1];
      t[m] = __builtin_shufflevector(a, b, 0, 8, 2, 10, 4, 12, 6, 14) +
             __builtin_shufflevector(a, b, 1, 9, 3, 11, 5, 13, 7, 15);
    }
    for (int m = 0; m < 2; ++m) {
      const vd a = t[2 * m], b = t[2 * m + 1];
      u[m] = __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13) +
             __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
    }
    return __builtin_shufflevector(u[0], u[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(u[0], u[1], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#else
  {
    const vd t0 = __builtin_shufflevector(d[0], d[1], 0, 4, 2, 6) +
                  __builtin_shufflevector(d[0], d[1], 1, 5, 3, 7);
    const vd t1 = __builtin_shufflevector(d[2], d[3], 0, 4, 2, 6) +
                  __builtin_shufflevector(d[2], d[3], 1, 5, 3, 7);
    return __builtin_shufflevector(t0, t1, 0, 1, 4, 5) +
           __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
  }
#endif
}

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA::vec
