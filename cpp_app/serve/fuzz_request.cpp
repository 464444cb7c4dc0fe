// linreg_serve_fuzz: a bounded, seeded fuzz run of what linreg_serve parses before any model
// runs: :predict bodies (parse_predict, and its fast and general halves against each other),
// request paths (parse_route), and raw HTTP/1.1 requests (Beast's parser with the server's limits).
// Inputs are mutations and splices of valid seeds plus random bytes. Each parse must either succeed
// with a well-formed result or throw ApiError with a 4xx status and a message; anything else
// (another exception, a crash, a sanitizer report) fails.
//
//   linreg_serve_fuzz [--iterations N] [--seed S] [--seconds T]     exits 0 when all held
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "request.h"

namespace {

namespace http = boost::beast::http;
using linreg_serve::ApiError;

const std::vector<std::string> kBodies = {
    R"({"instances": [4.0, 5.5, -1e3]})",
    R"({"instances": [[1, 2, 3], [4.5, -6, 7e-3]]})",
    R"({"instances": [{"x0": 1, "x1": 2, "x2": 3}, {"x2": 1, "x0": 0, "x1": -1}]})",
    R"({"inputs": {"x0": [1, 2], "x1": [3, 4], "x2": [5, 6]}, "signature_name": "serving_default"})",
    R"({"inputs": [[1, 2, 3]]})",
    R"({"inputs": [1.5, 2.5]})",
    R"({"instances": [{"x": 4.0}], "signature_name": "serving_default"})",
    R"({"instances": [3.4028235e38, 1e308, 123456789012345678901234567890, -0.0]})",
    R"({"signature_name": "serving_default", "instances": [[1, -2, 3e0], [4, 5, 1e-320]]})",
    "{\n  \"inputs\": [ [0.5] , 2, -7 ]\n}\n",
    // Where the fast parse must hand over or agree: escaped keys and signature (equal once
    // decoded), a repeated key, both row keys, numbers and lists mixed.
    R"({"instanc\u0065s": [[1, 2, 3]], "signature_name": "serving\u005fdefault"})",
    R"({"instances": [1, [2]], "instances": [[3]]})",
    R"({"inputs": [[1, 2, 3]], "instances": [4, [5]]})",
};
const std::vector<std::string> kTokens = {
    "[",
    "]",
    "{",
    "}",
    "\"",
    ",",
    ":",
    "1e400",
    "-",
    "NaN",
    "Infinity",
    "null",
    "true",
    "\"x0\"",
    "\"instances\"",
    "\"inputs\"",
    "[[[[[[[[[[[[[[[[[[[[",
    "\\u0000",
    "\xff",
    "0x10",
    "1e-400",
    "3.5e38",
    "18446744073709551616",
    " ",
    "\n"};
const std::vector<std::string> kTargets = {
    "/v1/models/linreg",
    "/v1/models/linreg/versions/2",
    "/v1/models/linreg/metadata",
    "/v1/models/linreg/versions/12/metadata",
    "/v1/models/linreg:predict",
    "/v1/models/linreg/versions/3:predict",
    "/monitoring/prometheus/metrics",
    "/v1/models/a?b=c"};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) {
    return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng_) : 0;
  }

  std::string mutate(std::string s, const std::vector<std::string>& seeds) {
    for (size_t k = 0, edits = 1 + below(3); k < edits; ++k) {
      const size_t at = below(s.size() + 1);
      switch (below(7)) {
        case 0:  // flip a byte
          if (!s.empty()) {
            s[below(s.size())] = static_cast<char>(below(256));
          }
          break;
        case 1:  // insert a token
          s.insert(at, kTokens[below(kTokens.size())]);
          break;
        case 2:  // delete a span
          s.erase(at, below(8));
          break;
        case 3:  // duplicate a span
          s.insert(at, s.substr(below(s.size() + 1), below(32)));
          break;
        case 4:  // truncate
          s.resize(below(s.size() + 1));
          break;
        case 5: {  // splice another seed in
          const std::string& other = seeds[below(seeds.size())];
          s = s.substr(0, at) + other.substr(below(other.size() + 1));
          break;
        }
        default:  // a random digit run: long numbers
          s.insert(at, std::string(1 + below(400), static_cast<char>('0' + below(10))));
      }
    }
    return s;
  }

  std::string random_bytes() {
    std::string s(below(200), '\0');
    for (auto& c : s) {
      c = static_cast<char>(below(256));
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

struct Counts {
  uint64_t accepted = 0, rejected = 0;
  uint64_t fast = 0;  // bodies the fast parse answered (and the general one agreed)
};

[[noreturn]] void fail(const std::string& what, const std::string& input) {
  std::cerr << "linreg_serve_fuzz: " << what << "\n  input (" << input.size() << " bytes): ";
  for (const unsigned char c : input.substr(0, 400)) {
    if (c >= 32 && c < 127) {
      std::cerr << c;
    } else {
      std::cerr << "\\x" << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 15];
    }
  }
  std::cerr << "\n";
  std::exit(1);
}

void expect_api_error(const ApiError& e, int status, const std::string& input) {
  if (e.status != status || std::string(e.what()).empty()) {
    fail(
        "ApiError " + std::to_string(e.status) + " '" + e.what() + "', expected " +
            std::to_string(status),
        input);
  }
}

// The fast parse, where it answers, must give exactly what the general one gives.
void compare_parsers(const std::string& body, const linreg_serve::Signature& sig, Counts& counts) {
  std::optional<linreg_serve::PredictRequest> fast;
  try {
    fast = linreg_serve::parse_predict_fast(body, sig);
  } catch (const std::exception& e) {
    fail(std::string("the fast parse threw: ") + e.what(), body);
  }
  if (!fast) {
    return;
  }
  try {
    const auto general = linreg_serve::parse_predict_general(body, sig);
    if (general.n != fast->n || general.columnar != fast->columnar ||
        general.rows.size() != fast->rows.size() ||
        std::memcmp(general.rows.data(), fast->rows.data(), general.rows.size() * sizeof(double))) {
      fail("the fast and general parses differ", body);
    }
  } catch (const std::exception& e) {
    fail(std::string("the fast parse accepted what the general one refuses: ") + e.what(), body);
  }
  ++counts.fast;
}

void check_body(const std::string& body, const linreg_serve::Signature& sig, Counts& counts) {
  compare_parsers(body, sig, counts);
  try {
    const auto req = linreg_serve::parse_predict(body, sig);
    if (req.n < 1 || req.rows.size() != static_cast<size_t>(req.n * sig.in_features)) {
      fail(
          "accepted with " + std::to_string(req.rows.size()) +
              " values for n = " + std::to_string(req.n),
          body);
    }
    for (const double v : req.rows) {
      if (!std::isfinite(v) || (sig.float32 && !std::isfinite(static_cast<float>(v)))) {
        fail("accepted a value that is not finite in the model's dtype", body);
      }
    }
    ++counts.accepted;
  } catch (const ApiError& e) {
    expect_api_error(e, 400, body);
    ++counts.rejected;
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what(), body);
  }
}

void check_route(const std::string& target, Counts& counts) {
  try {
    const auto route = linreg_serve::parse_route(target);
    if (route.endpoint != linreg_serve::Endpoint::kMetrics && route.model.empty()) {
      fail("accepted a route with no model name", target);
    }
    ++counts.accepted;
  } catch (const ApiError& e) {
    expect_api_error(e, 404, target);
    ++counts.rejected;
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what(), target);
  }
}

// Feeds a raw request to Beast's parser in random-sized pieces, as the server's reads would: what
// the parser leaves unconsumed (a partial header) stays buffered for the next piece.
void check_http(const std::string& raw, Mutator& m, Counts& counts) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(4096);
  parser.header_limit(16 * 1024);
  boost::beast::error_code ec;
  std::string pending;
  size_t fed = 0;
  while (!ec && !parser.is_done()) {
    if (fed == raw.size()) {
      parser.put_eof(ec);
      break;
    }
    const size_t piece = std::min(raw.size() - fed, 1 + m.below(64));
    pending.append(raw, fed, piece);
    fed += piece;
    for (;;) {
      const size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || parser.is_done() || used == 0) {
        break;
      }
    }
  }
  if (!ec && parser.is_header_done()) {
    check_route(std::string(parser.get().target()), counts);
  }
  ++(ec ? counts.rejected : counts.accepted);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = 20000, seed = 1;
  double seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--iterations") {
      iterations = std::stoull(argv[i + 1]);
    } else if (arg == "--seed") {
      seed = std::stoull(argv[i + 1]);
    } else if (arg == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else {
      std::cerr << "usage: linreg_serve_fuzz [--iterations N] [--seed S] [--seconds T]\n";
      return 2;
    }
  }
  const linreg_serve::Signature one{1, {"x"}, true};
  const linreg_serve::Signature three{3, {"x0", "x1", "x2"}, false};
  std::vector<std::string> requests;
  for (const auto& target : kTargets) {
    requests.push_back("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
    requests.push_back(
        "POST " + target + " HTTP/1.1\r\nHost: a\r\nContent-Length: " +
        std::to_string(kBodies[0].size()) + "\r\n\r\n" + kBodies[0]);
  }
  requests.push_back(
      "POST /v1/models/linreg:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"ins\r\n0\r\n\r\n");
  Mutator m(seed);
  Counts bodies, routes, messages;
  const auto start = std::chrono::steady_clock::now();
  uint64_t done = 0;
  for (; done < iterations; ++done) {
    if (done % 256 == 0 &&
        std::chrono::steady_clock::now() - start > std::chrono::duration<double>(seconds)) {
      break;
    }
    const std::string body =
        done % 10 == 0 ? m.random_bytes() : m.mutate(kBodies[m.below(kBodies.size())], kBodies);
    check_body(body, one, bodies);
    check_body(body, three, bodies);
    check_route(m.mutate(kTargets[m.below(kTargets.size())], kTargets), routes);
    check_http(m.mutate(requests[m.below(requests.size())], requests), m, messages);
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "linreg_serve_fuzz: " << done << " iterations, seed " << seed << ", " << took.count()
            << " s: " << bodies.accepted + bodies.rejected << " bodies (" << bodies.accepted
            << " accepted, " << bodies.fast << " of them by the fast parse too), "
            << routes.accepted + routes.rejected << " paths (" << routes.accepted << " accepted), "
            << messages.accepted + messages.rejected << " HTTP messages (" << messages.accepted
            << " parsed); no failures\n";
  return 0;
}
