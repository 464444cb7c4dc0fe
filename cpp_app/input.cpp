// Parsing of linreg_predict's inputs (see input.h). Values must be finite numbers: a typo never
// turns into a silent zero or NaN prediction.
#include "input.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>

namespace linreg_app {
namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) {
    return "";
  }
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// The number in `text`, or nothing if any of it is not part of one finite number.
std::optional<double> parse_number(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) {
    fields.push_back(field);
  }
  if (!line.empty() && line.back() == ',') {
    fields.emplace_back();  // a trailing comma is an empty last field
  }
  return fields;
}

}  // namespace

Samples samples_from_values(const std::vector<std::string>& values, int64_t in_features) {
  if (in_features != 1) {
    throw InputError(
        "the model takes " + std::to_string(in_features) +
        " features; values on the command line are one-feature samples, pass rows with --csv");
  }
  Samples samples{{}, 0, 1};
  for (const auto& text : values) {
    const auto value = parse_number(text);
    if (!value) {
      throw InputError("'" + text + "' is not a finite number");
    }
    samples.values.push_back(*value);
    ++samples.rows;
  }
  return samples;
}

Samples samples_from_csv(std::istream& in, const std::string& name, int64_t in_features) {
  Samples samples{{}, 0, in_features};
  std::string line;
  bool first = true;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (trim(line).empty()) {
      continue;
    }
    const auto fields = split(line);
    std::vector<double> row;
    for (const auto& field : fields) {
      const auto value = parse_number(field);
      if (!value) {
        break;
      }
      row.push_back(*value);
    }
    const bool header = first && row.empty();  // a first line with no leading number
    first = false;
    if (static_cast<int64_t>(fields.size()) != in_features) {
      throw InputError(
          name + " line " + std::to_string(lineno) + " has " + std::to_string(fields.size()) +
          " fields; the model takes " + std::to_string(in_features) + " features");
    }
    if (header) {
      continue;
    }
    if (row.size() < fields.size()) {
      throw InputError(
          name + " line " + std::to_string(lineno) + ", column " + std::to_string(row.size() + 1) +
          ": '" + trim(fields[row.size()]) + "' is not a finite number");
    }
    samples.values.insert(samples.values.end(), row.begin(), row.end());
    ++samples.rows;
  }
  if (in.bad()) {
    throw InputError("error reading " + name);
  }
  if (samples.rows == 0) {
    throw InputError(name + " has no data rows");
  }
  return samples;
}

}  // namespace linreg_app
