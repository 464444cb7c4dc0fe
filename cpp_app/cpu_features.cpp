// __builtin_cpu_supports needs its argument as a literal, hence one table entry per feature; the
// names are linreg_ext/aoti.py's CPU_FEATURES (tests/test_pt2.py checks that the two agree).
#include "cpu_features.h"

#include <algorithm>
#include <map>

namespace linreg_app {
namespace {

const std::map<std::string, bool>& supported() {
  static const std::map<std::string, bool> table = [] {
    std::map<std::string, bool> t;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
#define LINREG_FEATURE(name) t[name] = __builtin_cpu_supports(name) != 0
    LINREG_FEATURE("x86-64");
    LINREG_FEATURE("x86-64-v2");
    LINREG_FEATURE("x86-64-v3");
    LINREG_FEATURE("x86-64-v4");
    LINREG_FEATURE("popcnt");
    LINREG_FEATURE("sse3");
    LINREG_FEATURE("ssse3");
    LINREG_FEATURE("sse4.1");
    LINREG_FEATURE("sse4.2");
    LINREG_FEATURE("sse4a");
    LINREG_FEATURE("avx");
    LINREG_FEATURE("avx2");
    LINREG_FEATURE("fma");
    LINREG_FEATURE("f16c");
    LINREG_FEATURE("bmi");
    LINREG_FEATURE("bmi2");
    LINREG_FEATURE("lzcnt");
    LINREG_FEATURE("movbe");
    LINREG_FEATURE("adx");
    LINREG_FEATURE("prfchw");
    LINREG_FEATURE("aes");
    LINREG_FEATURE("pclmul");
    LINREG_FEATURE("vaes");
    LINREG_FEATURE("vpclmulqdq");
    LINREG_FEATURE("gfni");
    LINREG_FEATURE("sha");
    LINREG_FEATURE("avxvnni");
    LINREG_FEATURE("amx-tile");
    LINREG_FEATURE("amx-bf16");
    LINREG_FEATURE("amx-int8");
    LINREG_FEATURE("avx512f");
    LINREG_FEATURE("avx512vl");
    LINREG_FEATURE("avx512bw");
    LINREG_FEATURE("avx512dq");
    LINREG_FEATURE("avx512cd");
    LINREG_FEATURE("avx512vnni");
    LINREG_FEATURE("avx512bf16");
    LINREG_FEATURE("avx512fp16");
    LINREG_FEATURE("avx512vbmi");
    LINREG_FEATURE("avx512vbmi2");
    LINREG_FEATURE("avx512ifma");
    LINREG_FEATURE("avx512bitalg");
    LINREG_FEATURE("avx512vpopcntdq");
#undef LINREG_FEATURE
#endif
    return t;
  }();
  return table;
}

}  // namespace

std::vector<std::string> missing_cpu_features(const std::vector<std::string>& features) {
  std::vector<std::string> missing;
  std::copy_if(features.begin(), features.end(), std::back_inserter(missing), [](const auto& f) {
    const auto it = supported().find(f);
    return it == supported().end() || !it->second;
  });
  return missing;
}

}  // namespace linreg_app
