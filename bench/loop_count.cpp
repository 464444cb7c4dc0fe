// Instructions per row of the AVX2 CPU loops, counted by callgrind: runs mse_sums and forward
// over N1 and N2 rows for every D given on the command line, each call between client requests
// that make callgrind count it alone and dump the count. Built and run by loop_instructions.py.
#include "problem.h"  // every include, before the target pragma

#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#pragma GCC target("arch=x86-64-v3")
#define LINREG_CPU_AVX2 1
#define LINREG_CPU_ISA avx2
#define LINREG_CPU_LANES 4
#include "linreg_loops.h"

namespace cpu = linreg_ext::cpu;

template <typename T>
void count(int64_t D, int64_t N, const char* dtype) {
  std::vector<T> x(N * D + 16, T(0.5)), y(N + 16, T(0.25)), pred(N + 16);
  std::vector<double> w(D + 16, 0.125), sums(D + 2);
  const int64_t width = (D + 15) / 16 * 16;
  const cpu::Problem<T> p{
      x.data(),
      D,
      1,
      w.data(),
      0.5,
      y.data(),
      1,
      D,
      std::max<int64_t>(0, N - width / D - 1),
      std::max<int64_t>(16, 8192 / (D * int64_t(sizeof(T))))};
  for (const char* op : {"mse", "forward"}) {
    CALLGRIND_TOGGLE_COLLECT;
    if (op[0] == 'm') {
      cpu::avx2::mse_sums(p, 0, N, sums.data());
    } else {
      cpu::avx2::forward(p, 0, N, pred.data());
    }
    CALLGRIND_TOGGLE_COLLECT;
    const std::string label = std::string(op) + " " + dtype + " " + std::to_string(D) + " " +
                              std::to_string(N) + " " +
                              cpu::avx2::loop_name(D, std::is_same_v<T, float>);
    CALLGRIND_DUMP_STATS_AT(label.c_str());
  }
}

int main(int argc, char** argv) {
  for (int a = 1; a < argc; ++a) {
    const int64_t D = std::atoi(argv[a]);
    for (const int64_t N : {int64_t(2048), int64_t(4096)}) {
      count<float>(D, N, "float32");
      count<double>(D, N, "float64");
    }
  }
}
