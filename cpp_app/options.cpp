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
  bool options_ended = false;  // after "--", every argument is the model or a value
  bool have_model = false;     // an empty model argument ("$UNSET") is still the model
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool option = !options_ended && (arg.rfind("--", 0) == 0 || arg == "-h");
    if (!option) {
      if (!have_model) {
        opt.model = arg;
        have_model = true;
      } else {
        opt.values.push_back(arg);
      }
    } else if (arg == "--") {
      options_ended = true;
    } else if (arg == "--csv") {
      opt.csv = value_of(arg);
    } else if (arg == "--device") {
      opt.device = value_of(arg);
    } else if (arg == "--info") {
      opt.info = true;
    } else if (arg == "-h" || arg == "--help") {
      opt.help = true;
      return opt;
    } else {
      throw UsageError("unknown option " + arg + " (put -- before values that start with --)");
    }
  }
  if (!have_model) {
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
