// metadata.json of an exported linreg_ext model (TorchScript extra file or .pt2 record): parsed
// and checked, so that a file that is not a linreg_ext model is refused before it is loaded.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

namespace linreg_app {

struct ModelMetadata {
  std::string text;  // as stored in the file; what --info prints
  int64_t in_features = 0;
  c10::ScalarType dtype = c10::ScalarType::Float;  // float32 or float64: what inputs become
  std::string device = "cpu";  // a .pt2 runs only there; absent (cpu) in TorchScript files
  std::string cpu_isa;         // .pt2: the --cpu-isa its code was compiled with, its -march,
  std::string cpu_march;       // and the CPU features (GCC's names) it requires
  std::vector<std::string> cpu_requires;
};

// Throws std::runtime_error (one line, naming `path`) unless `text` is the metadata.json of a
// linreg_ext model: a JSON object with linreg_ext_version, in_features >= 1, dtype float32 or
// float64, and for a .pt2 (`needs_cpu_isa`) cpu_isa.requires.
ModelMetadata parse_metadata(const std::string& text, const std::string& path, bool needs_cpu_isa);

}  // namespace linreg_app
