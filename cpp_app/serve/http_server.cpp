// Boost.Beast sessions for linreg_serve (see http_server.h). Each connection is a chain of async
// operations on one thread's io_context: read header (header timeout) -> read body (read timeout,
// body limit) -> Api::handle on this thread -> write (read timeout) -> next request or close.
// The only shared state is three counters; the model versions live in the registry.
#include "http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace linreg_serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kHeaderLimit = 16 * 1024;
// After a response that closes the connection, read and drop what the client still sends (the
// rest of a refused body) for this long, so that closing does not reset the connection before
// the client has read the response.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 64 << 20;

struct Shared {
  const ServerOptions& options;
  const Api& api;
  Metrics& metrics;
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};  // requests from header received to response written
  std::atomic<bool> draining{false};
};

bool is_http_parse_error(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {
    shared_.connections.fetch_add(1);
  }
  ~Session() {
    finish_request();
    shared_.connections.fetch_sub(1);
  }

  void start() {
    net::dispatch(
        stream_.get_executor(),
        beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    if (shared_.draining) {
      return linger_close();
    }
    parser_.emplace();
    parser_->body_limit(shared_.options.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(shared_.options.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      return reply(too_large(), false);
    }
    if (ec == http::error::header_limit) {
      return reply(error_response(431, "request header over 16 KiB"), false);
    }
    if (ec && is_http_parse_error(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return reply(error_response(400, "malformed HTTP request: " + ec.message()), false);
    }
    if (ec) {  // closed, timed out (idle or stalled), or reset: nobody to answer
      return;
    }
    begin_request();
    const auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      stream_.expires_after(shared_.options.read_timeout);
      return http::async_write(
          stream_, *go_on, [self = shared_from_this(), go_on](beast::error_code ec, std::size_t) {
            if (!ec) {
              self->read_body();
            }
          });
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(shared_.options.read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      return reply(too_large(), false);
    }
    if (ec && is_http_parse_error(ec) && ec != http::error::partial_message) {
      return reply(error_response(400, "malformed HTTP request: " + ec.message()), false);
    }
    if (ec) {  // the client stalled or left mid-body
      return;
    }
    const auto& req = parser_->get();
    Response response = shared_.api.handle(req.method_string(), req.target(), req.body());
    reply(std::move(response), req.keep_alive() && !shared_.draining, req.version());
  }

  Response too_large() const {
    return error_response(
        413, "request body over --max_body_bytes (" +
                 std::to_string(shared_.options.max_body_bytes) + " bytes)");
  }

  void reply(Response response, bool keep_alive, unsigned version = 11) {
    begin_request();
    // Recorded before the write, so a client that has its response also finds it in the metrics.
    const std::chrono::duration<double> took = Clock::now() - started_;
    shared_.metrics.record(response.status, took.count(), response.instances);
    res_.emplace(static_cast<http::status>(response.status), version);
    res_->set(http::field::server, "linreg_serve");
    res_->set(http::field::content_type, response.content_type);
    if (response.allow) {
      res_->set(http::field::allow, response.allow);
    }
    res_->body() = std::move(response.body);
    res_->keep_alive(keep_alive);
    res_->prepare_payload();
    stream_.expires_after(shared_.options.read_timeout);
    http::async_write(
        stream_, *res_,
        beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_alive));
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    finish_request();
    res_.reset();
    if (ec) {
      return;
    }
    if (!keep_alive) {
      return linger_close();
    }
    read_header();
  }

  void begin_request() {
    if (!in_flight_) {
      in_flight_ = true;
      started_ = Clock::now();
      shared_.in_flight.fetch_add(1);
    }
  }

  void finish_request() {
    if (in_flight_) {
      in_flight_ = false;
      shared_.in_flight.fetch_sub(1);
    }
  }

  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
      stream_.expires_after(kLingerTime);
      discard();
    }
  }

  void discard() {
    stream_.async_read_some(
        net::buffer(linger_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (!ec && self->lingered_ < kLingerBytes) {
            self->discard();
          }
        });
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool in_flight_ = false;
  Clock::time_point started_;
  std::array<char, 4096> linger_buffer_;
  size_t lingered_ = 0;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(const std::vector<std::unique_ptr<net::io_context>>& contexts, Shared& shared)
      : contexts_(contexts), shared_(shared), acceptor_(*contexts[0]), retry_(*contexts[0]) {}

  std::string bind(const std::string& host, int port) {
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) {
      throw std::runtime_error("--host: '" + host + "' is not an IP address");
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    const std::string where = host + ":" + std::to_string(port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
    }
    const tcp::endpoint bound = acceptor_.local_endpoint();
    const std::string ip = bound.address().to_string();
    return (bound.address().is_v6() ? "[" + ip + "]" : ip) + ":" + std::to_string(bound.port());
  }

  void accept() {
    // Connections go round-robin to the threads' own io_contexts, and stay there.
    net::io_context& next = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(
        next, beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_.cancel();
    });
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) {
      return;
    }
    if (ec) {  // e.g. out of file descriptors: try again shortly rather than spin
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) {
          self->accept();
        }
      });
      return;
    }
    if (shared_.connections.load() >= shared_.options.max_connections) {
      refuse(socket);
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), shared_)->start();
    }
    accept();
  }

  // Over --max_connections: a canned 503 if the socket takes it at once, then close.
  void refuse(tcp::socket& socket) {
    static const std::string body =
        "{\"error\": \"too many connections (over --max_connections); try again\"}";
    static const std::string response =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    beast::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(response), ec);
    socket.close(ec);
    shared_.metrics.connection_refused();
  }

  const std::vector<std::unique_ptr<net::io_context>>& contexts_;
  size_t next_ = 0;
  Shared& shared_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
};

}  // namespace

// One io_context per thread, each run by that thread alone: a connection's handlers never hop
// threads, and no thread wakes another to hand work over (what a shared io_context costs per
// request). The first context also runs the acceptor and the signal handling.
struct HttpServer::Impl {
  Impl(const ServerOptions& options, const Api& api, Metrics& metrics)
      : shared{options, api, metrics} {
    for (int i = 0; i < options.threads; ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
    }
  }
  void stop() {
    for (auto& context : contexts) {
      context->stop();
    }
  }
  Shared shared;  // before the contexts: it outlives the sessions their destructors free
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::shared_ptr<Listener> listener;
};

HttpServer::HttpServer(const ServerOptions& options, const Api& api, Metrics& metrics)
    : impl_(std::make_unique<Impl>(options, api, metrics)) {}

HttpServer::~HttpServer() = default;

std::string HttpServer::bind() {
  impl_->listener = std::make_shared<Listener>(impl_->contexts, impl_->shared);
  return impl_->listener->bind(impl_->shared.options.host, impl_->shared.options.port);
}

void HttpServer::run() {
  Shared& shared = impl_->shared;
  net::io_context& ioc = *impl_->contexts[0];
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer drain_timer(ioc);
  Clock::time_point deadline;
  // Polls the in-flight count every 5 ms until it is zero or the drain time is up.
  std::function<void()> check_drained = [&] {
    const int left = shared.in_flight.load();
    if (left == 0 || Clock::now() >= deadline) {
      if (left) {
        std::cerr << "linreg_serve: drain timed out with " << left << " requests in flight\n";
      }
      impl_->stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(5));
    drain_timer.async_wait([&](beast::error_code ec) {
      if (!ec) {
        check_drained();
      }
    });
  };
  signals.async_wait([&](beast::error_code ec, int signo) {
    if (ec) {
      return;
    }
    std::cerr << "linreg_serve: " << (signo == SIGTERM ? "SIGTERM" : "SIGINT")
              << ": not accepting; finishing " << shared.in_flight.load()
              << " in-flight requests\n";
    shared.draining = true;
    impl_->listener->stop();
    deadline = Clock::now() + shared.options.drain_timeout;
    signals.async_wait([&](beast::error_code ec, int) {
      if (!ec) {
        std::cerr << "linreg_serve: second signal: stopping now\n";
        impl_->stop();
      }
    });
    check_drained();
  });
  impl_->listener->accept();
  std::vector<net::executor_work_guard<net::io_context::executor_type>> busy;
  std::vector<std::thread> threads;
  for (auto& context : impl_->contexts) {
    busy.push_back(net::make_work_guard(*context));  // idle contexts wait for connections
    if (context != impl_->contexts[0]) {
      threads.emplace_back([&context] { context->run(); });
    }
  }
  ioc.run();
  for (auto& thread : threads) {
    thread.join();
  }
}

}  // namespace linreg_serve
