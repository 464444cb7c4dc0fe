// linreg_serve's argument parsing (see serve_options.h): every value is checked here, so the
// server never starts with a setting it would misread.
#include "serve_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string_view>
#include <thread>

namespace linreg_serve {
namespace {

template <typename T>
T parse_number(const std::string& name, const std::string& text, T min, T max) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !(value >= min && value <= max)) {
    throw UsageError(
        name + " must be a number from " + std::to_string(min) + " to " + std::to_string(max) +
        ", got '" + text + "'");
  }
  return value;
}

std::chrono::milliseconds seconds(const std::string& name, const std::string& text) {
  const double s = parse_number<double>(name, text, 0.001, 86400);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 100) {
    return false;
  }
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

ServeOptions parse_serve_args(int argc, char** argv) {
  ServeOptions opt;
  opt.registry.model_name = "linreg";
  opt.server.threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      throw UsageError("");
    }
    if (!arg.starts_with("--")) {
      throw UsageError("unexpected argument '" + arg + "'");
    }
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError(arg + " needs a value");
    }
    if (arg == "--model_base_path") {
      opt.registry.base_path = value;
    } else if (arg == "--model") {
      opt.registry.model_file = value;
    } else if (arg == "--model_name") {
      if (!valid_name(value)) {
        throw UsageError(
            "--model_name must be letters, digits, '_', '-' or '.', got '" + value + "'");
      }
      opt.registry.model_name = value;
    } else if (arg == "--host") {
      opt.server.host = value;
    } else if (arg == "--port") {
      opt.server.port = parse_number<int>(arg, value, 0, 65535);
    } else if (arg == "--threads") {
      opt.server.threads = parse_number<int>(arg, value, 1, 1024);
    } else if (arg == "--device") {
      if (value != "cpu" && value != "cuda") {
        throw UsageError("--device must be cpu or cuda, got '" + value + "'");
      }
      opt.registry.device = value;
    } else if (arg == "--file_system_poll_wait_seconds") {
      opt.registry.poll_seconds = parse_number<double>(arg, value, -1, 86400);
    } else if (arg == "--max_body_bytes") {
      opt.server.max_body_bytes = parse_number<uint64_t>(arg, value, 64, uint64_t{1} << 32);
    } else if (arg == "--max_connections") {
      opt.server.max_connections = parse_number<int>(arg, value, 1, 1000000);
    } else if (arg == "--header_timeout_seconds") {
      opt.server.header_timeout = seconds(arg, value);
    } else if (arg == "--read_timeout_seconds") {
      opt.server.read_timeout = seconds(arg, value);
    } else if (arg == "--drain_timeout_seconds") {
      opt.server.drain_timeout = seconds(arg, value);
    } else {
      throw UsageError("unknown option " + arg);
    }
  }
  if (opt.registry.base_path.empty() == opt.registry.model_file.empty()) {
    throw UsageError(
        opt.registry.model_file.empty() ? "no model given: --model_base_path DIR or --model FILE"
                                        : "give --model_base_path or --model, not both");
  }
  return opt;
}

}  // namespace linreg_serve
