// The number grammar (see numbers.h): a hand-written scanner checks the grammar, std::from_chars
// (correctly rounded, locale-independent) computes the value.
#include "numbers.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace linreg_app {
namespace {

constexpr size_t kQuoteLimit = 40;
constexpr const char* kNotDecimal =
    "expected decimal digits with an optional sign, fraction and exponent, e.g. -1.5e3";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim_blanks(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
    if (c != lower[i]) {
      return false;
    }
  }
  return true;
}

// Where the grammar's mantissa and exponent are in `t` (already trimmed); false if t is not a
// number. `magnitude_exp` is the decimal exponent of t's leading non-zero digit (saturated), used
// to tell overflow from underflow when from_chars reports out of range.
bool scan(std::string_view t, int64_t& magnitude_exp) {
  size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    ++i;
  }
  int64_t int_digits = 0, frac_digits = 0, first_nonzero = -1, position = 0;
  for (; i < t.size() && is_digit(t[i]); ++i, ++int_digits, ++position) {
    if (first_nonzero < 0 && t[i] != '0') {
      first_nonzero = position;
    }
  }
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && is_digit(t[i]); ++i, ++frac_digits, ++position) {
      if (first_nonzero < 0 && t[i] != '0') {
        first_nonzero = position;
      }
    }
  }
  if (int_digits + frac_digits == 0) {
    return false;
  }
  int64_t exponent = 0;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    const bool negative = i < t.size() && t[i] == '-';
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
      ++i;
    }
    if (i == t.size() || !is_digit(t[i])) {
      return false;
    }
    for (; i < t.size() && is_digit(t[i]); ++i) {
      exponent = std::min<int64_t>(exponent * 10 + (t[i] - '0'), int64_t{1} << 40);
    }
    exponent = negative ? -exponent : exponent;
  }
  magnitude_exp = first_nonzero < 0 ? 0 : int_digits - first_nonzero - 1 + exponent;
  return i == t.size();
}

}  // namespace

std::string quote_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kQuoteLimit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kQuoteLimit) {
    out += "\xe2\x80\xa6";  // …
  }
  return out + "'";
}

double parse_number(std::string_view text) {
  const std::string_view t = trim_blanks(text);
  const auto fail = [&](const char* why) {
    return NumberError(quote_text(text) + " is not a finite number: " + why);
  };
  if (t.empty()) {
    throw fail("the field is empty");
  }
  const std::string_view word = t[0] == '+' || t[0] == '-' ? t.substr(1) : t;
  if (equals_lower(word, "nan") || equals_lower(word, "inf") || equals_lower(word, "infinity")) {
    throw fail("NaN and infinity are not accepted");
  }
  int64_t magnitude_exp = 0;
  if (!scan(t, magnitude_exp)) {
    throw fail(kNotDecimal);
  }
  // from_chars takes no '+': the scanner has checked that one sign at most is there.
  const std::string_view unsigned_part = t[0] == '+' || t[0] == '-' ? t.substr(1) : t;
  double value = 0;
  const auto result =
      std::from_chars(unsigned_part.data(), unsigned_part.data() + unsigned_part.size(), value);
  const char* end = unsigned_part.data() + unsigned_part.size();
  if (result.ec == std::errc() && result.ptr != end) {
    throw fail(kNotDecimal);
  }
  if (result.ec == std::errc::result_out_of_range && magnitude_exp < 0) {
    value = 0.0;  // below the smallest subnormal: rounds to zero
  } else if (result.ec != std::errc() || !std::isfinite(value)) {
    throw fail("it overflows float64 (largest magnitude 1.7976931348623157e308)");
  }
  return t[0] == '-' ? -value : value;
}

}  // namespace linreg_app
