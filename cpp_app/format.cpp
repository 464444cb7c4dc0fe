// Shortest round-trip formatting (see format.h).
#include "format.h"

#include <c10/util/Exception.h>

#include <charconv>

namespace linreg_app {

char* format_prediction_to(char* first, double value, c10::ScalarType dtype) {
  char* const last = first + kMaxPredictionChars;
  const std::to_chars_result written = dtype == c10::ScalarType::Float
                                           ? std::to_chars(first, last, static_cast<float>(value))
                                           : std::to_chars(first, last, value);
  // Cannot fail: the longest shortest-round-trip text is 24 characters (-2.2250738585072014e-308).
  TORCH_INTERNAL_ASSERT(written.ec == std::errc(), "format_prediction: no room for ", value);
  return written.ptr;
}

std::string format_prediction(double value, c10::ScalarType dtype) {
  char buf[kMaxPredictionChars];
  return std::string(buf, format_prediction_to(buf, value, dtype));
}

}  // namespace linreg_app
