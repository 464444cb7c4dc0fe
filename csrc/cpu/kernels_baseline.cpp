// The CPU loops (linreg_loops.h) compiled for the baseline of the target (SSE2 on x86-64), 4
// float64 lanes per vector: what runs on a CPU without AVX2, or on another architecture.
#include "problem.h"

#define LINREG_CPU_ISA baseline
#define LINREG_CPU_LANES 4
#include "linreg_loops.h"
