// Shortest round-trip formatting (see format.h).
#include "format.h"

#include <charconv>

namespace linreg_app {

std::string format_prediction(double value, c10::ScalarType dtype) {
  char buf[64];
  const auto result = dtype == c10::ScalarType::Float
                          ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(value))
                          : std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

}  // namespace linreg_app
