// linreg_serve's HTTP/1.1 transport (Boost.Beast): keep-alive, a bounded body, header and body
// timeouts, at most --max_connections connections, and a graceful drain on SIGTERM/SIGINT.
// Requests are answered on the server's threads, one at a time per thread: no request queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api.h"
#include "metrics.h"

namespace linreg_serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8501;
  int threads = 1;
  uint64_t max_body_bytes = 16 << 20;
  int max_connections = 1024;
  std::chrono::milliseconds header_timeout{10'000};  // idle keep-alive wait included
  std::chrono::milliseconds read_timeout{30'000};    // the body; also each response write
  std::chrono::milliseconds drain_timeout{10'000};
};

class HttpServer {
 public:
  HttpServer(const ServerOptions& options, const Api& api, Metrics& metrics);
  ~HttpServer();

  // Binds and listens; returns the bound address as "HOST:PORT". Throws std::runtime_error.
  std::string bind();

  // Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish (at most
  // drain_timeout; a second signal stops at once) and returns.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace linreg_serve
