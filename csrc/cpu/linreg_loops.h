// The CPU loops for one instruction set: which loop shape a problem takes, and that instruction
// set's entry points (declared in problem.h). Each kernels_<isa>.cpp includes problem.h, sets its
// `#pragma GCC target`, defines LINREG_CPU_ISA (the namespace) and LINREG_CPU_LANES (float64
// lanes per vector), then includes this header once; the loop templates are always inlined, so
// every one of them is compiled for that instruction set.
#pragma once

#ifndef LINREG_CPU_AVX2
#define LINREG_CPU_AVX2 0  // set to 1 by kernels_avx2.cpp only
#endif

#include "vec.h"

namespace linreg_ext::cpu::LINREG_CPU_ISA {

using vec::kLanes;
using vec::vd;

// The loop-shape rule (measured on Zen 3 with AVX2; see BENCHMARKS.md): X with a column stride
// other than 1 takes the strided loop; rows of 1 .. max_short_d<T>() columns (6; float32 with
// AVX2: 10) take ShortRows (D = 1 with x and y contiguous the simpler column loop); rows of up to
// kMaxBlockedVectors vectors take BlockedRows (D <= 32 with 4 lanes, D <= 64 with 8); longer rows
// take LongRows. Past 8 vectors a block of rows no longer fits the registers and LongRows, which
// keeps its sums in L1, was faster (float64 D = 48: 12.9 against 16.5 ns per row, L2-resident).
// float32 rows of 7 to 10 columns take ShortRows with AVX2 because it transposes them in
// registers (see transposed_rows), with fewer instructions per row than BlockedRows.
constexpr int kMaxShortD = 6;
constexpr int kMaxBlockedVectors = 8;

// Prefetches rows [i, i + rows) + prefetch_rows: every cache line of them when rows are short
// and adjacent, else the lines of each row's D elements (not the gaps of a sliced view).
template <typename T>
C10_ALWAYS_INLINE void prefetch_rows(const Problem<T>& p, int64_t i, int64_t rows) {
  const char* ahead = reinterpret_cast<const char*>(p.x + (i + p.prefetch_rows) * p.sx0);
  const int64_t row_bytes = p.sx0 * int64_t(sizeof(T));
  if (row_bytes <= 128) {
    for (int64_t off = 0; off < rows * row_bytes; off += 64) {
      __builtin_prefetch(ahead + off);
    }
    return;
  }
  for (int64_t k = 0; k < rows; ++k) {
    for (int64_t off = 0; off < p.D * int64_t(sizeof(T)); off += 64) {
      __builtin_prefetch(ahead + k * row_bytes + off);
    }
  }
}

template <typename T>
C10_ALWAYS_INLINE vd load_y(const Problem<T>& p, int64_t i) {
  return p.sy == 1 ? vec::load(p.y + i) : vec::gather(p.y + i * p.sy, p.sy);
}

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA

#include "long_rows.h"
#include "short_rows.h"

namespace linreg_ext::cpu::LINREG_CPU_ISA {

template <typename T>
constexpr int max_short_d() {
  return transposed_rows<T>(10) ? 10 : kMaxShortD;
}

// ShortRows<T, D> for D == p.D, or false if p.D > max_short_d<T>().
template <typename T, int D = 1, typename Body>
C10_ALWAYS_INLINE bool with_short_rows(const Problem<T>& p, bool y_dense, Body body) {
  if constexpr (D > max_short_d<T>()) {
    return false;
  } else {
    if (p.D != D) {
      return with_short_rows<T, D + 1>(p, y_dense, body);
    }
    if (p.sx0 == D && y_dense) {
      body(ShortRows<T, D, true>(p));
    } else {
      body(ShortRows<T, D, false>(p));
    }
    return true;
  }
}

// BlockedRows<T, V> for the V that fits p.D, or false if p.D needs more than kMaxBlockedVectors.
template <typename T, int V = 1, typename Body>
C10_ALWAYS_INLINE bool with_blocked_rows(const Problem<T>& p, Body body) {
  if constexpr (V > kMaxBlockedVectors) {
    return false;
  } else {
    if ((p.D + kLanes - 1) / kLanes != V) {
      return with_blocked_rows<T, V + 1>(p, body);
    }
    body(BlockedRows<T, V>(p));
    return true;
  }
}

template <typename T>
C10_ALWAYS_INLINE void mse_sums_any(const Problem<T>& p, int64_t begin, int64_t end, double* sums) {
  const auto run = [&](const auto& loop) { loop.mse(begin, end, sums); };
  if (p.D == 1 && p.sx0 == 1 && p.sy == 1) {
    column_mse(p, begin, end, sums);
  } else if (p.sx1 != 1 && p.D > 1) {
    strided_mse(p, begin, end, sums);
  } else if (p.D == 0 || !(with_short_rows(p, p.sy == 1, run) || with_blocked_rows(p, run))) {
    LongRows<T>{p}.mse(begin, end, sums);
  }
}

template <typename T>
C10_ALWAYS_INLINE void forward_any(const Problem<T>& p, int64_t begin, int64_t end, T* pred) {
  const auto run = [&](const auto& loop) { loop.forward(begin, end, pred); };
  if (p.D == 1 && p.sx0 == 1) {
    column_forward(p, begin, end, pred);
  } else if (p.sx1 != 1 && p.D > 1) {
    strided_forward(p, begin, end, pred);
  } else if (p.D == 0 || !(with_short_rows(p, true, run) || with_blocked_rows(p, run))) {
    LongRows<T>{p}.forward(begin, end, pred);
  }
}

void mse_sums(const Problem<float>& p, int64_t begin, int64_t end, double* sums) {
  mse_sums_any(p, begin, end, sums);
}
void mse_sums(const Problem<double>& p, int64_t begin, int64_t end, double* sums) {
  mse_sums_any(p, begin, end, sums);
}
void forward(const Problem<float>& p, int64_t begin, int64_t end, float* pred) {
  forward_any(p, begin, end, pred);
}
void forward(const Problem<double>& p, int64_t begin, int64_t end, double* pred) {
  forward_any(p, begin, end, pred);
}

const char* loop_name(int64_t D, bool float32) {
  if (D == 1) {
    return "column";
  }
  if (float32 && transposed_rows<float>(D)) {
    return "short_rows_transposed";
  }
  if (D >= 2 && D <= kMaxShortD) {
    return "short_rows";
  }
  if (D >= 1 && (D + kLanes - 1) / kLanes <= kMaxBlockedVectors) {
    return "blocked_rows";
  }
  return "long_rows";
}

}  // namespace linreg_ext::cpu::LINREG_CPU_ISA
