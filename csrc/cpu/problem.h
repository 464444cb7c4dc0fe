// The CPU kernels' view of one problem (Problem) and the loops each instruction set provides.
// linreg_kernel.cpp builds the view and picks the instruction set; kernels_<isa>.cpp compile the
// loops of linreg_loops.h once per instruction set. This header also includes everything those
// loops use, so that the ISA files can include it before their `#pragma GCC target`: no standard
// or c10 inline function is ever compiled for an instruction set the CPU may lack.
#pragma once

#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
// The AVX-512 and AVX2 loops are compiled (GCC on x86-64); elsewhere only the baseline loops.
#define LINREG_CPU_X86_ISAS 1
#else
#define LINREG_CPU_X86_ISAS 0
#endif
// Passing vectors by value has another ABI with AVX than without, and GCC says so. Every function
// taking or returning one is inlined into its caller, so no ABI boundary is crossed.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace linreg_ext::cpu {

// A read-only view of one problem: X[i][j] = x[i * sx0 + j * sx1], y[i] = y[i * sy].
template <typename scalar_t>
struct Problem {
  const scalar_t* x;
  int64_t sx0;
  int64_t sx1;
  const double* w;  // [D rounded up to kOverreadElements]: weight in float64, zero padded
  double bias;
  const scalar_t* y;  // unused by linear_forward
  int64_t sy;
  int64_t D;
  // Rows [0, overread_rows) may be loaded in whole vectors, up to D rounded up to
  // kOverreadElements elements from their start: the extra elements belong to X (later rows, or
  // the gap of a sliced view) and are zeroed after the load. Later rows are loaded exactly.
  int64_t overread_rows;
  // How far ahead of the row being read to prefetch: about kPrefetchBytes of X. The loops read
  // rows once, in order, but spend enough arithmetic on each that the hardware prefetcher alone
  // falls behind and X would arrive at DRAM latency, not bandwidth.
  int64_t prefetch_rows;
};

constexpr int64_t kOverreadElements = 16;
constexpr int64_t kPrefetchBytes = 8192;

// The loops of one instruction set. mse_sums adds the sums over rows [begin, end) to
// sums[0, D + 2), all float64: sums[0] = sum r^2, sums[1] = sum r, sums[2 + j] = sum r X_j, with
// r = X_i . w + bias - y_i. forward writes pred[i] = X_i . w + bias, rounded once to scalar_t.
// loop_name(D, float32) names the loop that contiguous X and y with D columns of float32 (or
// float64) take (tests, benchmark).
#define LINREG_CPU_DECLARE_LOOPS(isa)                                                \
  namespace isa {                                                                    \
  void mse_sums(const Problem<float>& p, int64_t begin, int64_t end, double* sums);  \
  void mse_sums(const Problem<double>& p, int64_t begin, int64_t end, double* sums); \
  void forward(const Problem<float>& p, int64_t begin, int64_t end, float* pred);    \
  void forward(const Problem<double>& p, int64_t begin, int64_t end, double* pred);  \
  const char* loop_name(int64_t D, bool float32);                                    \
  }

LINREG_CPU_DECLARE_LOOPS(baseline)
#if LINREG_CPU_X86_ISAS
LINREG_CPU_DECLARE_LOOPS(avx2)
LINREG_CPU_DECLARE_LOOPS(avx512)
#endif

}  // namespace linreg_ext::cpu
