// Parsing of linreg_predict's inputs (see input.h for the CSV rules). Values must be finite
// numbers in the model's dtype: a typo never turns into a silent zero, NaN or inf prediction.
#include "input.h"

#include <algorithm>
#include <cmath>

#include "numbers.h"

namespace linreg_app {
namespace {

constexpr std::string_view kBom = "\xef\xbb\xbf";

std::string_view trim_blanks(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// The value of `text`, which must also be finite in the model's dtype; `where` starts messages.
double parse_value(std::string_view text, Precision precision, const std::string& where) {
  double value = 0;
  try {
    value = parse_number(text);
  } catch (const NumberError& e) {
    throw InputError(where + e.what());
  }
  if (precision == Precision::kFloat32 && !std::isfinite(static_cast<float>(value))) {
    throw InputError(
        where + quote_text(text) +
        " is outside the range of float32, the model's dtype (largest magnitude 3.4028235e38)");
  }
  return value;
}

}  // namespace

bool is_name(std::string_view field) {
  const std::string_view t = trim_blanks(field);
  if (t.empty()) {
    return false;
  }
  const auto c = static_cast<unsigned char>(t[0]);
  if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80)) {
    return false;
  }
  const std::string word = lower_ascii(t);
  for (const char* value : {"nan", "inf", "infinity", "na", "n/a", "null", "none"}) {
    if (word == value) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> split_csv_line(std::string_view line, const std::string& where) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const std::string column = where + ", column " + std::to_string(fields.size() + 1) + ": ";
      for (++i;; ++i) {
        if (i == line.size()) {
          throw InputError(column + "a quoted field has no closing quote on its line");
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            break;
          }
        } else {
          field += line[i];
        }
      }
      ++i;  // past the closing quote
      if (i < line.size() && line[i] != ',') {
        throw InputError(column + "text after the closing quote of a quoted field");
      }
    } else {
      const size_t comma = std::min(line.find(',', i), line.size());
      field = line.substr(i, comma - i);
      i = comma;
    }
    fields.push_back(std::move(field));
    if (i == line.size()) {
      return fields;
    }
    ++i;  // past the comma: another field follows, perhaps an empty last one
  }
}

Samples samples_from_values(
    const std::vector<std::string>& values,
    int64_t in_features,
    Precision precision) {
  if (in_features != 1) {
    throw InputError(
        "the model takes " + std::to_string(in_features) +
        " features; values on the command line are one-feature samples, pass rows with --csv");
  }
  Samples samples{{}, 0, 1};
  for (const auto& text : values) {
    samples.values.push_back(parse_value(text, precision, ""));
    ++samples.rows;
  }
  return samples;
}

Samples samples_from_csv(
    std::istream& in,
    const std::string& name,
    int64_t in_features,
    Precision precision) {
  Samples samples{{}, 0, in_features};
  std::string text;
  bool first = true;
  for (int64_t lineno = 1; std::getline(in, text); ++lineno) {
    std::string_view line = text;
    if (lineno == 1 && line.substr(0, kBom.size()) == kBom) {
      line.remove_prefix(kBom.size());
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    const std::string_view content = trim_blanks(line);
    if (content.empty() || content[0] == '#') {
      continue;
    }
    const std::string where = name + " line " + std::to_string(lineno);
    const auto fields = split_csv_line(line, where);
    if (static_cast<int64_t>(fields.size()) != in_features) {
      throw InputError(
          where + " has " + std::to_string(fields.size()) + " fields; the model takes " +
          std::to_string(in_features) + " features");
    }
    bool header = first;
    for (size_t c = 0; header && c < fields.size(); ++c) {
      header = is_name(fields[c]);
    }
    first = false;
    if (header) {
      continue;
    }
    for (size_t c = 0; c < fields.size(); ++c) {
      const std::string column = where + ", column " + std::to_string(c + 1) + ": ";
      samples.values.push_back(parse_value(fields[c], precision, column));
    }
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
