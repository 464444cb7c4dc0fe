// Number formatting shared by the linreg_ext C++ programs, so that they print exactly what
// `python -m linreg_ext.predict` prints (linreg_ext/predict.py, format_prediction).
#pragma once

#include <c10/core/ScalarType.h>

#include <string>

namespace linreg_app {

// The shortest text that reads back as the same value in `dtype` (float32 or float64), fixed or
// scientific, whichever std::to_chars finds shorter.
std::string format_prediction(double value, c10::ScalarType dtype);

}  // namespace linreg_app
