// The CPU loops (linreg_loops.h) compiled for AVX-512 (x86-64-v4), 8 float64 lanes per vector.
// linreg_kernel.cpp calls them when the CPU has AVX-512 (or LINREG_EXT_CPU_ISA=avx512).
#include "problem.h"  // every include, before the target pragma

#if LINREG_CPU_X86_ISAS
#pragma GCC target("arch=x86-64-v4")
#define LINREG_CPU_ISA avx512
#define LINREG_CPU_LANES 8
#define LINREG_CPU_AVX512 1
#include "linreg_loops.h"
#endif
