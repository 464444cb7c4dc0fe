// Loop shapes for short rows (D = 1, and 2 .. kMaxShortD), where the lanes of a vector are rows.
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

// ---- 2 <= D <= kMaxShortD, rows contiguous: the rows are the lanes --------------------------
// A block is kLanes consecutive rows; column j of a block is gathered lane by lane from the rows
// (c_j[k] = X[i + k][j]), so no lane is padding whatever D is (a row per vector would leave
// 8 - D of 8 lanes idle), and no horizontal sum is needed:
//   r = (bias - y) + c_0 w_0 + ... + c_{D-1} w_{D-1}   (in this order)
//   sums += (r^2, r, r c_0, ..., r c_{D-1}) lane by lane; two blocks per step, each into its own
//   accumulators, so that no chain of dependent adds limits the step.
template <typename T, int D>
struct ShortRows {
  const Problem<T>& p;
  vd w[D];

  C10_ALWAYS_INLINE explicit ShortRows(const Problem<T>& problem) : p(problem) {
    for (int j = 0; j < D; ++j) {
      w[j] = vec::splat(p.w[j]);
    }
  }

  // c[j] = column j of rows i .. i + kLanes - 1.
  C10_ALWAYS_INLINE void columns(int64_t i, vd (&c)[D]) const {
    for (int j = 0; j < D; ++j) {
      c[j] = vec::gather(p.x + i * p.sx0 + j, p.sx0);
    }
  }

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, double* sums) const {
    const vd bias = vec::splat(p.bias);
    vd s_rr[2] = {}, s_r[2] = {}, s_rx[2][D] = {};
    int64_t i = begin;
    for (; i + 2 * kLanes <= end; i += 2 * kLanes) {
      prefetch_rows(p, i, 2 * kLanes);
      for (int h = 0; h < 2; ++h) {
        vd c[D];
        columns(i + h * kLanes, c);
        vd r = bias - load_y(p, i + h * kLanes);
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
    for (; i < end; ++i) {  // fewer than 2 kLanes rows left
      const T* row = p.x + i * p.sx0;
      double r = p.bias - static_cast<double>(p.y[i * p.sy]);
      for (int j = 0; j < D; ++j) {
        r += static_cast<double>(row[j]) * p.w[j];
      }
      t_rr += r * r;
      t_r += r;
      for (int j = 0; j < D; ++j) {
        t_rx[j] += r * static_cast<double>(row[j]);
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
    const vd bias = vec::splat(p.bias);
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      prefetch_rows(p, i, kLanes);
      vd c[D];
      columns(i, c);
      vd d = bias;
      for (int j = 0; j < D; ++j) {
        d += c[j] * w[j];
      }
      vec::store(pred + i, d);
    }
    for (; i < end; ++i) {
      double d = p.bias;
      for (int j = 0; j < D; ++j) {
        d += static_cast<double>(p.x[i * p.sx0 + j]) * p.w[j];
      }
      pred[i] = static_cast<T>(d);
    }
  }
};

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA
