// A driver for the number and CSV readers of cpp_app (numbers.h, input.h), without LibTorch, so
// that tests/test_input_fuzz.py can compare them with their Python twins on many inputs in one
// process, and so that they can run under -fsanitize=address,undefined (LINREG_EXT_SANITIZE).
//
//   input_check numbers           stdin: one hex-encoded text per line
//   input_check csv D 32|64       stdin: one hex-encoded CSV document per line, D features
//   input_check random SEED N     N generated texts and documents; checks invariants, no output
//
// For each input line it prints "ok VALUES..." (shortest round-trip text of each float64) or
// "err MESSAGE". `random` prints a count, and exits 1 at the first broken invariant.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include "input.h"
#include "numbers.h"

using linreg_app::InputError;
using linreg_app::NumberError;
using linreg_app::Precision;

namespace {

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

std::string shortest(double value) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

// Messages must be one printable line: ASCII 0x20-0x7e, and "…" from quote_text.
bool printable(const std::string& message) {
  for (size_t i = 0; i < message.size(); ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    if (message.compare(i, 3, "\xe2\x80\xa6") == 0) {
      i += 2;
    } else if (c < 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

std::string run_number(const std::string& text) {
  try {
    return "ok " + shortest(linreg_app::parse_number(text));
  } catch (const NumberError& e) {
    return std::string("err ") + e.what();
  }
}

std::string run_csv(const std::string& doc, int64_t features, Precision precision) {
  std::istringstream in(doc);
  try {
    const auto samples = linreg_app::samples_from_csv(in, "input", features, precision);
    std::string out = "ok";
    for (const double v : samples.values) {
      out += " " + shortest(v);
    }
    return out;
  } catch (const InputError& e) {
    return std::string("err ") + e.what();
  }
}

// Texts built from the grammar's pieces and from bytes it never allows.
std::string random_text(std::mt19937_64& rng) {
  static const std::string pieces[] = {"0",    "1",
                                       "9",    "5",
                                       ".",    "e",
                                       "E",    "+",
                                       "-",    " ",
                                       "\t",   "\r",
                                       ",",    "\"",
                                       "#",    "\n",
                                       "nan",  "inf",
                                       "x",    "_",
                                       "0x",   "\xef\xbb\xbf",
                                       "308",  "324",
                                       "999",  "1e-310",
                                       "\xff", std::string("\0", 1)};
  std::string text;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    if (rng() % 8 == 0) {
      text += static_cast<char>(rng() % 256);
    } else {
      text += pieces[rng() % (sizeof pieces / sizeof *pieces)];
    }
  }
  return text;
}

int run_random(uint64_t seed, int64_t count) {
  std::mt19937_64 rng(seed);
  int64_t accepted = 0;
  for (int64_t i = 0; i < count; ++i) {
    const std::string text = random_text(rng);
    const std::string number = run_number(text);
    if (number.rfind("ok ", 0) == 0) {
      ++accepted;
      const double value = linreg_app::parse_number(text);
      if (!std::isfinite(value) || linreg_app::parse_number(shortest(value)) != value) {
        std::cerr << "round trip failed for " << linreg_app::quote_text(text) << "\n";
        return 1;
      }
    } else if (!printable(number)) {
      std::cerr << "unprintable message for " << linreg_app::quote_text(text) << "\n";
      return 1;
    }
    const std::string csv = run_csv(
        text + "\n" + random_text(rng), 1 + rng() % 3,
        rng() % 2 ? Precision::kFloat32 : Precision::kFloat64);
    if (!printable(csv)) {
      std::cerr << "unprintable CSV message for " << linreg_app::quote_text(text) << "\n";
      return 1;
    }
  }
  std::cout << count << " inputs, " << accepted << " numbers accepted\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "random" && argc == 4) {
    return run_random(std::stoull(argv[2]), std::stoll(argv[3]));
  }
  if (!(mode == "numbers" && argc == 2) && !(mode == "csv" && argc == 4)) {
    std::cerr << "usage: input_check numbers | csv D 32|64 | random SEED N\n";
    return 2;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (mode == "numbers") {
      std::cout << run_number(unhex(line)) << "\n";
    } else {
      const auto precision =
          std::string(argv[3]) == "32" ? Precision::kFloat32 : Precision::kFloat64;
      std::cout << run_csv(unhex(line), std::stoll(argv[2]), precision) << "\n";
    }
  }
  return 0;
}
