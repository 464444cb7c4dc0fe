// Command-line options of linreg_predict: parsing and the usage text.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace linreg_app {

inline constexpr const char* kUsage =
    "usage: linreg_predict MODEL.pt [VALUE ...] [--csv FILE|-] [--device cpu|cuda] [--info]\n"
    "  VALUE ...       one sample per value (models with one feature)\n"
    "  --csv FILE      rows of comma-separated features, optional header; '-' reads stdin\n"
    "  --device DEV    cpu (default) or cuda\n"
    "  --info          print the model's metadata.json and exit\n";

struct Options {
  std::string model;
  std::vector<std::string> values;
  std::string csv;
  std::string device = "cpu";
  bool info = false;
};

// A bad command line; an empty message means "just print the usage" (-h, --help).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Values may be negative numbers ("-1.5"): only "--" arguments are options.
Options parse_args(int argc, char** argv);

}  // namespace linreg_app
