// Shortest round-trip formatting (see format.h).
#include "format.h"

#include <charconv>

namespace linreg_app {

char* format_prediction_to(char* first, double value, c10::ScalarType dtype) {
  char* const last = first + kMaxPredictionChars;
  return dtype == c10::ScalarType::Float ? std::to_chars(first, last, static_cast<float>(value)).ptr
                                         : std::to_chars(first, last, value).ptr;
}

std::string format_prediction(double value, c10::ScalarType dtype) {
  char buf[kMaxPredictionChars];
  return std::string(buf, format_prediction_to(buf, value, dtype));
}

}  // namespace linreg_app
