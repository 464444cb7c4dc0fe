// Boost.Beast sessions for linreg_serve (see http_server.h). Each connection is a chain of async
// operations on one thread's io_context: read header (header timeout) -> the body, parsed from
// what came with the header or read (read timeout, body limit) -> Api::handle on this thread ->
// one gathered write of the whole response (read timeout) -> next request or close. Beast parses
// requests; responses are written here. The only shared state is three counters; the model
// versions live in the registry.
#include "http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
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

// A socket bound to one thread's io_context by type: no type-erased executor on every operation.
using Executor = net::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;

class Session;

// The timeouts of one thread's sessions. Instead of a timer armed and cancelled around every read
// and write (two timer-queue updates and an aborted handler per request), each session keeps a
// deadline, and one timer per thread closes the sockets whose deadline has passed. A timeout thus
// fires up to one sweep period late.
class Deadlines {
 public:
  // `sessions` outlives the io_context, whose destructor may free sessions still waiting.
  Deadlines(
      net::io_context& ioc,
      std::unordered_set<Session*>& sessions,
      std::chrono::milliseconds period)
      : timer_(ioc), period_(period), sessions_(sessions) {}
  void add(Session* s) {
    sessions_.insert(s);
  }
  void remove(Session* s) {
    sessions_.erase(s);
  }
  void start() {
    arm();
  }
  void stop() {
    timer_.cancel();
  }

 private:
  void arm();
  net::steady_timer timer_;
  std::chrono::milliseconds period_;
  std::unordered_set<Session*>& sessions_;
};

// The reason phrase of a status line.
std::string_view reason(int status) {
  const auto text = http::obsolete_reason(static_cast<http::status>(status));
  return {text.data(), text.size()};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket&& socket, Shared& shared, Deadlines& deadlines)
      : socket_(std::move(socket)), shared_(shared), deadlines_(deadlines) {
    shared_.connections.fetch_add(1);
    deadlines_.add(this);
  }
  ~Session() {
    deadlines_.remove(this);
    finish_request();
    shared_.connections.fetch_sub(1);
  }

  void start() {
    net::dispatch(
        socket_.get_executor(),
        beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

  // Called by the thread's sweep: past its deadline, the session's socket is closed, which ends
  // its pending read or write with an error (and so the session).
  void expire_if_due(Clock::time_point now) {
    if (now >= deadline_) {
      beast::error_code ec;
      socket_.close(ec);
    }
  }

 private:
  void expires_after(std::chrono::milliseconds timeout) {
    deadline_ = Clock::now() + timeout;
  }

  void read_header() {
    if (shared_.draining) {
      return linger_close();
    }
    parser_.emplace();
    parser_->body_limit(shared_.options.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    expires_after(shared_.options.header_timeout);
    http::async_read_header(
        socket_, buffer_, *parser_,
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
      static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      expires_after(shared_.options.read_timeout);
      return net::async_write(
          socket_, net::buffer(go_on), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (!ec) {
              self->read_body();
            }
          });
    }
    // A small body usually arrives with its header: parse what is buffered, and read only if
    // more is needed.
    parser_->eager(true);
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) {
        break;
      }
    }
    if (ec || parser_->is_done()) {
      return on_body(ec, 0);
    }
    read_body();
  }

  void read_body() {
    expires_after(shared_.options.read_timeout);
    http::async_read(
        socket_, buffer_, *parser_,
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

  // The whole response, status line to body, in one write (two buffers: head and body).
  void reply(Response response, bool keep_alive, unsigned version = 11) {
    begin_request();
    // Recorded before the write, so a client that has its response also finds it in the metrics.
    const std::chrono::duration<double> took = Clock::now() - started_;
    shared_.metrics.record(response.status, took.count(), response.instances);
    out_.clear();
    out_ += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out_ += std::to_string(response.status);
    out_ += ' ';
    out_ += reason(response.status);
    out_ += "\r\nServer: linreg_serve\r\nContent-Type: ";
    out_ += response.content_type;
    if (response.allow) {
      out_ += "\r\nAllow: ";
      out_ += response.allow;
    }
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(response.body.size());
    if (!keep_alive) {
      out_ += "\r\nConnection: close";
    } else if (version == 10) {
      out_ += "\r\nConnection: keep-alive";
    }
    out_ += "\r\n\r\n";
    body_ = std::move(response.body);
    expires_after(shared_.options.read_timeout);
    net::async_write(
        socket_, std::array<net::const_buffer, 2>{net::buffer(out_), net::buffer(body_)},
        beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_alive));
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    finish_request();
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
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
      expires_after(kLingerTime);
      discard();
    }
  }

  void discard() {
    socket_.async_read_some(
        net::buffer(linger_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (!ec && self->lingered_ < kLingerBytes) {
            self->discard();
          }
        });
  }

  Socket socket_;
  Shared& shared_;
  Deadlines& deadlines_;
  Clock::time_point deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;   // the status line and headers of the response being written
  std::string body_;  // its body
  bool in_flight_ = false;
  Clock::time_point started_;
  std::array<char, 4096> linger_buffer_;
  size_t lingered_ = 0;
};

void Deadlines::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](beast::error_code ec) {
    if (ec) {
      return;
    }
    const auto now = Clock::now();
    // Closing a socket only queues its handlers, so no session leaves the set during the loop.
    for (Session* s : sessions_) {
      s->expire_if_due(now);
    }
    arm();
  });
}

// One thread's io_context and its sessions' deadlines.
struct Worker {
  explicit Worker(std::chrono::milliseconds sweep) : ioc(1), deadlines(ioc, sessions, sweep) {}
  std::unordered_set<Session*> sessions;  // first: destroyed after the io_context
  net::io_context ioc;
  Deadlines deadlines;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(const std::vector<std::unique_ptr<Worker>>& workers, Shared& shared)
      : workers_(workers), shared_(shared), acceptor_(workers[0]->ioc), retry_(workers[0]->ioc) {}

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
    Worker& next = *workers_[next_++ % workers_.size()];
    acceptor_.async_accept(
        next.ioc.get_executor(),
        beast::bind_front_handler(&Listener::on_accept, shared_from_this(), &next));
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_.cancel();
    });
  }

 private:
  void on_accept(Worker* worker, beast::error_code ec, Socket socket) {
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
      std::make_shared<Session>(std::move(socket), shared_, worker->deadlines)->start();
    }
    accept();
  }

  // Over --max_connections: a canned 503 if the socket takes it at once, then close.
  void refuse(Socket& socket) {
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

  const std::vector<std::unique_ptr<Worker>>& workers_;
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
    // Timeouts fire at most an eighth of the shorter timeout late (and every 5 to 100 ms).
    const auto sweep = std::clamp(
        std::min(options.header_timeout, options.read_timeout) / 8, std::chrono::milliseconds(5),
        std::chrono::milliseconds(100));
    for (int i = 0; i < options.threads; ++i) {
      workers.push_back(std::make_unique<Worker>(sweep));
    }
  }
  void stop() {
    for (auto& worker : workers) {
      worker->ioc.stop();
    }
  }
  Shared shared;  // before the workers: it outlives the sessions their destructors free
  std::vector<std::unique_ptr<Worker>> workers;
  std::shared_ptr<Listener> listener;
};

HttpServer::HttpServer(const ServerOptions& options, const Api& api, Metrics& metrics)
    : impl_(std::make_unique<Impl>(options, api, metrics)) {}

HttpServer::~HttpServer() = default;

std::string HttpServer::bind() {
  impl_->listener = std::make_shared<Listener>(impl_->workers, impl_->shared);
  return impl_->listener->bind(impl_->shared.options.host, impl_->shared.options.port);
}

void HttpServer::run() {
  Shared& shared = impl_->shared;
  net::io_context& ioc = impl_->workers[0]->ioc;
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
  std::vector<std::thread> threads;
  for (auto& worker : impl_->workers) {
    worker->deadlines.start();  // keeps an idle context waiting for connections, too
    if (worker != impl_->workers[0]) {
      threads.emplace_back([&worker] { worker->ioc.run(); });
    }
  }
  ioc.run();
  for (auto& thread : threads) {
    thread.join();
  }
}

}  // namespace linreg_serve
