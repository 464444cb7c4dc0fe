// Input parsing for linreg_predict: numbers from the command line, or CSV rows from a file or
// stdin. Every failure throws InputError with a message that names the line and column. The
// Python twin is linreg_ext/csv_input.py; tests/test_input_fuzz.py checks that both agree.
//
// CSV rules (the same in both predictors; the trainer follows them too):
//  - a UTF-8 byte-order mark at the very start of the input is skipped;
//  - lines end with "\n", and one "\r" before it is dropped (CRLF files);
//  - blank lines (only spaces and tabs) and comment lines (first non-blank character '#') are
//    skipped wherever they are; a '#' anywhere else is part of its field;
//  - fields are separated by ','; a field that starts with '"' is quoted: it ends at the next
//    lone '"' ('""' inside stands for one '"') and is followed by ',' or the end of the line;
//    a quoted field does not span lines;
//  - the first remaining line is a header if and only if every field of it is a name (see
//    is_name); otherwise it is data, so a first data row is never dropped for failing to parse;
//  - every line, the header included, has exactly one field per feature of the model;
//  - every data field is a number of the grammar in numbers.h, and fits the model's dtype.
#pragma once

#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace linreg_app {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The dtype of the model the samples are for: every value must be finite in it.
enum class Precision { kFloat64, kFloat32 };

// Row-major [rows, cols] samples in float64 (converted to the model's dtype later).
struct Samples {
  std::vector<double> values;
  int64_t rows = 0;
  int64_t cols = 0;
};

// A header field: after removing spaces and tabs around it, non-empty, starting with an ASCII
// letter, '_' or a non-ASCII byte, and none of (in any case) nan, inf, infinity, na, n/a, null,
// none, which stand for values.
bool is_name(std::string_view field);

// The fields of one line (without its "\n"); `where` ("data.csv line 3") starts the message of
// a quoting error.
std::vector<std::string> split_csv_line(std::string_view line, const std::string& where);

// One sample per value; only for one-feature models.
Samples samples_from_values(
    const std::vector<std::string>& values,
    int64_t in_features,
    Precision precision);

// Rows of `in_features` numbers under the CSV rules above. `name` is used in messages
// ("data.csv", "stdin").
Samples samples_from_csv(
    std::istream& in,
    const std::string& name,
    int64_t in_features,
    Precision precision);

}  // namespace linreg_app
