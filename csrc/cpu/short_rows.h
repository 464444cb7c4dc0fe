// Loop shapes for short rows (D = 1 .. max_short_d<T>()), where the lanes of a vector are rows.
// Part of linreg_loops.h, compiled once per instruction set (see there).
#pragma once

namespace linreg_ext::cpu::LINREG_CPU_ISA {

// ---- D == 1, x (and y) contiguous: the rows are the lanes ----------------------------------
//   r_i = x_i w_0 + bias - y_i;   sums += (r^2, r, r x) lane by lane, two vectors per step.
template <typename T>
C10_ALWAYS_INLINE void column_mse(const Problem<T>& p, int64_t begin, int64_t end, double* sums) {
  const vd w = vec::splat(p.w[0]);
  const vd bias = vec::splat(p.bias);
  vd s_rr[2] = {}, s_r[2] = {}, s_rx[2] = {};
  int64_t i = begin;
  constexpr int64_t kAhead = kPrefetchBytes / sizeof(T);
  for (; i + 2 * kLanes <= end; i += 2 * kLanes) {
    if ((i - begin) % (64 / sizeof(T)) < 2 * kLanes) {  // once per cache line of x and of y
      __builtin_prefetch(p.x + i + kAhead);
      __builtin_prefetch(p.y + i + kAhead);
    }
    for (int k = 0; k < 2; ++k) {
      const vd x = vec::load(p.x + i + k * kLanes);
      const vd r = x * w + bias - vec::load(p.y + i + k * kLanes);
      s_rr[k] += r * r;
      s_r[k] += r;
      s_rx[k] += r * x;
    }
  }
  double t_rr = 0.0, t_r = 0.0, t_rx = 0.0;
  for (; i < end; ++i) {
    const double x = static_cast<double>(p.x[i]);
    const double r = x * p.w[0] + p.bias - static_cast<double>(p.y[i]);
    t_rr += r * r;
    t_r += r;
    t_rx += r * x;
  }
  sums[0] += vec::sum(s_rr[0] + s_rr[1]) + t_rr;
  sums[1] += vec::sum(s_r[0] + s_r[1]) + t_r;
  sums[2] += vec::sum(s_rx[0] + s_rx[1]) + t_rx;
}

//   pred_i = x_i w_0 + bias
template <typename T>
C10_ALWAYS_INLINE void column_forward(const Problem<T>& p, int64_t begin, int64_t end, T* pred) {
  const vd w = vec::splat(p.w[0]);
  const vd bias = vec::splat(p.bias);
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    vec::store(pred + i, vec::load(p.x + i) * w + bias);
  }
  for (; i < end; ++i) {
    pred[i] = static_cast<T>(static_cast<double>(p.x[i]) * p.w[0] + p.bias);
  }
}

// ---- 1 <= D <= max_short_d<T>(), each row contiguous: the rows are the lanes -------------
// A block is kLanes consecutive rows; column j of a block is gathered lane by lane from the rows
// (c_j[k] = X[i + k][j]), so no lane is padding whatever D is (a row per vector would leave
// 8 - D of 8 lanes idle), and no horizontal sum is needed:
//   r = (bias - y) + c_0 w_0 + ... + c_{D-1} w_{D-1}   (in this order)
//   sums += (r^2, r, r c_0, ..., r c_{D-1}) lane by lane; two blocks per step, each into its own
//   accumulators, so that no chain of dependent adds limits the step.
// kDense: X is [N, D] contiguous and y contiguous, so every offset is a compile-time constant
// (measured 1.4x fewer cycles per row than the same loop with run-time strides).
// kTransposed (float32 with AVX2, D = 3..10; see transposed_rows): the four rows of a block are
// loaded whole, 8 floats at a time, and transposed in registers by 8 in-lane shuffles per 8
// columns instead of gathering every column element by element (and, at D = 7 to 10, instead of
// BlockedRows' row per vector). It loads up to 16 - D elements past each row (X's own: later rows
// or a view's gap), which rows below overread_rows allow; later rows take the scalar tail. The
// columns it yields are those the gather yields, so each row's residual and forward value are
// the same; the few last rows that now take the scalar tail are summed in another order (the
// gradient may differ in its last bit). Past 8 columns the gradient takes one block per step (two
// blocks' sums no longer fit the 16 registers), and past 10 BlockedRows was faster again (D = 12
// and 16: 1.35-1.65x the floor against 1.26-1.49x). Measured on Zen 3 (BENCHMARKS.md, alternating
// runs, one thread, fused / floor): D = 5 1.23-1.44 -> 1.17-1.21, D = 7 1.32-1.47 -> 1.26-1.32,
// D = 9 1.49-1.65 -> 1.22-1.40; the forward 1.1-1.6 -> 0.95-1.16 at D = 5..10.
template <typename T>
constexpr bool transposed_rows(int64_t D) {
  return LINREG_CPU_AVX2 && std::is_same_v<T, float> && D >= 3 && D <= 10;
}

template <typename T, int D, bool kDense>
struct ShortRows {
  static constexpr bool kTransposed = transposed_rows<T>(D);
  const T* x;
  int64_t sx0;  // row stride of X: D when kDense
  const T* y;
  int64_t sy;
  double bias;
  int64_t ahead;       // prefetch distance, in rows
  int64_t whole_rows;  // rows below this may be loaded whole: 8 or 16 elements (kTransposed)
  vd w[D];

  C10_ALWAYS_INLINE explicit ShortRows(const Problem<T>& p)
      : x(p.x),
        sx0(kDense ? D : p.sx0),
        y(p.y),
        sy(kDense ? 1 : p.sy),
        bias(p.bias),
        ahead(p.prefetch_rows),
        whole_rows(p.overread_rows) {
    for (int j = 0; j < D; ++j) {
      w[j] = vec::splat(p.w[j]);
    }
  }

  C10_ALWAYS_INLINE int64_t row(int64_t i) const {
    return kDense ? i * D : i * sx0;
  }

#if LINREG_CPU_AVX2
  // c[j] for j in [J, min(D, J + 8)): elements J .. J + 7 of rows i .. i + 3 loaded whole and
  // transposed: a_k = row i + k; t and u interleave them pairwise within each 128-bit half, so
  // that u_k = (column J + k of the 4 rows, column J + k + 4 of the 4 rows).
  template <int J>
  C10_ALWAYS_INLINE void columns_of_8(int64_t i, vd (&c)[D]) const {
    __m256 a[4], t[4];
    for (int k = 0; k < 4; ++k) {
      a[k] = _mm256_loadu_ps(reinterpret_cast<const float*>(x + row(i + k) + J));
    }
    t[0] = _mm256_unpacklo_ps(a[0], a[1]);
    t[1] = _mm256_unpackhi_ps(a[0], a[1]);
    t[2] = _mm256_unpacklo_ps(a[2], a[3]);
    t[3] = _mm256_unpackhi_ps(a[2], a[3]);
    const auto pairs = [](__m256 lo, __m256 hi, bool high) {
      const __m256d l = _mm256_castps_pd(lo), h = _mm256_castps_pd(hi);
      return _mm256_castpd_ps(high ? _mm256_unpackhi_pd(l, h) : _mm256_unpacklo_pd(l, h));
    };
    const __m256 u[4] = {
        pairs(t[0], t[2], false), pairs(t[0], t[2], true), pairs(t[1], t[3], false),
        pairs(t[1], t[3], true)};
    for (int j = J; j < D && j < J + 8; ++j) {
      const int k = j - J;
      const __m128 half = k < 4 ? _mm256_castps256_ps128(u[k]) : _mm256_extractf128_ps(u[k & 3], 1);
      c[j] = reinterpret_cast<vd>(_mm256_cvtps_pd(half));
    }
  }
#endif

  // c[j] = column j of rows i .. i + kLanes - 1.
  C10_ALWAYS_INLINE void columns(int64_t i, vd (&c)[D]) const {
#if LINREG_CPU_AVX2
    if constexpr (kTransposed) {
      columns_of_8<0>(i, c);
      if constexpr (D > 8) {
        columns_of_8<8>(i, c);
      }
      return;
    }
#endif
    for (int j = 0; j < D; ++j) {
      c[j] = vec::gather(x + row(i) + j, kDense ? D : sx0);
    }
  }

  // The end of the rows the vector loops may take from [begin, end): all of them, or with
  // kTransposed those that may be loaded whole.
  C10_ALWAYS_INLINE int64_t vector_end(int64_t begin, int64_t end) const {
    return kTransposed ? std::max(begin, std::min(end, whole_rows)) : end;
  }

  C10_ALWAYS_INLINE vd targets(int64_t i) const {
    return kDense ? vec::load(y + i) : vec::gather(y + i * sy, sy);
  }

  // The rows of the next step, `ahead` rows on: one prefetch per cache line when rows are
  // adjacent, else one per row (D <= 6 elements rarely cross a line).
  C10_ALWAYS_INLINE void prefetch(int64_t i, int64_t rows) const {
    if (kDense) {
      for (int64_t off = 0; off < rows * D * int64_t(sizeof(T)); off += 64) {
        __builtin_prefetch(reinterpret_cast<const char*>(x + row(i + ahead)) + off);
      }
    } else {
      for (int64_t k = 0; k < rows; ++k) {
        __builtin_prefetch(x + row(i + ahead + k));
      }
    }
  }

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, double* sums) const {
    const vd b = vec::splat(bias);
    vd s_rr[2] = {}, s_r[2] = {}, s_rx[2][D] = {};
    int64_t i = begin;
    constexpr int kBlocks = D > 8 ? 1 : 2;  // past 8 columns two blocks' sums spill registers
    for (const int64_t stop = vector_end(begin, end); i + kBlocks * kLanes <= stop;
         i += kBlocks * kLanes) {
      prefetch(i, kBlocks * kLanes);
      for (int h = 0; h < kBlocks; ++h) {
        vd c[D];
        columns(i + h * kLanes, c);
        vd r = b - targets(i + h * kLanes);
        for (int j = 0; j < D; ++j) {
          r += c[j] * w[j];
        }
        s_rr[h] += r * r;
        s_r[h] += r;
        for (int j = 0; j < D; ++j) {
          s_rx[h][j] += r * c[j];
        }
      }
    }
    double t_rr = 0.0, t_r = 0.0, t_rx[D] = {};
    for (; i < end; ++i) {  // fewer than 2 kLanes rows left (more at X's end with kTransposed)
      double r = bias - static_cast<double>(y[i * sy]);
      for (int j = 0; j < D; ++j) {
        r += static_cast<double>(x[row(i) + j]) * w[j][0];
      }
      t_rr += r * r;
      t_r += r;
      for (int j = 0; j < D; ++j) {
        t_rx[j] += r * static_cast<double>(x[row(i) + j]);
      }
    }
    sums[0] += vec::sum(s_rr[0] + s_rr[1]) + t_rr;
    sums[1] += vec::sum(s_r[0] + s_r[1]) + t_r;
    for (int j = 0; j < D; ++j) {
      sums[2 + j] += vec::sum(s_rx[0][j] + s_rx[1][j]) + t_rx[j];
    }
  }

  //   pred = bias + c_0 w_0 + ... + c_{D-1} w_{D-1}
  C10_ALWAYS_INLINE void forward(int64_t begin, int64_t end, T* pred) const {
    const vd b = vec::splat(bias);
    int64_t i = begin;
    for (const int64_t stop = vector_end(begin, end); i + kLanes <= stop; i += kLanes) {
      prefetch(i, kLanes);
      vd c[D];
      columns(i, c);
      vd d = b;
      for (int j = 0; j < D; ++j) {
        d += c[j] * w[j];
      }
      vec::store(pred + i, d);
    }
    for (; i < end; ++i) {
      double d = bias;
      for (int j = 0; j < D; ++j) {
        d += static_cast<double>(x[row(i) + j]) * w[j][0];
      }
      pred[i] = static_cast<T>(d);
    }
  }
};

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA
