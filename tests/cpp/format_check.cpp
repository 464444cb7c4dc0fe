// Compares linreg_app::format_prediction_to with std::to_chars, the definition of its text, for
// float32 and float64 bit patterns. tests/test_cpp_app.py runs the sampled mode; the exhaustive
// float32 mode (every bit pattern, a few minutes) is for a change to cpp_app/format.cpp.
//
//   linreg_format_check sample SEED COUNT   COUNT random patterns of each dtype + edge values
//   linreg_format_check floats STRIDE       every STRIDE-th float32 bit pattern (1: all of them)
//
// Prints the digit source, the number of values compared and each mismatch (the first 20);
// exits 1 on any mismatch.
#include <atomic>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format.h"

namespace {

std::atomic<uint64_t> mismatches{0};

template <typename T>
void check(T x) {
  constexpr auto dtype =
      std::is_same_v<T, float> ? c10::ScalarType::Float : c10::ScalarType::Double;
  char want[64];
  char got[linreg_app::kMaxPredictionChars];
  const auto expected = std::to_chars(want, want + sizeof want, x);
  char* const end = linreg_app::format_prediction_to(got, static_cast<double>(x), dtype);
  const size_t n = static_cast<size_t>(end - got);
  if (n != static_cast<size_t>(expected.ptr - want) || std::memcmp(got, want, n) != 0) {
    if (mismatches.fetch_add(1) < 20) {
      std::printf(
          "mismatch %s %a: to_chars '%.*s', format_prediction '%.*s'\n",
          std::is_same_v<T, float> ? "float32" : "float64", static_cast<double>(x),
          static_cast<int>(expected.ptr - want), want, static_cast<int>(n), got);
    }
  }
}

// Both signs of x and its neighbours.
template <typename T>
uint64_t check_around(T x) {
  uint64_t count = 0;
  T below = x;
  T above = x;
  for (int i = 0; i < 3; ++i) {
    for (T v : {below, above}) {
      check(v);
      check(-v);
      count += 2;
    }
    below = std::nextafter(below, T(0));
    above = std::nextafter(above, std::numeric_limits<T>::infinity());
  }
  return count;
}

// Values where the layout changes: powers of ten and of two (fixed against scientific, integer
// against fraction, the 128-bit integer path), integers past the significand, subnormals, and
// the largest and smallest values.
template <typename T>
uint64_t edge_values() {
  uint64_t count = 0;
  for (int k = std::numeric_limits<T>::min_exponent10 - 8;
       k <= std::numeric_limits<T>::max_exponent10; ++k) {
    for (T m : {T(1), T(1.5), T(2), T(5), T(9.5), T(9.999), T(123.456)}) {
      count += check_around(static_cast<T>(m * std::pow(10.0L, k)));
    }
  }
  for (int e = std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits;
       e <= std::numeric_limits<T>::max_exponent; ++e) {
    count += check_around(std::ldexp(T(1), e));
    count += check_around(std::ldexp(T(3), e));
  }
  for (T v :
       {std::numeric_limits<T>::max(), std::numeric_limits<T>::min(),
        std::numeric_limits<T>::denorm_min(), T(0), T(0.1), T(1) / 3}) {
    count += check_around(v);
  }
  return count;
}

// Every significand length at the exponents where fixed and scientific turn: n-digit decimals
// d1...dn * 10^e (no zero digit, so n stays n) from e = -(n + 8), well past the 0.000ddd tie, to
// e = 8, past the ddd00000 tie, read as T. The powers of ten above try 1, 2, 4 and 6 digits only.
template <typename T>
uint64_t significand_lengths() {
  uint64_t count = 0;
  for (const std::string digits : {"12345678912345678", "98765432198765432"}) {
    for (int n = 1; n <= std::numeric_limits<T>::max_digits10; ++n) {
      for (int e = -(n + 8); e <= 8; ++e) {
        const std::string text = digits.substr(0, n) + "e" + std::to_string(e);
        T x = 0;
        std::from_chars(text.data(), text.data() + text.size(), x);
        count += check_around(x);
      }
    }
  }
  return count;
}

template <typename T, typename Bits>
uint64_t random_values(std::mt19937_64& rng, uint64_t count) {
  std::uniform_int_distribution<int> scale(-40, 90);
  for (uint64_t i = 0; i < count; ++i) {
    // Uniform bit patterns (mostly far from 1), and integers times powers of two around the
    // fixed-scientific boundary.
    check(std::bit_cast<T>(static_cast<Bits>(rng())));
    check(std::ldexp(static_cast<T>(rng() >> (64 - std::numeric_limits<T>::digits)), scale(rng)));
    check(static_cast<T>(static_cast<int64_t>(rng() % 2000001) - 1000000) / T(1000));
  }
  return 3 * count;
}

int usage() {
  std::fprintf(stderr, "usage: linreg_format_check sample SEED COUNT | floats STRIDE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    return usage();
  }
  const std::string mode = argv[1];
  uint64_t compared = 0;
  if (mode == "sample" && argc == 4) {
    std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
    const uint64_t count = std::strtoull(argv[3], nullptr, 10);
    compared += edge_values<float>() + edge_values<double>();
    compared += significand_lengths<float>() + significand_lengths<double>();
    compared += random_values<float, uint32_t>(rng, count);
    compared += random_values<double, uint64_t>(rng, count);
  } else if (mode == "floats" && argc == 3) {
    const uint64_t stride = std::strtoull(argv[2], nullptr, 10);
    if (stride == 0) {
      return usage();
    }
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([=] {
        for (uint64_t bits = t * stride; bits <= 0xffffffffu; bits += threads * stride) {
          check(std::bit_cast<float>(static_cast<uint32_t>(bits)));
        }
      });
    }
    for (auto& thread : pool) {
      thread.join();
    }
    compared = 0xffffffffull / stride + 1;
  } else {
    return usage();
  }
  std::printf(
      "digits from %s: %llu values compared, %llu mismatches\n", linreg_app::format_digits_source(),
      static_cast<unsigned long long>(compared),
      static_cast<unsigned long long>(mismatches.load()));
  return mismatches.load() == 0 ? 0 : 1;
}
