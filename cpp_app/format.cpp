// Shortest round-trip formatting (see format.h).
//
// The text is defined by std::to_chars(first, last, value): the shortest digits that read back as
// the value (nearest to it on a tie), in fixed or scientific form, whichever is shorter (fixed on
// a tie), with an integer value written exactly in fixed form. libstdc++'s float to_chars takes
// about 45 ns a number, a tenth of linreg_serve's CPU at 256 instances a request. When the Boost
// headers are there (the build gives them to this file with LINREG_APP_DRAGONBOX), the digits come
// from Boost.Charconv's Dragonbox (about 20 ns) and only the layout is written here, the same rule
// as linreg_ext/predict.py's format_prediction. tests/cpp/format_check.cpp compares the two
// against std::to_chars, bit pattern by bit pattern.
#include "format.h"

#include <c10/util/Exception.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#ifdef LINREG_APP_DRAGONBOX
#include <boost/charconv/detail/dragonbox/dragonbox.hpp>
#endif

namespace linreg_app {
namespace {

char* std_to_chars(char* first, double value, c10::ScalarType dtype) {
  char* const last = first + kMaxPredictionChars;
  const std::to_chars_result written = dtype == c10::ScalarType::Float
                                           ? std::to_chars(first, last, static_cast<float>(value))
                                           : std::to_chars(first, last, value);
  // Cannot fail: the longest shortest-round-trip text is 24 characters (-2.2250738585072014e-308).
  TORCH_INTERNAL_ASSERT(written.ec == std::errc(), "format_prediction: no room for ", value);
  return written.ptr;
}

#ifdef LINREG_APP_DRAGONBOX

constexpr uint64_t kPow10[20] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull};

int count_digits(uint64_t v) {
  const int guess = (std::bit_width(v | 1) * 1233) >> 12;  // floor(log10(2^bit_width))
  return guess + 1 - (v < kPow10[guess] ? 1 : 0);
}

// The n decimal digits of v (zero-padded on the left) at [first, first + n); returns the end.
// Two digits a division.
char* write_digits(char* first, uint64_t v, int n) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* p = first + n;
  for (; p - first >= 2; v /= 100) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * (v % 100), 2);
  }
  if (p != first) {
    *--p = static_cast<char>('0' + v % 10);
  }
  return first + n;
}

// An integer below 2^100 (31 digits at most) as its high and low 19 digits: one 128-bit
// division (a slow library call), then 64-bit arithmetic.
int count_digits(unsigned __int128 v) {
  constexpr uint64_t k19 = 10000000000000000000ull;
  return v < k19 ? count_digits(static_cast<uint64_t>(v))
                 : 19 + count_digits(static_cast<uint64_t>(v / k19));
}

char* write_digits(char* first, unsigned __int128 v, int n) {
  constexpr uint64_t k19 = 10000000000000000000ull;
  if (n <= 19) {
    return write_digits(first, static_cast<uint64_t>(v), n);
  }
  write_digits(first, static_cast<uint64_t>(v / k19), n - 19);
  return write_digits(first + n - 19, static_cast<uint64_t>(v % k19), 19);
}

// x is finite and positive. Writes what std::to_chars(x) writes.
template <typename T>
char* shortest_positive(char* out, T x) {
  // x = significand * 10^exponent, the fewest digits that round-trip, trailing zeros removed.
  const auto decimal = boost::charconv::detail::to_decimal<T>(x);
  const uint64_t digits = decimal.significand;
  const int n = count_digits(digits);
  const int exponent = decimal.exponent;
  const int sci_exponent = exponent + n - 1;  // d.ddd e sci_exponent
  const int abs_sci = sci_exponent < 0 ? -sci_exponent : sci_exponent;
  const int sci_len = n + (n > 1 ? 1 : 0) + 2 + (abs_sci >= 100 ? 3 : 2);

  if (x == std::trunc(x)) {
    // An integer: fixed form writes all of its digits exactly (not the shortest digits padded
    // with zeros). Below 2^100 it fits 128 bits; above, it has over 30 digits and loses to
    // scientific (at most 24 characters).
    if (x < std::ldexp(T(1), 100)) {
      int e2;
      const T fraction = std::frexp(x, &e2);  // x = fraction * 2^e2, fraction in [0.5, 1)
      constexpr int kBits = std::numeric_limits<T>::digits;
      const auto mantissa =
          static_cast<unsigned __int128>(static_cast<uint64_t>(std::ldexp(fraction, kBits)));
      const int shift = e2 - kBits;  // x = mantissa * 2^shift, exactly
      const unsigned __int128 value = shift >= 0 ? mantissa << shift : mantissa >> -shift;
      const int fixed_len = count_digits(value);
      if (fixed_len <= sci_len) {
        return write_digits(out, value, fixed_len);
      }
    }
  } else {
    // ddd.ddd when some digits are whole, else 0.000ddd. A value that is not an integer has
    // digits after the point: any integer near it is a float of its own.
    const int fraction_digits = -exponent;
    TORCH_INTERNAL_ASSERT(fraction_digits > 0, "format_prediction: ", x, " has no fraction digits");
    const int fixed_len = fraction_digits < n ? n + 1 : 2 + fraction_digits;
    if (fixed_len <= sci_len) {
      if (fraction_digits < n) {
        const uint64_t scale = kPow10[fraction_digits];
        char* const point = write_digits(out, digits / scale, n - fraction_digits);
        *point = '.';
        return write_digits(point + 1, digits % scale, fraction_digits);
      }
      out[0] = '0';
      out[1] = '.';
      std::memset(out + 2, '0', fraction_digits - n);
      return write_digits(out + 2 + fraction_digits - n, digits, n);
    }
  }
  // d[.ddd]e(+|-)XX
  write_digits(out + 1, digits, n);
  out[0] = out[1];
  char* p = out + 1;
  if (n > 1) {
    *p = '.';
    p += n;
  }
  *p++ = 'e';
  *p++ = sci_exponent < 0 ? '-' : '+';
  return write_digits(p, static_cast<uint64_t>(abs_sci), abs_sci >= 100 ? 3 : 2);
}

#endif  // LINREG_APP_DRAGONBOX

}  // namespace

char* format_prediction_to(char* first, double value, c10::ScalarType dtype) {
#ifdef LINREG_APP_DRAGONBOX
  const bool float32 = dtype == c10::ScalarType::Float;
  const double x = float32 ? static_cast<double>(static_cast<float>(value)) : value;
  if (std::isfinite(x) && x != 0) {  // inf, nan and zeros keep to_chars' own spelling
    char* out = first;
    if (x < 0) {
      *out++ = '-';
    }
    return float32 ? shortest_positive(out, std::fabs(static_cast<float>(value)))
                   : shortest_positive(out, std::fabs(value));
  }
#endif
  return std_to_chars(first, value, dtype);
}

const char* format_digits_source() {
#ifdef LINREG_APP_DRAGONBOX
  return "dragonbox";
#else
  return "to_chars";
#endif
}

std::string format_prediction(double value, c10::ScalarType dtype) {
  char buf[kMaxPredictionChars];
  return std::string(buf, format_prediction_to(buf, value, dtype));
}

}  // namespace linreg_app
