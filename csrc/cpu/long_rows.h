// Loop shapes for longer rows (BlockedRows, LongRows), where a row is one or more vectors, and for
// any strides. Part of linreg_loops.h, compiled once per instruction set (see there).
#pragma once

namespace linreg_ext::cpu::LINREG_CPU_ISA {

// ---- rows of V vectors (D <= V kLanes), contiguous: kLanes rows per block -------------------
//   dot_k = sum of the lanes of X_k * w (the kLanes rows' sums by one transpose_sum tree)
//   r = dot + bias - y;   sums += (r^2, r) lane by lane;   sums_rx += r_k X_k row by row
// All sums stay in registers; r X goes to two sets of sums (even and odd rows) to halve the
// chains of dependent adds.
template <typename T, int V>
struct BlockedRows {
  const Problem<T>& p;
  vd w[V];
  vec::vi tail;  // the lanes of the last vector that hold columns of X

  C10_ALWAYS_INLINE explicit BlockedRows(const Problem<T>& problem) : p(problem) {
    for (int v = 0; v < V; ++v) {
      w[v] = vec::load(p.w + v * kLanes);
    }
    tail = vec::first_lanes(p.D - (V - 1) * kLanes);
  }

  // Vector v of row i; lanes past column D are zero.
  C10_ALWAYS_INLINE vd part(int64_t i, int v, bool overread) const {
    const T* src = p.x + i * p.sx0 + v * kLanes;
    if (v + 1 < V) {
      return vec::load(src);
    }
    return overread ? vec::keep(vec::load(src), tail)
                    : vec::load_first(src, p.D - (V - 1) * kLanes);
  }

  // The kLanes rows i .. i + kLanes - 1, each as V vectors, and X_k . w + bias for each.
  C10_ALWAYS_INLINE vd load_block(int64_t i, bool overread, vd (&xs)[kLanes][V]) const {
    prefetch_rows(p, i, kLanes);
    vd d[kLanes];
    for (int k = 0; k < kLanes; ++k) {
      for (int v = 0; v < V; ++v) {
        xs[k][v] = part(i + k, v, overread);
      }
      d[k] = xs[k][0] * w[0];
      for (int v = 1; v < V; ++v) {
        d[k] += xs[k][v] * w[v];
      }
    }
    return vec::transpose_sum(d) + vec::splat(p.bias);
  }

  // X_i . w + bias for one row.
  C10_ALWAYS_INLINE double row_pred(int64_t i, bool overread) const {
    vd d = part(i, 0, overread) * w[0];
    for (int v = 1; v < V; ++v) {
      d += part(i, v, overread) * w[v];
    }
    return vec::sum(d) + p.bias;
  }

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, double* sums) const {
    vd s_rx[2][V] = {};
    vd s_rr = {}, s_r = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      vd xs[kLanes][V];
      const vd r = load_block(i, i + kLanes <= p.overread_rows, xs) - load_y(p, i);
      s_rr += r * r;
      s_r += r;
      double rs[kLanes];  // broadcast from memory: a load, not a cross-lane shuffle
      vec::store(rs, r);
      for (int k = 0; k < kLanes; ++k) {
        const vd rk = vec::splat(rs[k]);
        for (int v = 0; v < V; ++v) {
          s_rx[k % 2][v] += rk * xs[k][v];
        }
      }
    }
    double t_rr = 0.0, t_r = 0.0;
    for (; i < end; ++i) {  // fewer than kLanes rows left
      const bool overread = i < p.overread_rows;
      const double r = row_pred(i, overread) - static_cast<double>(p.y[i * p.sy]);
      t_rr += r * r;
      t_r += r;
      for (int v = 0; v < V; ++v) {
        s_rx[0][v] += vec::splat(r) * part(i, v, overread);
      }
    }
    sums[0] += vec::sum(s_rr) + t_rr;
    sums[1] += vec::sum(s_r) + t_r;
    for (int64_t j = 0; j < p.D; ++j) {
      sums[2 + j] += s_rx[0][j / kLanes][j % kLanes] + s_rx[1][j / kLanes][j % kLanes];
    }
  }

  C10_ALWAYS_INLINE void forward(int64_t begin, int64_t end, T* pred) const {
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      vd xs[kLanes][V];
      vec::store(pred + i, load_block(i, i + kLanes <= p.overread_rows, xs));
    }
    for (; i < end; ++i) {
      pred[i] = static_cast<T>(row_pred(i, i < p.overread_rows));
    }
  }
};

// ---- longer rows, contiguous: 4 rows per block, the sums of r X in memory (L1) -------------
//   dot_k = X_k . w, row by row (four vector accumulators);  r_k = dot_k + bias - y_k
//   sums += (r^2, r);   sums_rx[j] += r_0 X_0j + r_1 X_1j + r_2 X_2j + r_3 X_3j   (float64)
// (Until this change float32 rows summed those 4 products in float32, r_k rounded to float32:
// at the least-squares solution that left relative errors of 3e-6 at D = 33 and 64.)
template <typename T>
struct LongRows {
  static constexpr int64_t kRows = 4;
  static constexpr int64_t kBurstLines = 16;  // rows of up to 1 KiB are prefetched at once
  const Problem<T>& p;

  // X_k . w for rows i .. i + n - 1 (n <= kRows) into dot[0, n). Row by row, so that X is read
  // in address order, two cache lines at a time.
  C10_ALWAYS_INLINE void dots(int64_t i, int64_t n, double* dot) const {
    constexpr int64_t kLine = 64 / sizeof(T);  // elements per cache line
    constexpr int64_t kStep = 2 * kLine;
    const int64_t D = p.D;
    for (int64_t k = 0; k < n; ++k) {
      const T* xk = p.x + (i + k) * p.sx0;
      const T* ahead = p.x + (i + k + p.prefetch_rows) * p.sx0;
      // Every cache line of the row `prefetch_rows` on, the last partial one included. A row of
      // up to kBurstLines lines is prefetched at once, before it is read; a longer one two lines
      // a step as it is read (a burst of 32 or more lines overruns the core's outstanding
      // misses), then the lines the steps did not cover. Alternating builds on Zen 3: prefetching
      // only the steps' lines left float64 D = 60 at 1.6x the floor (1.15x now); bursting every
      // row left float64 D = 1024 at 1.6-1.7x (1.4x spread).
      const bool burst = D <= kBurstLines * kLine;
      if (burst) {
        for (int64_t off = 0; off < D; off += kLine) {
          __builtin_prefetch(ahead + off);
        }
      }
      vd d[4] = {};
      int64_t j = 0;
      for (; j + kStep <= D; j += kStep) {
        if (!burst) {
          __builtin_prefetch(ahead + j);
          __builtin_prefetch(ahead + j + kLine);
        }
        for (int64_t v = 0; v < kStep / kLanes; ++v) {
          d[v % 4] += vec::load(xk + j + v * kLanes) * vec::load(p.w + j + v * kLanes);
        }
      }
      if (!burst) {
        for (int64_t off = j; off < D; off += kLine) {
          __builtin_prefetch(ahead + off);
        }
      }
      for (; j + kLanes <= D; j += kLanes) {
        d[0] += vec::load(xk + j) * vec::load(p.w + j);
      }
      double tail = 0.0;
      for (; j < D; ++j) {
        tail += static_cast<double>(xk[j]) * p.w[j];
      }
      dot[k] = vec::sum((d[0] + d[1]) + (d[2] + d[3])) + tail;
    }
  }

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, double* sums) const {
    const int64_t D = p.D;
    double* __restrict s_rx = sums + 2;
    double s_rr = 0.0, s_r = 0.0;
    for (int64_t i = begin; i < end; i += kRows) {
      const int64_t n = std::min(kRows, end - i);
      double r[kRows] = {};
      dots(i, n, r);
      for (int64_t k = 0; k < n; ++k) {
        r[k] += p.bias - static_cast<double>(p.y[(i + k) * p.sy]);
        s_rr += r[k] * r[k];
        s_r += r[k];
      }
      const T* x[kRows];
      for (int64_t k = 0; k < kRows; ++k) {
        x[k] = p.x + (i + std::min(k, n - 1)) * p.sx0;  // r[k] == 0 for k >= n
      }
      int64_t j = 0;
      for (; j + kLanes <= D; j += kLanes) {
        vd acc = vec::load(s_rx + j);
        for (int64_t k = 0; k < kRows; ++k) {
          acc += vec::splat(r[k]) * vec::load(x[k] + j);
        }
        vec::store(s_rx + j, acc);
      }
      for (; j < D; ++j) {
        for (int64_t k = 0; k < n; ++k) {
          s_rx[j] += r[k] * static_cast<double>(x[k][j]);
        }
      }
    }
    sums[0] += s_rr;
    sums[1] += s_r;
  }

  C10_ALWAYS_INLINE void forward(int64_t begin, int64_t end, T* pred) const {
    for (int64_t i = begin; i < end; i += kRows) {
      const int64_t n = std::min(kRows, end - i);
      double dot[kRows];
      dots(i, n, dot);
      for (int64_t k = 0; k < n; ++k) {
        pred[i + k] = static_cast<T>(dot[k] + p.bias);
      }
    }
  }
};

// ---- any strides (a transposed or sliced X): one element at a time --------------------------
//   r_i = (X_i . w, summed in column order) + bias - y_i
template <typename T>
C10_ALWAYS_INLINE double strided_dot(const Problem<T>& p, int64_t i) {
  double d = 0.0;
  for (int64_t j = 0; j < p.D; ++j) {
    d += static_cast<double>(p.x[i * p.sx0 + j * p.sx1]) * p.w[j];
  }
  return d;
}

template <typename T>
C10_ALWAYS_INLINE void strided_mse(const Problem<T>& p, int64_t begin, int64_t end, double* sums) {
  for (int64_t i = begin; i < end; ++i) {
    const double r = strided_dot(p, i) + p.bias - static_cast<double>(p.y[i * p.sy]);
    sums[0] += r * r;
    sums[1] += r;
    for (int64_t j = 0; j < p.D; ++j) {
      sums[2 + j] += r * static_cast<double>(p.x[i * p.sx0 + j * p.sx1]);
    }
  }
}

template <typename T>
C10_ALWAYS_INLINE void strided_forward(const Problem<T>& p, int64_t begin, int64_t end, T* pred) {
  for (int64_t i = begin; i < end; ++i) {
    pred[i] = static_cast<T>(strided_dot(p, i) + p.bias);
  }
}

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA
