// The CPU features an AOTInductor package may require (linreg_ext/aoti.py, CPU_FEATURES), asked
// of this CPU with __builtin_cpu_supports, so that a package compiled for instructions this CPU
// lacks is refused with a message instead of dying of SIGILL.
#pragma once

#include <string>
#include <vector>

namespace linreg_app {

// The names in `features` (GCC's: "x86-64-v3", "avx512f", ...) this CPU does not support. A name
// this program does not know counts as unsupported.
std::vector<std::string> missing_cpu_features(const std::vector<std::string>& features);

}  // namespace linreg_app
