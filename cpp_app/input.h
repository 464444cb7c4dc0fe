// Input parsing for linreg_predict: numbers from the command line, or CSV rows from a file or
// stdin. Every failure throws InputError with a message that names the line and column.
#pragma once

#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

namespace linreg_app {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Row-major [rows, cols] samples in float64 (converted to the model's dtype later).
struct Samples {
  std::vector<double> values;
  int64_t rows = 0;
  int64_t cols = 0;
};

// One sample per value; only for one-feature models.
Samples samples_from_values(const std::vector<std::string>& values, int64_t in_features);

// Rows of `in_features` comma-separated numbers; a first line that is not numeric is a header.
// `name` is used in messages ("data.csv", "stdin").
Samples samples_from_csv(std::istream& in, const std::string& name, int64_t in_features);

}  // namespace linreg_app
