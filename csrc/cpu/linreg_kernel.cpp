// CPU kernels of linear_forward and linear_mse_grad (float32, float64), registered with
// TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) at the bottom.
//
// Both ops read X exactly once, parallel over rows with at::parallel_for, in 8-lane float64
// vectors (vec.h); float32 inputs are widened as they are loaded, so products and sums are formed
// in float64 (one exception: for float32 rows longer than 64, r X of 4 rows is summed in float32
// before it joins the float64 sums). Four loop shapes:
//   D == 1, contiguous        the rows are the lanes
//   D <= 64, contiguous rows  8 rows at a time: 8 dot products reduced by one shuffle-add tree,
//   (float64: D <= 32)        then r X for the 8 rows; all sums stay in registers
//   wider contiguous rows     4 rows at a time; the sums of r X in a D-long buffer (L1)
//   any strides               one element at a time
#include "../checks.h"
#include "../linreg.h"
#include "vec.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace linreg_ext {
namespace {

using vec::f64x8;
using vec::kLanes;

// Rows of at most kMaxSmallD features take the blocked in-register path (SmallRows); float64
// rows only up to 32, where measurement put the crossover (8 rows x 8 vectors no longer fit the
// registers and LargeRows runs closer to the read floor).
constexpr int64_t kMaxSmallD = 64;
constexpr int64_t kMaxSmallDoubleD = 32;

// A read-only view of one problem. X[i][j] = x[i * sx0 + j * sx1], y[i] = y[i * sy].
template <typename scalar_t>
struct Problem {
  const scalar_t* x;
  int64_t sx0;
  int64_t sx1;
  const double* w;  // [D rounded up to 8]: weight in float64, zero padded
  double b;
  const scalar_t* y;  // unused by linear_forward
  int64_t sy;
  int64_t D;
  // Rows [0, wide_rows) may be loaded in whole vectors past column D: the extra elements belong
  // to X (later rows) and are masked off. Later rows are loaded exactly.
  int64_t wide_rows;
  // How far ahead of the row being read to prefetch: about kPrefetchBytes of X. The loops read
  // rows once, in order, but spend enough arithmetic on each that the hardware prefetcher alone
  // falls behind and X would arrive at DRAM latency, not bandwidth.
  int64_t prefetch_rows;
};

constexpr int64_t kPrefetchBytes = 8192;

// Sums over a chunk of rows, float64: s[0] = sum r^2, s[1] = sum r, s[2 + j] = sum r X_j.
using Sums = double*;

// ---- D == 1, X and y contiguous ------------------------------------------------------------

template <typename scalar_t>
C10_ALWAYS_INLINE void
mse_sums_column(const Problem<scalar_t>& p, int64_t begin, int64_t end, Sums s) {
  const f64x8 w = vec::splat(p.w[0]);
  const f64x8 b = vec::splat(p.b);
  f64x8 s_rr[2] = {}, s_r[2] = {}, s_rx[2] = {};
  int64_t i = begin;
  constexpr int64_t kAhead = kPrefetchBytes / sizeof(scalar_t);
  for (; i + 2 * kLanes <= end; i += 2 * kLanes) {
    if ((i - begin) % (64 / sizeof(scalar_t)) == 0) {  // once per cache line of x and of y
      __builtin_prefetch(p.x + i + kAhead);
      __builtin_prefetch(p.y + i + kAhead);
    }
    for (int k = 0; k < 2; ++k) {
      const f64x8 x = vec::load(p.x + i + k * kLanes);
      const f64x8 r = x * w + b - vec::load(p.y + i + k * kLanes);
      s_rr[k] += r * r;
      s_r[k] += r;
      s_rx[k] += r * x;
    }
  }
  double t_rr = 0.0, t_r = 0.0, t_rx = 0.0;
  for (; i < end; ++i) {
    const double x = static_cast<double>(p.x[i]);
    const double r = x * p.w[0] + p.b - static_cast<double>(p.y[i]);
    t_rr += r * r;
    t_r += r;
    t_rx += r * x;
  }
  s[0] += vec::sum(s_rr[0] + s_rr[1]) + t_rr;
  s[1] += vec::sum(s_r[0] + s_r[1]) + t_r;
  s[2] += vec::sum(s_rx[0] + s_rx[1]) + t_rx;
}

// ---- D <= 64, contiguous rows: V vectors per row, 8 rows per block --------------------------

template <typename scalar_t, int V>
struct SmallRows {
  const Problem<scalar_t>& p;
  f64x8 w[V];
  vec::i64x8 tail;  // the lanes of the last vector that hold columns of X

  C10_ALWAYS_INLINE explicit SmallRows(const Problem<scalar_t>& problem) : p(problem) {
    for (int v = 0; v < V; ++v) {
      w[v] = vec::load(p.w + v * kLanes);
    }
    tail = vec::first_lanes(p.D - (V - 1) * kLanes);
  }

  // Vector v of row i; lanes past column D are zero.
  C10_ALWAYS_INLINE f64x8 part(int64_t i, int v, bool wide) const {
    const scalar_t* src = p.x + i * p.sx0 + v * kLanes;
    if (v + 1 < V) {
      return vec::load(src);
    }
    return wide ? vec::keep(vec::load(src), tail) : vec::load_first(src, p.D - (V - 1) * kLanes);
  }

  // X_i * w lane by lane; its lanes sum to X_i . w.
  C10_ALWAYS_INLINE f64x8 products(int64_t i, bool wide) const {
    f64x8 d = part(i, 0, wide) * w[0];
    for (int v = 1; v < V; ++v) {
      d += part(i, v, wide) * w[v];
    }
    return d;
  }

  // The 8 rows i .. i + 7, each as V vectors.
  C10_ALWAYS_INLINE void load_block(int64_t i, bool wide, f64x8 (&xs)[kLanes][V]) const {
    const char* ahead = reinterpret_cast<const char*>(p.x + (i + p.prefetch_rows) * p.sx0);
    for (int64_t off = 0; off < kLanes * p.sx0 * int64_t(sizeof(scalar_t)); off += 64) {
      __builtin_prefetch(ahead + off);
    }
    for (int64_t k = 0; k < kLanes; ++k) {
      for (int v = 0; v < V; ++v) {
        xs[k][v] = part(i + k, v, wide);
      }
    }
  }

  // X_k . w + b for the 8 rows of a block.
  C10_ALWAYS_INLINE f64x8 block_pred(const f64x8 (&xs)[kLanes][V]) const {
    f64x8 d[kLanes];
    for (int64_t k = 0; k < kLanes; ++k) {
      d[k] = xs[k][0] * w[0];
      for (int v = 1; v < V; ++v) {
        d[k] += xs[k][v] * w[v];
      }
    }
    return vec::transpose_sum(d) + p.b;
  }

  C10_ALWAYS_INLINE f64x8 block_y(int64_t i) const {
    if (p.sy == 1) {
      return vec::load(p.y + i);
    }
    f64x8 y;
    for (int64_t k = 0; k < kLanes; ++k) {
      y[k] = static_cast<double>(p.y[(i + k) * p.sy]);
    }
    return y;
  }

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, Sums s) const {
    f64x8 g[2][V] = {};  // sum r X over even and odd rows: two dependency chains
    f64x8 s_rr = {}, s_r = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      const bool wide = i + kLanes <= p.wide_rows;
      f64x8 xs[kLanes][V];
      load_block(i, wide, xs);
      const f64x8 r = block_pred(xs) - block_y(i);
      s_rr += r * r;
      s_r += r;
      double rs[kLanes];  // broadcast from memory: a load, not a cross-lane shuffle
      vec::store(rs, r);
      for (int64_t k = 0; k < kLanes; ++k) {
        const f64x8 rk = vec::splat(rs[k]);
        for (int v = 0; v < V; ++v) {
          g[k % 2][v] += rk * xs[k][v];
        }
      }
    }
    double t_rr = 0.0, t_r = 0.0;
    for (; i < end; ++i) {  // fewer than 8 rows left
      const bool wide = i < p.wide_rows;
      const double r = vec::sum(products(i, wide)) + p.b - static_cast<double>(p.y[i * p.sy]);
      t_rr += r * r;
      t_r += r;
      for (int v = 0; v < V; ++v) {
        g[0][v] += vec::splat(r) * part(i, v, wide);
      }
    }
    s[0] += vec::sum(s_rr) + t_rr;
    s[1] += vec::sum(s_r) + t_r;
    for (int64_t j = 0; j < p.D; ++j) {
      s[2 + j] += g[0][j / kLanes][j % kLanes] + g[1][j / kLanes][j % kLanes];
    }
  }

  C10_ALWAYS_INLINE void forward(int64_t begin, int64_t end, scalar_t* pred) const {
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      f64x8 xs[kLanes][V];
      load_block(i, i + kLanes <= p.wide_rows, xs);
      vec::store(pred + i, block_pred(xs));
    }
    for (; i < end; ++i) {
      pred[i] = static_cast<scalar_t>(vec::sum(products(i, i < p.wide_rows)) + p.b);
    }
  }
};

// ---- D > 64, contiguous rows: 4 rows per block ---------------------------------------------

template <typename scalar_t>
struct LargeRows {
  static constexpr int64_t kRows = 4;
  const Problem<scalar_t>& p;

  // X_k . w for rows i .. i + n - 1 (n <= kRows) into dot[0, n). Row by row, so that X is read
  // in address order, a 64-byte line at a time; four accumulators hide FMA latency.
  C10_ALWAYS_INLINE void dots(int64_t i, int64_t n, double* dot) const {
    constexpr int64_t kLine = 64 / sizeof(scalar_t);  // elements per cache line: 1 or 2 vectors
    const int64_t D = p.D;
    for (int64_t k = 0; k < n; ++k) {
      const scalar_t* xk = p.x + (i + k) * p.sx0;
      const scalar_t* ahead = p.x + (i + k + p.prefetch_rows) * p.sx0;
      f64x8 d[4] = {};
      int64_t j = 0;
      for (; j + 2 * kLine <= D; j += 2 * kLine) {
        __builtin_prefetch(ahead + j);
        __builtin_prefetch(ahead + j + kLine);
        for (int64_t v = 0; v < 2 * kLine / kLanes; ++v) {
          d[v] += vec::load(xk + j + v * kLanes) * vec::load(p.w + j + v * kLanes);
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

  C10_ALWAYS_INLINE void mse(int64_t begin, int64_t end, Sums s) const {
    const int64_t D = p.D;
    double* __restrict s_rx = s + 2;
    double s_rr = 0.0, s_r = 0.0;
    for (int64_t i = begin; i < end; i += kRows) {
      const int64_t n = std::min(kRows, end - i);
      double r[kRows] = {};
      dots(i, n, r);
      for (int64_t k = 0; k < n; ++k) {
        r[k] += p.b - static_cast<double>(p.y[(i + k) * p.sy]);
        s_rr += r[k] * r[k];
        s_r += r[k];
      }
      const scalar_t* x[kRows];
      for (int64_t k = 0; k < kRows; ++k) {
        x[k] = p.x + (i + std::min(k, n - 1)) * p.sx0;  // r[k] == 0 for k >= n
      }
      int64_t j = 0;
      if constexpr (std::is_same_v<scalar_t, float>) {
        // float32 products and a 4-term float32 sum per block, then float64.
        for (; j + 16 <= D; j += 16) {
          vec::f32x16 t = {};
          for (int64_t k = 0; k < kRows; ++k) {
            t += static_cast<float>(r[k]) * vec::load16(x[k] + j);
          }
          f64x8 acc[2] = {vec::load(s_rx + j), vec::load(s_rx + j + 8)};
          vec::add_wide(acc, t);
          vec::store(s_rx + j, acc[0]);
          vec::store(s_rx + j + 8, acc[1]);
        }
      } else {
        for (; j + kLanes <= D; j += kLanes) {
          f64x8 acc = vec::load(s_rx + j);
          for (int64_t k = 0; k < kRows; ++k) {
            acc += vec::splat(r[k]) * vec::load(x[k] + j);
          }
          vec::store(s_rx + j, acc);
        }
      }
      for (; j < D; ++j) {
        for (int64_t k = 0; k < n; ++k) {
          s_rx[j] += r[k] * static_cast<double>(x[k][j]);
        }
      }
    }
    s[0] += s_rr;
    s[1] += s_r;
  }

  C10_ALWAYS_INLINE void forward(int64_t begin, int64_t end, scalar_t* pred) const {
    for (int64_t i = begin; i < end; i += kRows) {
      const int64_t n = std::min(kRows, end - i);
      double dot[kRows];
      dots(i, n, dot);
      for (int64_t k = 0; k < n; ++k) {
        pred[i + k] = static_cast<scalar_t>(dot[k] + p.b);
      }
    }
  }
};

// ---- any strides (a transposed or sliced X): one element at a time --------------------------

template <typename scalar_t>
C10_ALWAYS_INLINE double strided_dot(const Problem<scalar_t>& p, int64_t i) {
  double d = 0.0;
  for (int64_t j = 0; j < p.D; ++j) {
    d += static_cast<double>(p.x[i * p.sx0 + j * p.sx1]) * p.w[j];
  }
  return d;
}

template <typename scalar_t>
C10_ALWAYS_INLINE void
mse_sums_strided(const Problem<scalar_t>& p, int64_t begin, int64_t end, Sums s) {
  for (int64_t i = begin; i < end; ++i) {
    const double r = strided_dot(p, i) + p.b - static_cast<double>(p.y[i * p.sy]);
    s[0] += r * r;
    s[1] += r;
    for (int64_t j = 0; j < p.D; ++j) {
      s[2 + j] += r * static_cast<double>(p.x[i * p.sx0 + j * p.sx1]);
    }
  }
}

// ---- choosing the loop ---------------------------------------------------------------------

// SmallRows<scalar_t, V>(p).mse(...) for the V that fits p.D; false if p.D > kMaxSmallD.
template <typename scalar_t, int V = 1>
C10_ALWAYS_INLINE bool small_mse(const Problem<scalar_t>& p, int64_t b, int64_t e, Sums s) {
  if constexpr (V * kLanes > (std::is_same_v<scalar_t, double> ? kMaxSmallDoubleD : kMaxSmallD)) {
    return false;
  } else {
    if ((p.D + kLanes - 1) / kLanes != V) {
      return small_mse<scalar_t, V + 1>(p, b, e, s);
    }
    SmallRows<scalar_t, V>(p).mse(b, e, s);
    return true;
  }
}

template <typename scalar_t, int V = 1>
C10_ALWAYS_INLINE bool
small_forward(const Problem<scalar_t>& p, int64_t b, int64_t e, scalar_t* o) {
  if constexpr (V * kLanes > kMaxSmallD) {
    return false;
  } else {
    if ((p.D + kLanes - 1) / kLanes != V) {
      return small_forward<scalar_t, V + 1>(p, b, e, o);
    }
    SmallRows<scalar_t, V>(p).forward(b, e, o);
    return true;
  }
}

// Adds the sums over rows [begin, end) to s.
template <typename scalar_t>
C10_ALWAYS_INLINE void mse_sums(const Problem<scalar_t>& p, int64_t begin, int64_t end, Sums s) {
  if (p.D == 1 && p.sx0 == 1 && p.sy == 1) {
    mse_sums_column(p, begin, end, s);
  } else if (p.sx1 != 1 && p.D > 1) {
    mse_sums_strided(p, begin, end, s);
  } else if (p.D == 0 || !small_mse(p, begin, end, s)) {
    LargeRows<scalar_t>{p}.mse(begin, end, s);
  }
}

// pred[i] = X_i . w + b for rows [begin, end), rounded once to scalar_t.
template <typename scalar_t>
C10_ALWAYS_INLINE void
forward(const Problem<scalar_t>& p, int64_t begin, int64_t end, scalar_t* pred) {
  if (p.D == 1 && p.sx0 == 1) {
    const f64x8 w = vec::splat(p.w[0]);
    const f64x8 b = vec::splat(p.b);
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      vec::store(pred + i, vec::load(p.x + i) * w + b);
    }
    for (; i < end; ++i) {
      pred[i] = static_cast<scalar_t>(static_cast<double>(p.x[i]) * p.w[0] + p.b);
    }
  } else if (p.sx1 != 1 && p.D > 1) {
    for (int64_t i = begin; i < end; ++i) {
      pred[i] = static_cast<scalar_t>(strided_dot(p, i) + p.b);
    }
  } else if (p.D == 0 || !small_forward(p, begin, end, pred)) {
    LargeRows<scalar_t>{p}.forward(begin, end, pred);
  }
}

// The instruction-set clones: one non-template function per dtype, since target_clones does not
// apply to templates. The templates above are always inlined into each clone.
LINREG_CPU_CLONES void mse_sums_cloned(const Problem<float>& p, int64_t b, int64_t e, Sums s) {
  mse_sums(p, b, e, s);
}
LINREG_CPU_CLONES void mse_sums_cloned(const Problem<double>& p, int64_t b, int64_t e, Sums s) {
  mse_sums(p, b, e, s);
}
LINREG_CPU_CLONES void forward_cloned(const Problem<float>& p, int64_t b, int64_t e, float* out) {
  forward(p, b, e, out);
}
LINREG_CPU_CLONES void forward_cloned(const Problem<double>& p, int64_t b, int64_t e, double* out) {
  forward(p, b, e, out);
}

// weight64 receives weight in float64, zero padded to whole vectors; the view points into it.
template <typename scalar_t>
Problem<scalar_t> make_problem(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor* y,
    std::vector<double>& weight64) {
  const int64_t N = X.size(0);
  const int64_t D = X.size(1);
  const at::Tensor flat = weight.reshape({-1});
  const auto w = flat.accessor<scalar_t, 1>();
  weight64.assign((D + kLanes - 1) / kLanes * kLanes, 0.0);
  for (int64_t j = 0; j < D; ++j) {
    weight64[j] = static_cast<double>(w[j]);
  }
  // Row i loaded wide ends at element i * sx0 + width (whole vectors of 8 doubles, or 16 floats
  // for the float32 block sums); X's last element is (N - 1) * sx0 + D - 1.
  const int64_t lanes = std::is_same_v<scalar_t, float> ? 16 : kLanes;
  const int64_t width = (D + lanes - 1) / lanes * lanes;
  const int64_t end = N > 0 ? (N - 1) * X.stride(0) + D : 0;
  int64_t wide_rows = 0;
  if ((X.stride(1) == 1 || D <= 1) && end >= width) {
    wide_rows = X.stride(0) > 0 ? std::min(N, (end - width) / X.stride(0) + 1) : N;
  }
  return Problem<scalar_t>{
      X.const_data_ptr<scalar_t>(),
      X.stride(0),
      X.stride(1),
      weight64.data(),
      static_cast<double>(*bias.const_data_ptr<scalar_t>()),
      y ? y->const_data_ptr<scalar_t>() : nullptr,
      y ? y->stride(0) : 0,
      D,
      wide_rows,
      std::max<int64_t>(
          kLanes, kPrefetchBytes / std::max<int64_t>(1, D * int64_t(sizeof(scalar_t)))),
  };
}

// Rows per parallel chunk: about 32K elements of X (ATen's own grain), so small batches stay on
// one thread.
int64_t grain_rows(int64_t D) {
  constexpr int64_t kGrainElements = 32768;
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(D, 1));
}

template <typename scalar_t>
void linear_forward_impl(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    at::Tensor& pred) {
  std::vector<double> weight64;
  const Problem<scalar_t> p = make_problem<scalar_t>(X, weight, bias, nullptr, weight64);
  scalar_t* out = pred.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, X.size(0), grain_rows(p.D), [&](int64_t begin, int64_t end) {
    forward_cloned(p, begin, end, out);
  });
}

// Each parallel chunk sums into its own row of `partial` ([threads, D + 2], float64); the rows
// are then added in thread order, so a given thread count always gives the same bits.
template <typename scalar_t>
void linear_mse_grad_impl(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y,
    at::Tensor& loss,
    at::Tensor& grad_weight,
    at::Tensor& grad_bias) {
  std::vector<double> weight64;
  const Problem<scalar_t> p = make_problem<scalar_t>(X, weight, bias, &y, weight64);
  const int64_t N = X.size(0);
  const int64_t width = p.D + 2;
  const int64_t threads = at::get_num_threads();
  std::vector<double> partial(threads * width, 0.0);
  at::parallel_for(0, N, grain_rows(p.D), [&](int64_t begin, int64_t end) {
    const int64_t slot = at::get_thread_num();
    TORCH_INTERNAL_ASSERT(slot >= 0 && slot < threads);
    std::vector<double> acc(width, 0.0);  // chunk-local: no false sharing between threads
    mse_sums_cloned(p, begin, end, acc.data());
    for (int64_t k = 0; k < width; ++k) {
      partial[slot * width + k] += acc[k];
    }
  });
  std::vector<double> total(width, 0.0);
  for (int64_t t = 0; t < threads; ++t) {
    for (int64_t k = 0; k < width; ++k) {
      total[k] += partial[t * width + k];
    }
  }
  const double inv_n = 1.0 / static_cast<double>(N);
  *loss.mutable_data_ptr<scalar_t>() = static_cast<scalar_t>(total[0] * inv_n);
  *grad_bias.mutable_data_ptr<scalar_t>() = static_cast<scalar_t>(2.0 * total[1] * inv_n);
  scalar_t* gw = grad_weight.mutable_data_ptr<scalar_t>();
  for (int64_t j = 0; j < p.D; ++j) {
    gw[j] = static_cast<scalar_t>(2.0 * total[2 + j] * inv_n);
  }
}

}  // namespace

at::Tensor
linear_forward_cpu(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  const char* op = "linear_forward";
  check_linear_inputs(op, X, weight, bias);
  check_dtype_supported(op, X, {at::kFloat, at::kDouble}, "CPU");
  at::Tensor pred = at::empty({X.size(0)}, X.options());
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "linear_forward_impl", [&] {
    linear_forward_impl<scalar_t>(X, weight, bias, pred);
  });
  return pred;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cpu(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const char* op = "linear_mse_grad";
  check_mse_inputs(op, X, weight, bias, y);
  check_dtype_supported(op, X, {at::kFloat, at::kDouble}, "CPU");
  // std::tie, not a structured binding: C++17 (torch 2.11) cannot capture those in a lambda.
  at::Tensor loss, grad_weight, grad_bias;
  std::tie(loss, grad_weight, grad_bias) = empty_mse_outputs(X, weight, bias);
  // y is [N] or [N, 1]; a [N, 1] view's row stride is its stride(0) either way.
  const at::Tensor y_rows = y.dim() == 2 ? y.select(1, 0) : y;
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "linear_mse_grad_impl", [&] {
    linear_mse_grad_impl<scalar_t>(X, weight, bias, y_rows, loss, grad_weight, grad_bias);
  });
  return {loss, grad_weight, grad_bias};
}

TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) {
  m.impl("linear_forward", &linear_forward_cpu);
  m.impl("linear_mse_grad", &linear_mse_grad_cpu);
}

}  // namespace linreg_ext
