// The CPU loops (linreg_loops.h) compiled for AVX2 and FMA (x86-64-v3), 4 float64 lanes per
// vector. linreg_kernel.cpp calls them when the CPU has AVX2 but not AVX-512.
#include "problem.h"  // every include, before the target pragma

#if LINREG_CPU_X86_ISAS
#pragma GCC target("arch=x86-64-v3")
#define LINREG_CPU_ISA avx2
#define LINREG_CPU_LANES 4
#define LINREG_CPU_AVX2 1
#include "linreg_loops.h"
#endif
