// Prometheus text exposition format 0.0.4 (see metrics.h).
#include "metrics.h"

#include <charconv>

namespace linreg_serve {
namespace {

std::string number(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

void Metrics::record(int status, double seconds, int64_t instances) {
  size_t s = 0;
  while (kStatuses[s] != status && kStatuses[s] != 0) {
    ++s;
  }
  by_status_[s].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) {
    ++b;
  }
  latency_[b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  instances_.fetch_add(static_cast<uint64_t>(instances), std::memory_order_relaxed);
}

void Metrics::connection_refused() {
  refused_.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::prometheus(const std::string& model_name, const Snapshot& snapshot) const {
  const std::string model = "model=\"" + model_name + "\"";
  std::string out;
  out += "# HELP linreg_serve_requests_total HTTP requests answered, by status code.\n";
  out += "# TYPE linreg_serve_requests_total counter\n";
  for (size_t s = 0; s < kStatuses.size(); ++s) {
    const std::string code = kStatuses[s] ? std::to_string(kStatuses[s]) : "other";
    out += "linreg_serve_requests_total{code=\"" + code + "\"} " +
           std::to_string(by_status_[s].load()) + "\n";
  }
  out += "# HELP linreg_serve_request_duration_seconds From request header to response ready.\n";
  out += "# TYPE linreg_serve_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= kBuckets.size(); ++b) {
    cumulative += latency_[b].load();
    const std::string le = b < kBuckets.size() ? number(kBuckets[b]) : "+Inf";
    out += "linreg_serve_request_duration_seconds_bucket{le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out +=
      "linreg_serve_request_duration_seconds_sum " + number(latency_sum_ns_.load() * 1e-9) + "\n";
  out += "linreg_serve_request_duration_seconds_count " + std::to_string(cumulative) + "\n";
  out += "# HELP linreg_serve_instances_total Instances (rows) predicted.\n";
  out += "# TYPE linreg_serve_instances_total counter\n";
  out += "linreg_serve_instances_total{" + model + "} " + std::to_string(instances_.load()) + "\n";
  out += "# HELP linreg_serve_connections_refused_total Connections over --max_connections.\n";
  out += "# TYPE linreg_serve_connections_refused_total counter\n";
  out += "linreg_serve_connections_refused_total " + std::to_string(refused_.load()) + "\n";
  int64_t served = -1;
  snapshot.latest(&served);
  out +=
      "# HELP linreg_serve_model_version The version answering unversioned requests (-1: none).\n";
  out += "# TYPE linreg_serve_model_version gauge\n";
  out += "linreg_serve_model_version{" + model + "} " + std::to_string(served) + "\n";
  out +=
      "# HELP linreg_serve_model_version_loaded 1 for each version loaded, 0 for one that "
      "failed.\n";
  out += "# TYPE linreg_serve_model_version_loaded gauge\n";
  for (const auto& [version, state] : snapshot.versions) {
    out += "linreg_serve_model_version_loaded{" + model + ",version=\"" + std::to_string(version) +
           "\"} " + (state.model ? "1" : "0") + "\n";
  }
  return out;
}

}  // namespace linreg_serve
