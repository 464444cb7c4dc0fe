// Command-line options of linreg_serve (TensorFlow Serving's names where it has one), and usage.
#pragma once

#include <stdexcept>
#include <string>

#include "http_server.h"
#include "registry.h"

namespace linreg_serve {

inline constexpr const char* kUsage =
    "usage: linreg_serve (--model_base_path DIR | --model FILE) [options]\n"
    "  --model_base_path DIR   version folders DIR/1/model.pt, DIR/2/model.pt2, ...; the highest\n"
    "                          loaded version is served, new ones are picked up while serving\n"
    "  --model FILE            serve one model file as version 1\n"
    "  --model_name NAME       the NAME in /v1/models/NAME (default linreg)\n"
    "  --host ADDR             address to bind (default 127.0.0.1)\n"
    "  --port N                port (default 8501; 0 picks a free one); the bound address is the\n"
    "                          first line on stdout\n"
    "  --threads N             server threads (default: the number of cores)\n"
    "  --device cpu|cuda       where the model runs (default cpu)\n"
    "  --file_system_poll_wait_seconds S  poll period for new versions (default 1; 0: once)\n"
    "  --max_body_bytes N      larger request bodies get 413 (default 16777216)\n"
    "  --max_connections N     connections over this are closed at once (default 1024)\n"
    "  --header_timeout_seconds S  to receive a request's header, idle keep-alive included\n"
    "                          (default 10)\n"
    "  --read_timeout_seconds S    to receive a body, and to send a response (default 30)\n"
    "  --drain_timeout_seconds S   on SIGTERM/SIGINT, the longest wait for in-flight requests\n"
    "                          (default 10)\n"
    "Options take a value as --name VALUE or --name=VALUE.\n";

struct ServeOptions {
  RegistryOptions registry;
  ServerOptions server;
};

// A bad command line; an empty message means "just print the usage" (-h, --help).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

ServeOptions parse_serve_args(int argc, char** argv);

}  // namespace linreg_serve
