// CPU kernels of linear_forward and linear_mse_grad (float32, float64), registered with
// TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) at the bottom.
//
// Both ops read X exactly once, row by row, parallel over rows with at::parallel_for. The hot
// loops are plain C++ over fixed-width lane arrays, which the compiler vectorizes; on x86-64 with
// GCC they are compiled for AVX-512, AVX2 and baseline x86-64 and the loader picks one at run time.
// All sums are accumulated in float64 (float32 inputs are widened per element), so float32
// results are accurate to float32 rounding even at N = 10^8.
#include "../checks.h"
#include "../linreg.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/macros/Macros.h>
#include <torch/library.h>

#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LINREG_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LINREG_CPU_CLONES
#endif

namespace linreg_ext {
namespace {

// Independent accumulators per loop: enough to fill a vector register and hide add latency.
constexpr int64_t kLanes = 8;

// A read-only view of one problem. X[i][j] = x[i * sx0 + j * sx1], y[i] = y[i * sy].
template <typename scalar_t>
struct Problem {
  const scalar_t* x;
  int64_t sx0;
  int64_t sx1;
  const scalar_t* w;  // [D], contiguous
  double b;
  const scalar_t* y;  // unused by linear_forward
  int64_t sy;
  int64_t D;
};

// Sums kLanes partial sums in a fixed tree order, so results do not depend on the compiler.
C10_ALWAYS_INLINE double lane_sum(const double* s) {
  static_assert(kLanes == 8, "lane_sum is written for 8 lanes");
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

// X_i . w in float64, kLanes products at a time.
template <typename scalar_t, bool kUnitStride>
C10_ALWAYS_INLINE double row_dot(const scalar_t* xi, int64_t sx1, const scalar_t* w, int64_t D) {
  if constexpr (kUnitStride) {
    sx1 = 1;
  }
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= D; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      s[l] += static_cast<double>(xi[(j + l) * sx1]) * static_cast<double>(w[j + l]);
    }
  }
  for (int64_t l = 0; j < D; ++j, ++l) {
    s[l] += static_cast<double>(xi[j * sx1]) * static_cast<double>(w[j]);
  }
  return lane_sum(s);
}

// D == 1 with X and y contiguous: the rows themselves are the vector lanes.
// acc[0] += sum r^2, acc[1] += sum r, acc[2] += sum r x over rows [begin, end).
template <typename scalar_t>
C10_ALWAYS_INLINE void
mse_sums_column(const Problem<scalar_t>& p, int64_t begin, int64_t end, double* acc) {
  const double w = static_cast<double>(p.w[0]);
  double s_rr[kLanes] = {};
  double s_r[kLanes] = {};
  double s_rx[kLanes] = {};
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const double xv = static_cast<double>(p.x[i + l]);
      const double r = xv * w + p.b - static_cast<double>(p.y[i + l]);
      s_rr[l] += r * r;
      s_r[l] += r;
      s_rx[l] += r * xv;
    }
  }
  for (int64_t l = 0; i < end; ++i, ++l) {
    const double xv = static_cast<double>(p.x[i]);
    const double r = xv * w + p.b - static_cast<double>(p.y[i]);
    s_rr[l] += r * r;
    s_r[l] += r;
    s_rx[l] += r * xv;
  }
  acc[0] += lane_sum(s_rr);
  acc[1] += lane_sum(s_r);
  acc[2] += lane_sum(s_rx);
}

// Any D, any strides: one row at a time; its residual goes straight into the sums.
// acc[0] += sum r^2, acc[1] += sum r, acc[2 + j] += sum r X_ij over rows [begin, end).
template <typename scalar_t, bool kUnitStride>
C10_ALWAYS_INLINE void
mse_sums_rows(const Problem<scalar_t>& p, int64_t begin, int64_t end, double* acc) {
  const int64_t sx1 = kUnitStride ? 1 : p.sx1;
  double* __restrict s_rx = acc + 2;
  double s_rr = 0.0;
  double s_r = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    const scalar_t* __restrict xi = p.x + i * p.sx0;
    const double r = row_dot<scalar_t, kUnitStride>(xi, sx1, p.w, p.D) + p.b -
                     static_cast<double>(p.y[i * p.sy]);
    s_rr += r * r;
    s_r += r;
    for (int64_t j = 0; j < p.D; ++j) {
      s_rx[j] += r * static_cast<double>(xi[j * sx1]);
    }
  }
  acc[0] += s_rr;
  acc[1] += s_r;
}

template <typename scalar_t>
C10_ALWAYS_INLINE void
mse_sums(const Problem<scalar_t>& p, int64_t begin, int64_t end, double* acc) {
  if (p.D == 1 && p.sx0 == 1 && p.sy == 1) {
    mse_sums_column(p, begin, end, acc);
  } else if (p.sx1 == 1) {
    mse_sums_rows<scalar_t, true>(p, begin, end, acc);
  } else {
    mse_sums_rows<scalar_t, false>(p, begin, end, acc);
  }
}

// pred[i] = X_i . w + b for rows [begin, end), computed in float64 and rounded once.
template <typename scalar_t>
C10_ALWAYS_INLINE void
forward_rows(const Problem<scalar_t>& p, int64_t begin, int64_t end, scalar_t* __restrict pred) {
  if (p.D == 1 && p.sx0 == 1) {
    const double w = static_cast<double>(p.w[0]);
    for (int64_t i = begin; i < end; ++i) {
      pred[i] = static_cast<scalar_t>(static_cast<double>(p.x[i]) * w + p.b);
    }
  } else if (p.sx1 == 1) {
    for (int64_t i = begin; i < end; ++i) {
      pred[i] = static_cast<scalar_t>(row_dot<scalar_t, true>(p.x + i * p.sx0, 1, p.w, p.D) + p.b);
    }
  } else {
    for (int64_t i = begin; i < end; ++i) {
      pred[i] =
          static_cast<scalar_t>(row_dot<scalar_t, false>(p.x + i * p.sx0, p.sx1, p.w, p.D) + p.b);
    }
  }
}

// The instruction-set clones: one non-template function per dtype, since target_clones does not
// apply to templates. The templates above are always inlined into each clone.
LINREG_CPU_CLONES void mse_sums_cloned(const Problem<float>& p, int64_t b, int64_t e, double* acc) {
  mse_sums(p, b, e, acc);
}
LINREG_CPU_CLONES void
mse_sums_cloned(const Problem<double>& p, int64_t b, int64_t e, double* acc) {
  mse_sums(p, b, e, acc);
}
LINREG_CPU_CLONES void
forward_rows_cloned(const Problem<float>& p, int64_t b, int64_t e, float* out) {
  forward_rows(p, b, e, out);
}
LINREG_CPU_CLONES void
forward_rows_cloned(const Problem<double>& p, int64_t b, int64_t e, double* out) {
  forward_rows(p, b, e, out);
}

template <typename scalar_t>
Problem<scalar_t> make_problem(
    const at::Tensor& X,
    const at::Tensor& weight_contig,
    const at::Tensor& bias,
    const at::Tensor* y) {
  return Problem<scalar_t>{
      X.const_data_ptr<scalar_t>(),
      X.stride(0),
      X.stride(1),
      weight_contig.const_data_ptr<scalar_t>(),
      static_cast<double>(*bias.const_data_ptr<scalar_t>()),
      y ? y->const_data_ptr<scalar_t>() : nullptr,
      y ? y->stride(0) : 0,
      X.size(1),
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
  const Problem<scalar_t> p = make_problem<scalar_t>(X, weight, bias, nullptr);
  scalar_t* out = pred.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, X.size(0), grain_rows(p.D), [&](int64_t begin, int64_t end) {
    forward_rows_cloned(p, begin, end, out);
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
  const Problem<scalar_t> p = make_problem<scalar_t>(X, weight, bias, &y);
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
  const ProblemSize size = check_linear_inputs(op, X, weight, bias);
  check_dtype_supported(op, X, {at::kFloat, at::kDouble}, "CPU");
  at::Tensor pred = at::empty({size.N}, X.options());
  const at::Tensor w = weight.contiguous();
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "linear_forward_impl", [&] {
    linear_forward_impl<scalar_t>(X, w, bias, pred);
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
  at::Tensor loss = at::empty({}, X.options());
  at::Tensor grad_weight = at::empty(weight.sizes(), X.options());
  at::Tensor grad_bias = at::empty(bias.sizes(), X.options());
  const at::Tensor w = weight.contiguous();
  // y is [N] or [N, 1]; a [N, 1] view's row stride is its stride(0) either way.
  const at::Tensor y_rows = y.dim() == 2 ? y.select(1, 0) : y;
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "linear_mse_grad_impl", [&] {
    linear_mse_grad_impl<scalar_t>(X, w, bias, y_rows, loss, grad_weight, grad_bias);
  });
  return {loss, grad_weight, grad_bias};
}

TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) {
  m.impl("linear_forward", &linear_forward_cpu);
  m.impl("linear_mse_grad", &linear_mse_grad_cpu);
}

}  // namespace linreg_ext
