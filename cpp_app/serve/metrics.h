// linreg_serve's Prometheus metrics (GET /monitoring/prometheus/metrics, TensorFlow Serving's
// path): requests by HTTP status, a latency histogram, instances predicted, the loaded versions.
// Lock-free counters, updated once per request.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "registry.h"

namespace linreg_serve {

class Metrics {
 public:
  // One answered request: its status, seconds from its header to its response being ready, and
  // the instances predicted.
  void record(int status, double seconds, int64_t instances);
  void connection_refused();  // over --max_connections

  std::string prometheus(const std::string& model_name, const Snapshot& snapshot) const;

  static constexpr std::array<int, 8> kStatuses = {200, 400, 404, 405, 413, 500, 503, 0};
  static constexpr std::array<double, 14> kBuckets = {
      50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 1, 5};

 private:
  std::array<std::atomic<uint64_t>, kStatuses.size()> by_status_{};   // 0: any other status
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> latency_{};  // last: above every bucket
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::atomic<uint64_t> instances_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace linreg_serve
