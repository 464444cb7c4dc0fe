// Command-line parsing of linreg_predict (see options.h).
#include "options.h"

namespace linreg_app {

Options parse_args(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--csv" || arg == "--device") {
      if (!has_value) {
        throw UsageError(arg + " needs a value");
      }
      (arg == "--csv" ? opt.csv : opt.device) = argv[++i];
    } else if (arg == "--info") {
      opt.info = true;
    } else if (arg.rfind("--", 0) == 0 || arg == "-h") {
      throw UsageError(arg == "-h" || arg == "--help" ? "" : "unknown option " + arg);
    } else if (opt.model.empty()) {
      opt.model = arg;
    } else {
      opt.values.push_back(arg);
    }
  }
  if (opt.model.empty()) {
    throw UsageError("no model given");
  }
  if (opt.device != "cpu" && opt.device != "cuda") {
    throw UsageError("--device must be cpu or cuda, got '" + opt.device + "'");
  }
  if (!opt.info && opt.values.empty() == opt.csv.empty()) {
    throw UsageError(
        opt.values.empty() ? "no input: give values or --csv FILE"
                           : "give values or --csv, not both");
  }
  return opt;
}

}  // namespace linreg_app
