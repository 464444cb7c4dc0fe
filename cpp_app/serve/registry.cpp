// Version discovery, loading and the atomic swap (see registry.h). Every load outcome is logged
// on stderr, one line each, and kept in the snapshot for the status endpoint.
#include "registry.h"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <system_error>

namespace linreg_serve {
namespace fs = std::filesystem;

namespace {

struct Found {
  std::string path;
  int64_t mtime_ns = 0;
  int64_t size = 0;
};

Found describe(const fs::path& file) {
  std::error_code ec;
  Found found{file.string(), 0, 0};
  const auto mtime = fs::last_write_time(file, ec);
  if (!ec) {
    found.mtime_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
  }
  const auto size = fs::file_size(file, ec);
  found.size = ec ? -1 : static_cast<int64_t>(size);
  return found;
}

// Version folders: names that are all digits. Each holds model.pt (TorchScript) or model.pt2.
std::map<int64_t, Found> list_versions(const std::string& base_path) {
  std::map<int64_t, Found> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base_path, ec)) {
    const std::string name = entry.path().filename().string();
    int64_t version = -1;
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), version);
    if (err != std::errc() || end != name.data() + name.size() || version < 0 ||
        !entry.is_directory(ec)) {
      continue;
    }
    fs::path file = entry.path() / "model.pt";
    if (!fs::exists(file, ec) && fs::exists(entry.path() / "model.pt2", ec)) {
      file = entry.path() / "model.pt2";
    }
    versions[version] = describe(file);
  }
  return versions;
}

}  // namespace

const VersionState* Snapshot::latest(int64_t* version) const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->second.model) {
      *version = it->first;
      return &it->second;
    }
  }
  *version = -1;
  return nullptr;
}

ModelRegistry::ModelRegistry(RegistryOptions options)
    : options_(std::move(options)), current_(std::make_shared<const Snapshot>()) {}

ModelRegistry::~ModelRegistry() {
  stop();
}

void ModelRegistry::start() {
  if (!options_.model_file.empty() && !fs::is_regular_file(options_.model_file)) {
    throw std::runtime_error("--model: '" + options_.model_file + "' is not a file");
  }
  if (options_.model_file.empty() && !fs::is_directory(options_.base_path)) {
    throw std::runtime_error("--model_base_path: '" + options_.base_path + "' is not a directory");
  }
  scan();
  if (options_.model_file.empty() && options_.poll_seconds > 0) {
    poller_ = std::thread([this] { poll_loop(); });
  }
}

void ModelRegistry::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) {
    poller_.join();
  }
}

void ModelRegistry::poll_loop() {
  const auto period = std::chrono::duration<double>(options_.poll_seconds);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
    lock.unlock();
    try {
      scan();
    } catch (const std::exception& e) {  // e.g. the base path vanished: keep serving what we have
      std::cerr << "linreg_serve: polling " << options_.base_path << ": " << e.what() << "\n";
    }
    lock.lock();
  }
}

void ModelRegistry::scan() {
  std::map<int64_t, Found> found;
  if (options_.model_file.empty()) {
    found = list_versions(options_.base_path);
  } else {
    found[1] = describe(options_.model_file);
  }
  const std::shared_ptr<const Snapshot> old = current_.load();
  auto next = std::make_shared<Snapshot>();
  bool changed = false;
  for (const auto& [version, file] : found) {
    const auto it = old->versions.find(version);
    if (it != old->versions.end() && it->second.path == file.path &&
        it->second.mtime_ns == file.mtime_ns && it->second.size == file.size) {
      next->versions[version] = it->second;  // unchanged: keep it, loaded or failed
      continue;
    }
    changed = true;
    VersionState state{nullptr, "", file.path, file.mtime_ns, file.size};
    try {
      state.model = ServedModel::load(file.path, options_.device);
      std::cerr << "linreg_serve: loaded version " << version << " of '" << options_.model_name
                << "' from " << file.path << "\n";
    } catch (const std::exception& e) {
      state.error = e.what();
      std::cerr << "linreg_serve: version " << version << " of '" << options_.model_name
                << "' is not served: " << state.error << "\n";
    }
    next->versions[version] = std::move(state);
  }
  for (const auto& [version, state] : old->versions) {
    if (!found.count(version)) {
      changed = true;
      std::cerr << "linreg_serve: version " << version << " of '" << options_.model_name
                << "' is gone from " << options_.base_path << "; unloaded\n";
    }
  }
  if (changed) {
    current_.store(std::shared_ptr<const Snapshot>(std::move(next)));
  }
}

}  // namespace linreg_serve
