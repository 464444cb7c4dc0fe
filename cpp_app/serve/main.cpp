// linreg_serve: TensorFlow Serving's REST API for linreg_ext models, in C++ with no Python.
//
//   linreg_serve --model_base_path DIR [--port 8501]    version folders DIR/1/model.pt, ...
//   linreg_serve --model FILE --port 0                  one file; prints the bound address
//
//   curl -d '{"instances": [4.0]}' http://127.0.0.1:8501/v1/models/linreg:predict
#include <iostream>
#include <string>

#include "api.h"
#include "http_server.h"
#include "metrics.h"
#include "registry.h"
#include "serve_options.h"

using linreg_serve::ServeOptions;
using linreg_serve::UsageError;

int main(int argc, char** argv) {
  ServeOptions opt;
  try {
    opt = linreg_serve::parse_serve_args(argc, argv);
  } catch (const UsageError& e) {
    if (*e.what()) {
      std::cerr << "linreg_serve: " << e.what() << "\n";
    }
    std::cerr << linreg_serve::kUsage;
    return 2;
  }
  try {
    if (const std::string problem = linreg_serve::device_problem(opt.registry.device);
        !problem.empty()) {
      throw std::runtime_error(problem);
    }
    linreg_serve::configure_torch_for_serving();
    linreg_serve::ModelRegistry registry(opt.registry);
    linreg_serve::Metrics metrics;
    const linreg_serve::Api api(registry, metrics);
    linreg_serve::HttpServer server(opt.server, api, metrics);
    const std::string address = server.bind();  // a bad --host or a busy port fails before loading
    registry.start();  // what is there now is loaded and checked before the first request
    std::cout << "listening on http://" << address << std::endl;  // tests read this line
    server.run();
    registry.stop();
    std::cerr << "linreg_serve: stopped\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "linreg_serve: " << e.what() << "\n";
  }
  return 1;
}
