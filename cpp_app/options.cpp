// Command-line parsing of linreg_predict (see options.h).
#include "options.h"

namespace linreg_app {

Options parse_args(int argc, char** argv) {
  Options opt;
  int i = 1;
  // The argument after option `name`, which must be there.
  const auto value_of = [&](const std::string& name) -> std::string {
    if (i + 1 >= argc) {
      throw UsageError(name + " needs a value");
    }
    return argv[++i];
  };
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--csv") {
      opt.csv = value_of(arg);
    } else if (arg == "--device") {
      opt.device = value_of(arg);
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
