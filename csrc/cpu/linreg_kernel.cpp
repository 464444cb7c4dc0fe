// CPU entry points of linear_forward and linear_mse_grad (float32, float64), registered with
// TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) at the bottom: the checks, the view of the problem, the
// choice of instruction set, and the parallel reduction over rows. The loops themselves are in
// linreg_loops.h, compiled once per instruction set by kernels_<isa>.cpp; the AVX-512, AVX2 or
// baseline ones run, whichever is the best this CPU has, or LINREG_EXT_CPU_ISA names.
#include "../checks.h"
#include "problem.h"

#include <ATen/Dispatch_v2.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstdlib>
#include <string>
#include <vector>

// The dtypes the CPU kernels are compiled for: the one list behind both the check and dispatch.
#define LINREG_CPU_DTYPES at::kFloat, at::kDouble

namespace linreg_ext {
namespace {

using cpu::Problem;

// ---- the instruction set -------------------------------------------------------------------

struct Isa {
  const char* name;
  bool supported;  // by this CPU
  void (*mse_sums_float)(const Problem<float>&, int64_t, int64_t, double*);
  void (*mse_sums_double)(const Problem<double>&, int64_t, int64_t, double*);
  void (*forward_float)(const Problem<float>&, int64_t, int64_t, float*);
  void (*forward_double)(const Problem<double>&, int64_t, int64_t, double*);
  const char* (*loop_name)(int64_t, bool);

  void mse_sums(const Problem<float>& p, int64_t begin, int64_t end, double* sums) const {
    mse_sums_float(p, begin, end, sums);
  }
  void mse_sums(const Problem<double>& p, int64_t begin, int64_t end, double* sums) const {
    mse_sums_double(p, begin, end, sums);
  }
  void forward(const Problem<float>& p, int64_t begin, int64_t end, float* pred) const {
    forward_float(p, begin, end, pred);
  }
  void forward(const Problem<double>& p, int64_t begin, int64_t end, double* pred) const {
    forward_double(p, begin, end, pred);
  }
};

#define LINREG_CPU_ISA_ENTRY(isa, is_supported)                                       \
  Isa {                                                                               \
    #isa, is_supported, &cpu::isa::mse_sums, &cpu::isa::mse_sums, &cpu::isa::forward, \
        &cpu::isa::forward, &cpu::isa::loop_name                                      \
  }

// Best first.
const std::vector<Isa>& all_isas() {
  static const std::vector<Isa> isas = [] {
    std::vector<Isa> list;
#if LINREG_CPU_X86_ISAS
    __builtin_cpu_init();
    list.push_back(LINREG_CPU_ISA_ENTRY(avx512, __builtin_cpu_supports("x86-64-v4") != 0));
    list.push_back(LINREG_CPU_ISA_ENTRY(avx2, __builtin_cpu_supports("x86-64-v3") != 0));
#endif
    list.push_back(LINREG_CPU_ISA_ENTRY(baseline, true));
    return list;
  }();
  return isas;
}

// The best supported instruction set, or the one LINREG_EXT_CPU_ISA names (read at the first
// call, like ATen's ATEN_CPU_CAPABILITY): asking for one this CPU lacks is an error, not a
// silent fallback, so that a test forcing it cannot pass by running another.
const Isa& choose_isa() {
  const char* env = std::getenv("LINREG_EXT_CPU_ISA");
  const std::string want = env ? env : "";
  std::string names;
  for (const Isa& isa : all_isas()) {
    if (want == isa.name) {
      TORCH_CHECK(
          isa.supported, "LINREG_EXT_CPU_ISA=", want, ": this CPU cannot run the ", want,
          " kernels");
      return isa;
    }
    if ((want.empty() || want == "auto") && isa.supported) {
      return isa;
    }
    names += std::string(isa.name) + ", ";
  }
  TORCH_CHECK(false, "LINREG_EXT_CPU_ISA must be one of ", names, "or auto; got '", want, "'");
}

const Isa& active_isa() {
  static const Isa& isa = choose_isa();
  return isa;
}

// ---- the problem and the reduction ---------------------------------------------------------

// weight64 receives weight in float64, zero padded; the view points into it.
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
  constexpr int64_t kPad = cpu::kOverreadElements;
  const int64_t width = (D + kPad - 1) / kPad * kPad;  // a row loaded in whole vectors ends here
  weight64.assign(width, 0.0);
  for (int64_t j = 0; j < D; ++j) {
    weight64[j] = static_cast<double>(w[j]);
  }
  // Row i loaded whole spans [i * sx0, i * sx0 + width); X's last element is (N - 1) * sx0 + D - 1.
  const int64_t last = N > 0 ? (N - 1) * X.stride(0) + D : 0;
  int64_t overread_rows = 0;
  if ((X.stride(1) == 1 || D <= 1) && last >= width) {
    overread_rows = X.stride(0) > 0 ? std::min(N, (last - width) / X.stride(0) + 1) : N;
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
      overread_rows,
      std::max<int64_t>(
          16, cpu::kPrefetchBytes / std::max<int64_t>(1, D * int64_t(sizeof(scalar_t)))),
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
  const Isa& isa = active_isa();
  scalar_t* out = pred.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, X.size(0), grain_rows(p.D), [&](int64_t begin, int64_t end) {
    isa.forward(p, begin, end, out);
  });
}

// Each parallel chunk sums into its own row of `partial` ([threads, D + 2], float64); the rows
// are then added in thread order, so a given thread count (and instruction set) always gives
// the same bits.
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
  const Isa& isa = active_isa();
  const int64_t N = X.size(0);
  const int64_t width = p.D + 2;
  const int64_t threads = at::get_num_threads();
  std::vector<double> partial(threads * width, 0.0);
  at::parallel_for(0, N, grain_rows(p.D), [&](int64_t begin, int64_t end) {
    const int64_t slot = at::get_thread_num();
    TORCH_INTERNAL_ASSERT(slot >= 0 && slot < threads);
    std::vector<double> sums(width, 0.0);  // chunk-local: no false sharing between threads
    isa.mse_sums(p, begin, end, sums.data());
    for (int64_t k = 0; k < width; ++k) {
      partial[slot * width + k] += sums[k];
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

// ---- entry points --------------------------------------------------------------------------

at::Tensor
linear_forward_cpu(const at::Tensor& X, const at::Tensor& weight, const at::Tensor& bias) {
  const char* op = "linear_forward";
  check_linear_inputs(op, X, weight, bias);
  check_dtype_supported(op, X, {LINREG_CPU_DTYPES}, "CPU");
  at::Tensor pred = at::empty({X.size(0)}, X.options());
  AT_DISPATCH_V2(
      X.scalar_type(), "linear_forward_impl",
      AT_WRAP([&] { linear_forward_impl<scalar_t>(X, weight, bias, pred); }), LINREG_CPU_DTYPES);
  return pred;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_mse_grad_cpu(
    const at::Tensor& X,
    const at::Tensor& weight,
    const at::Tensor& bias,
    const at::Tensor& y) {
  const char* op = "linear_mse_grad";
  check_mse_inputs(op, X, weight, bias, y);
  check_dtype_supported(op, X, {LINREG_CPU_DTYPES}, "CPU");
  // std::tie, not a structured binding: C++17 (torch 2.11) cannot capture those in a lambda.
  at::Tensor loss, grad_weight, grad_bias;
  std::tie(loss, grad_weight, grad_bias) = empty_mse_outputs(X, weight, bias);
  // y is [N] or [N, 1]; a [N, 1] view's row stride is its stride(0) either way.
  const at::Tensor y_rows = y.dim() == 2 ? y.select(1, 0) : y;
  AT_DISPATCH_V2(
      X.scalar_type(), "linear_mse_grad_impl", AT_WRAP([&] {
        linear_mse_grad_impl<scalar_t>(X, weight, bias, y_rows, loss, grad_weight, grad_bias);
      }),
      LINREG_CPU_DTYPES);
  return {loss, grad_weight, grad_bias};
}

// Diagnostics for tests, the benchmark and `python -m linreg_ext info`; not part of the API.
std::string cpu_isa() {
  return active_isa().name;
}

std::vector<std::string> cpu_isas_supported() {
  std::vector<std::string> names;
  for (const Isa& isa : all_isas()) {
    if (isa.supported) {
      names.emplace_back(isa.name);
    }
  }
  return names;
}

std::string cpu_loop(int64_t D, c10::ScalarType dtype) {
  TORCH_CHECK(
      dtype == at::kFloat || dtype == at::kDouble,
      "_cpu_loop: dtype must be float32 or float64, got ", dtype);
  return active_isa().loop_name(D, dtype == at::kFloat);
}

// Diagnostics of this backend (which instruction set and loop run; tests and
// `python -m linreg_ext info` ask): defined here, beside what they report, not in ops.cpp with the
// public ops, since they take no tensors and exist only for the CPU.
TORCH_LIBRARY_FRAGMENT(linreg_ext, m) {
  m.def("_cpu_isa() -> str", &cpu_isa);
  m.def("_cpu_isas_supported() -> str[]", &cpu_isas_supported);
  m.def("_cpu_loop(int D, ScalarType dtype) -> str", &cpu_loop);
}

TORCH_LIBRARY_IMPL(linreg_ext, CPU, m) {
  m.impl("linear_forward", &linear_forward_cpu);
  m.impl("linear_mse_grad", &linear_mse_grad_cpu);
}

}  // namespace
}  // namespace linreg_ext
