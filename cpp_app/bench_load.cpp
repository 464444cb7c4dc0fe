// linreg_bench_load MODEL: what a C++ program pays for a model file, printed as one JSON line —
// load time (load_model: the first load in the process, and the median of 15 more), per-call
// latency of Model::predict at N = 1 and 1000 (median over many calls), and achieved bandwidth
// at N = 10^6 (bytes of X and predictions over the median time). Used by bench/bench_deploy.py,
// which checks the files' predictions first.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "model.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

template <typename F>
double median_seconds(int reps, F&& f) {
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: linreg_bench_load MODEL\n";
    return 2;
  }
  try {
    const std::string path = argv[1];
    const double first_load_s = median_seconds(1, [&] { linreg_app::load_model(path); });
    const double load_s = median_seconds(15, [&] { linreg_app::load_model(path); });
    const auto model = linreg_app::load_model(path);
    const auto& meta = model->metadata();
    c10::InferenceMode inference;
    const auto per_call = [&](int64_t N, int reps) {
      const auto X = torch::randn({N, meta.in_features}, torch::dtype(meta.dtype));
      model->predict(X);  // warm-up (correctness: bench_deploy.py compares the files' outputs)
      return median_seconds(reps, [&] { model->predict(X); });
    };
    const double n1 = per_call(1, 2000);
    const double n1000 = per_call(1000, 1000);
    const int64_t big = 1000000;
    const double nbig = per_call(big, 30);
    const double bytes =
        static_cast<double>(big) * (meta.in_features + 1) * c10::elementSize(meta.dtype);
    std::cout << "{\"format\": \"" << model->format()
              << "\", \"first_load_ms\": " << first_load_s * 1e3
              << ", \"load_ms\": " << load_s * 1e3 << ", \"us_n1\": " << n1 * 1e6
              << ", \"us_n1000\": " << n1000 * 1e6 << ", \"gbps_n1e6\": " << bytes / nbig / 1e9
              << "}\n";
  } catch (const std::exception& e) {
    std::cerr << "linreg_bench_load: " << linreg_app::first_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
