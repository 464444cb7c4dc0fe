// Command-line options of linreg_predict: parsing and the usage text.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace linreg_app {

inline constexpr const char* kUsage =
    "usage: linreg_predict MODEL.pt [VALUE ...] [--csv FILE|-] [--device cpu|cuda] [--info]\n"
    "                  [-h|--help] [--] [VALUE ...]\n"
    "  VALUE ...       one sample per value (models with one feature); after --, every\n"
    "                  argument is a value (or the model, if not given yet)\n"
    "  --csv FILE      rows of comma-separated features, optional header; '-' reads stdin\n"
    "  --device DEV    cpu (default) or cuda\n"
    "  --info          print the model's metadata.json and exit\n";

struct Options {
  std::string model;
  std::vector<std::string> values;
  std::string csv;
  std::string device = "cpu";
  bool info = false;
  bool help = false;  // -h or --help: print the usage to stdout, exit 0
};

// A bad command line: the message, then the usage, go to stderr (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Values may be negative numbers ("-1.5"): only "--" arguments (and -h) are options, and "--"
// ends the options.
Options parse_args(int argc, char** argv);

}  // namespace linreg_app
