// Number formatting shared by the linreg_ext C++ programs, so that they print exactly what
// `python -m linreg_ext.predict` prints (linreg_ext/predict.py, format_prediction).
#pragma once

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <string>

namespace linreg_app {

// Room for any text format_prediction writes (the longest float64 one is 24 characters).
constexpr size_t kMaxPredictionChars = 32;

// The shortest text that reads back as the same value in `dtype` (float32 or float64), fixed or
// scientific, whichever std::to_chars finds shorter.
std::string format_prediction(double value, c10::ScalarType dtype);

// The same text written to [first, first + kMaxPredictionChars); returns its end. For callers
// that append many numbers to one buffer (the server's responses) without a string each.
char* format_prediction_to(char* first, double value, c10::ScalarType dtype);

// Where the digits come from in this build: "dragonbox" (Boost.Charconv's, when the build found
// the Boost headers) or "to_chars" (std::to_chars alone). The text is the same either way.
const char* format_digits_source();

}  // namespace linreg_app
