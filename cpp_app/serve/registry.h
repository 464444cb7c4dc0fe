// The model versions linreg_serve holds, TensorFlow Serving style: numeric folders under a base
// path (DIR/1/model.pt, DIR/2/model.pt2), polled for new ones, or one file (--model) as version 1.
// Readers take an immutable Snapshot (one atomic load); the poller builds a new one and swaps it
// in, so a request finishes on the version it started with while the next one sees the new set.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "served_model.h"

namespace linreg_serve {

struct VersionState {
  std::shared_ptr<const ServedModel> model;  // null when the version failed to load or check
  std::string error;                         // why not, when model is null
  std::string path;
  int64_t mtime_ns = 0;  // of the file as loaded: a change triggers a reload
  int64_t size = 0;
};

struct Snapshot {
  std::map<int64_t, VersionState> versions;  // every version found, loaded or not
  // The served version: the highest one that loaded (nullptr, -1 when none did).
  const VersionState* latest(int64_t* version) const;
};

struct RegistryOptions {
  std::string model_name;
  std::string base_path;   // version folders; or
  std::string model_file;  // a single file, served as version 1
  std::string device = "cpu";
  double poll_seconds = 1;  // 0: scan once at start; < 0: never (TensorFlow Serving's meaning)
};

class ModelRegistry {
 public:
  explicit ModelRegistry(RegistryOptions options);
  ~ModelRegistry();

  // Loads what is there now (before the server takes requests), then starts polling.
  // Throws std::runtime_error when the base path or the model file does not exist.
  void start();
  void stop();  // ends polling; bounded by one load in progress

  std::shared_ptr<const Snapshot> snapshot() const {
    return current_.load();
  }
  const std::string& model_name() const {
    return options_.model_name;
  }

 private:
  void scan();  // the only writer: called by start() and then the poller thread only
  void poll_loop();

  RegistryOptions options_;
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  std::thread poller_;
  std::mutex mutex_;  // guards stopping_, for the poller's timed wait
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace linreg_serve
