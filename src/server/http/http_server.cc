// The only file that includes Beast and Asio (they are slow to compile).
//
// Shape (docs/adr/0011-http-server.md): one io thread runs the acceptor, the
// watchdog timer and the 503 answers; each accepted connection gets a thread
// that reads, calls the handler and writes synchronously. The watchdog and
// Stop() end a connection by shutting its socket down (which wakes a thread
// blocked in recv or send), only while that thread is not in the handler.
#include "server/http/http_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <exception>
#include <future>
#include <list>
#include <system_error>
#include <thread>

#include "common/json/writer.h"
#include "common/mutex.h"

namespace iomt::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

std::optional<std::string_view> HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return std::optional<std::string_view>(value);
  return std::nullopt;
}

std::string HttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return {buf, n};
}

HttpResponse JsonBody(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse JsonError(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = R"({"error":{"code":)";
  json::AppendQuoted(&r.body, code);
  r.body.append(R"(,"message":)");
  json::AppendQuoted(&r.body, message);
  r.body.append("}}");
  return r;
}

namespace {

constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// After a refused request, what the server reads and drops at most before
// it closes: what a client that sends its whole body before it reads the
// answer (as many simple clients do) sends for the bodies one meets in
// practice. Beyond it (or linger_ms), the close may reset the connection.
constexpr std::size_t kLingerBytes = std::size_t{64} << 20;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A socket that records when bytes last moved, so that the watchdog can tell
// a silent peer from a slow but live upload or download.
class TrackedSocket {
 public:
  TrackedSocket(tcp::socket& socket, std::atomic<std::int64_t>& last_activity_ns)
      : socket_(socket), last_activity_ns_(last_activity_ns) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, ErrorCode& ec) {  // NOLINT(readability-identifier-naming)
    return Moved(socket_.read_some(buffers, ec));
  }
  // Beast's stream concepts ask for the throwing overloads too; only the
  // ErrorCode ones are called.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    return OrThrow([&](ErrorCode& ec) { return read_some(buffers, ec); });
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, ErrorCode& ec) {
    return Moved(socket_.write_some(buffers, ec));
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    return OrThrow([&](ErrorCode& ec) { return write_some(buffers, ec); });
  }

 private:
  // Records that bytes moved (or that the socket was used): `n`, passed on.
  std::size_t Moved(std::size_t n) {
    last_activity_ns_.store(NowNs(), std::memory_order_relaxed);
    return n;
  }
  // `op(ec)`, with an error thrown rather than set.
  template <class Op>
  static std::size_t OrThrow(const Op& op) {
    ErrorCode ec;
    std::size_t n = op(ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  tcp::socket& socket_;
  std::atomic<std::int64_t>& last_activity_ns_;
};

// What a connection's thread is doing, as far as ending it goes: kWaiting
// (for a request or within one: Stop() and the watchdog may end it),
// kHandling (the handler runs: nothing ends it), kWriting (an answer goes
// out: only the watchdog ends it, when the peer stops reading).
enum class Phase : std::uint8_t { kWaiting, kHandling, kWriting };

struct Connection {
  Mutex mu;
  int fd IOMT_GUARDED_BY(mu) = -1;
  Phase phase IOMT_GUARDED_BY(mu) = Phase::kWaiting;
  // The socket was shut down (or is being closed): fd is not to be used.
  bool shut IOMT_GUARDED_BY(mu) = false;
  std::atomic<std::int64_t> last_activity_ns{0};
  std::atomic<bool> done{false};
  std::thread thread;
};

bool IsParseError(const ErrorCode& ec) {
  static const auto& category = http::make_error_code(http::error::bad_method).category();
  return ec.category() == category && ec != http::error::end_of_stream && ec != http::error::partial_message;
}

HttpResponse ParseErrorResponse(const ErrorCode& ec, std::size_t max_body_bytes) {
  if (ec == http::error::body_limit) {
    return JsonError(413, "PayloadTooLarge",
                     "The request body is larger than the server's limit of " + std::to_string(max_body_bytes) +
                         " bytes; send it in smaller requests.");
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return JsonError(431, "RequestHeaderFieldsTooLarge", "The request's header is larger than 64 KiB.");
  }
  return JsonError(400, "BadRequest", "Malformed HTTP request: " + ec.message() + ".");
}

std::string PeerOf(const tcp::socket& socket) {
  ErrorCode ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "";
  std::string address = ep.address().to_string();
  if (ep.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(ep.port());
}

HttpRequest ToRequest(http::request<http::string_body>&& message, bool head) {
  HttpRequest r;
  const auto method = message.method_string();
  r.method = head ? std::string("GET") : std::string(method.data(), method.size());
  r.target.assign(message.target().data(), message.target().size());
  std::size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.headers.reserve(16);
  for (const auto& field : message) {
    std::string name(field.name_string().data(), field.name_string().size());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r.headers.emplace_back(std::move(name), std::string(field.value().data(), field.value().size()));
  }
  r.body = std::move(message.body());
  return r;
}

// A connection beyond max_connections, after its 503: read and dropped
// until the peer closes or a second has passed, then closed.
struct Rejected : std::enable_shared_from_this<Rejected> {
  explicit Rejected(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  void Start() {
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      ErrorCode ignored;
      if (!ec) self->socket.close(ignored);
    });
    Drain();
  }
  void Drain() {
    socket.async_read_some(asio::buffer(scratch), [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
      if (!ec) return self->Drain();
      self->timer.cancel();
      ErrorCode ignored;
      self->socket.close(ignored);
    });
  }
  tcp::socket socket;
  asio::steady_timer timer;
  std::array<char, 4096> scratch{};
};

HttpResponse CallHandler(const HttpHandler& handler, const HttpRequest& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    return JsonError(500, "InternalError", std::string("The request failed: ") + e.what());
  } catch (...) {
    return JsonError(500, "InternalError", "The request failed.");
  }
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer watchdog{io};
  asio::steady_timer accept_retry{io};
  std::thread io_thread;
  int port = 0;
  std::string busy_answer;  // the 503 for connections beyond max_connections

  Mutex mu;  // guards connections; taken before a Connection's mu when both are held
  std::list<std::shared_ptr<Connection>> connections IOMT_GUARDED_BY(mu);
  std::atomic<bool> stopping{false};
  Mutex stop_mu;
  bool stopped IOMT_GUARDED_BY(stop_mu) = false;

  void Accept();
  void Launch(tcp::socket socket);
  void Reject(tcp::socket socket);
  void Watch();
  void Serve(Connection& c, tcp::socket& socket);
  // Moves the connection to `phase`; false when it is to end instead.
  bool Enter(Connection& c, Phase phase);
  // Answers `response` to a request that was not read whole (a protocol
  // error: 413, 431, 400), then ends the connection without a reset (see
  // Linger()).
  void AnswerAndLinger(Connection& c, TrackedSocket& stream, tcp::socket& socket, HttpResponse response,
                       unsigned version);
  // Reads and drops what the peer still sends until it closes, or
  // kLingerBytes (max_body_bytes when larger) have come, or linger_ms have
  // passed.
  void Linger(Connection& c, tcp::socket& socket) const;
  static void Write(TrackedSocket& stream, HttpResponse response, unsigned version, bool head, bool keep_alive,
                    ErrorCode& ec);
  void StopNow();
};

bool HttpServer::Impl::Enter(Connection& c, Phase phase) {
  MutexLock lock(c.mu);
  if (c.shut) return false;
  if (phase == Phase::kWaiting && stopping.load()) return false;
  c.phase = phase;
  c.last_activity_ns.store(NowNs(), std::memory_order_relaxed);
  return true;
}

void HttpServer::Impl::Write(TrackedSocket& stream, HttpResponse response, unsigned version, bool head, bool keep_alive,
                             ErrorCode& ec) {
  http::response<http::string_body> r;
  r.version(version);
  if (response.status < 100 || response.status > 599) {
    response = JsonError(500, "InternalError", "The handler answered an invalid HTTP status.");
  }
  r.result(static_cast<unsigned>(response.status));
  r.set(http::field::date, HttpDate(std::time(nullptr)));
  if (!response.content_type.empty()) r.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) {
    // Framing is this layer's: a handler's own would contradict it.
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
        beast::iequals(name, "connection")) {
      continue;
    }
    r.insert(name, value);
  }
  const bool no_body = response.status < 200 || response.status == 204 || response.status == 304;
  if (!no_body) r.body() = std::move(response.body);
  r.keep_alive(keep_alive);
  r.prepare_payload();
  if (head) {
    http::response_serializer<http::string_body> serializer{r};
    http::write_header(stream, serializer, ec);
  } else {
    http::write(stream, r, ec);
  }
}

void HttpServer::Impl::AnswerAndLinger(Connection& c, TrackedSocket& stream, tcp::socket& socket, HttpResponse response,
                                       unsigned version) {
  // The peer may still be sending the body (it did not wait for `100
  // Continue`, or sends chunks). Closing a socket with unread bytes in it,
  // or that receives more, makes the kernel answer them with a reset, and a
  // client that is still writing then fails on its write and never reads
  // the answer (curl: "Send failure", Node: EPIPE). So: the answer (small:
  // it fits in the socket buffer even when the peer does not read yet), a
  // FIN after it (the peer reads the answer, then end of stream: clients
  // stop sending and close), and the socket is read until the peer's close.
  if (!Enter(c, Phase::kWriting)) return;
  ErrorCode ec;
  Write(stream, std::move(response), version, false, false, ec);
  if (ec) return;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (!Enter(c, Phase::kWaiting)) return;  // Stop() and the watchdog may end the lingering
  Linger(c, socket);
}

void HttpServer::Impl::Linger(Connection& c, tcp::socket& socket) const {
  // Plain poll and recv: Asio's blocking reads have no deadline. Only this
  // thread reads the descriptor; a shutdown by Stop() or the watchdog ends
  // the wait (recv returns 0). Bytes are dropped into one small buffer,
  // never kept.
  const int fd = socket.native_handle();
  const std::size_t bound = std::max(kLingerBytes, options.max_body_bytes) + kHeaderLimit;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.linger_ms);
  std::array<char, std::size_t{64} * 1024> scratch{};
  for (std::size_t drained = 0; drained < bound;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready == 0) return;  // the deadline
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const ssize_t n = ::recv(fd, scratch.data(), std::min(scratch.size(), bound - drained), MSG_DONTWAIT);
    if (n == 0) return;  // the peer closed (or the socket was shut down): a clean close now
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return;
    }
    drained += static_cast<std::size_t>(n);
    c.last_activity_ns.store(NowNs(), std::memory_order_relaxed);
  }
}

void HttpServer::Impl::Serve(Connection& c, tcp::socket& socket) {
  const std::string peer = PeerOf(socket);
  TrackedSocket stream(socket, c.last_activity_ns);
  beast::flat_buffer buffer;
  for (;;) {
    if (!Enter(c, Phase::kWaiting)) return;
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(static_cast<std::uint64_t>(options.max_body_bytes));
    ErrorCode ec;
    http::read_header(stream, buffer, parser, ec);
    if (ec) {
      if (IsParseError(ec)) AnswerAndLinger(c, stream, socket, ParseErrorResponse(ec, options.max_body_bytes), 11);
      return;
    }
    // The limit of this request's target (known once its header is read).
    std::size_t max_body = options.max_body_bytes;
    if (options.body_limit) {
      const auto target = parser.get().target();
      max_body = options.body_limit(std::string_view(target.data(), target.size()));
      parser.body_limit(static_cast<std::uint64_t>(max_body));
    }
    const unsigned version = parser.get().version() == 10 ? 10 : 11;
    const auto length = parser.content_length();
    if (length && *length > max_body) {
      // Refused on the header alone: with `Expect: 100-continue` the peer
      // has not sent the body yet and, without the `100`, does not.
      AnswerAndLinger(c, stream, socket, ParseErrorResponse(http::error::body_limit, max_body), version);
      return;
    }
    const bool has_body = parser.chunked() || (length && *length > 0);
    if (has_body && version == 11 && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::write(stream, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) return;
    }
    http::read(stream, buffer, parser, ec);
    if (ec) {
      // A chunked body over the limit ends here as soon as a chunk's size
      // would pass it: the parser stops before that chunk's data.
      if (IsParseError(ec)) {
        AnswerAndLinger(c, stream, socket, ParseErrorResponse(ec, max_body), version);
      }
      return;
    }
    const bool head = parser.get().method() == http::verb::head;
    bool keep_alive = parser.get().keep_alive();
    HttpRequest request = ToRequest(parser.release(), head);
    request.peer = peer;
    request.received = std::chrono::steady_clock::now();
    if (!Enter(c, Phase::kHandling)) return;
    HttpResponse response = CallHandler(handler, request);
    if (!Enter(c, Phase::kWriting)) return;
    keep_alive = keep_alive && !stopping.load();
    Write(stream, std::move(response), version, head, keep_alive, ec);
    if (ec || !keep_alive) return;
  }
}

void HttpServer::Impl::Launch(tcp::socket socket) {
  auto c = std::make_shared<Connection>();
  {
    MutexLock lock(c->mu);
    c->fd = socket.native_handle();
  }
  c->last_activity_ns.store(NowNs());
  {
    MutexLock lock(mu);
    connections.push_back(c);
  }
  try {
    c->thread = std::thread([this, c, s = std::move(socket)]() mutable {
      try {
        Serve(*c, s);
      } catch (...) {  // NOLINT(bugprone-empty-catch): a connection's failure ends that connection only
      }
      {
        MutexLock lock(c->mu);
        c->shut = true;  // from now on nobody else touches the fd
      }
      ErrorCode ec;
      s.shutdown(tcp::socket::shutdown_both, ec);
      s.close(ec);
      c->done.store(true);
    });
  } catch (const std::system_error&) {
    // No thread to be had: the socket (moved into the lambda) is closed.
    MutexLock lock(mu);
    connections.remove(c);
  }
}

void HttpServer::Impl::Reject(tcp::socket socket) {
  // The 503 is small enough for any socket buffer: one non-blocking write.
  // Then the peer gets a moment to read it before the close.
  ErrorCode ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(busy_answer), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::make_shared<Rejected>(std::move(socket))->Start();
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept([this](const ErrorCode& ec, tcp::socket socket) {
    if (stopping.load() || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors, say: try again shortly rather than spin.
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](const ErrorCode& e) {
        if (!e) Accept();
      });
      return;
    }
    // Answers go out at once: without this, Nagle's algorithm holds a
    // response's last segment back until the peer's delayed ACK (40 ms),
    // which clients that send the next request only after the answer (the
    // remote FHIR client, latency probes) pay on every request.
    ErrorCode nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    std::size_t active = 0;
    {
      MutexLock lock(mu);
      for (auto it = connections.begin(); it != connections.end();) {
        if ((*it)->done.load()) {
          if ((*it)->thread.joinable()) (*it)->thread.join();
          it = connections.erase(it);
        } else {
          ++it;
        }
      }
      active = connections.size();
    }
    if (active >= options.max_connections) {
      Reject(std::move(socket));
    } else {
      Launch(std::move(socket));
    }
    Accept();
  });
}

void HttpServer::Impl::Watch() {
  const auto period = std::chrono::milliseconds(std::clamp(options.idle_timeout_ms / 4, 10, 1000));
  watchdog.expires_after(period);
  watchdog.async_wait([this](const ErrorCode& ec) {
    if (ec) return;
    const std::int64_t limit = NowNs() - std::int64_t{options.idle_timeout_ms} * 1'000'000;
    {
      MutexLock lock(mu);
      for (const auto& c : connections) {
        MutexLock conn_lock(c->mu);
        if (c->shut || c->phase == Phase::kHandling) continue;
        if (c->last_activity_ns.load(std::memory_order_relaxed) < limit) {
          ::shutdown(c->fd, SHUT_RDWR);
          c->shut = true;
        }
      }
    }
    Watch();
  });
}

void HttpServer::Impl::StopNow() {
  {
    MutexLock lock(stop_mu);
    if (stopped) return;
    stopped = true;
  }
  stopping.store(true);
  if (io_thread.joinable()) {
    // Close the acceptor on its own thread; once that has run, no
    // connection is launched any more.
    std::promise<void> closed;
    asio::post(io, [this, &closed] {
      ErrorCode ec;
      acceptor.close(ec);
      accept_retry.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
  }
  std::vector<std::shared_ptr<Connection>> all;
  {
    MutexLock lock(mu);
    all.assign(connections.begin(), connections.end());
  }
  for (const auto& c : all) {
    MutexLock conn_lock(c->mu);
    if (!c->shut && c->phase == Phase::kWaiting) {
      ::shutdown(c->fd, SHUT_RDWR);
      c->shut = true;
    }
  }
  // The watchdog keeps running meanwhile: a peer that does not read its
  // answer cannot hold Stop() up for longer than the idle timeout.
  for (const auto& c : all)
    if (c->thread.joinable()) c->thread.join();
  {
    MutexLock lock(mu);
    connections.clear();
  }
  io.stop();
  if (io_thread.joinable()) io_thread.join();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("The port " + std::to_string(options.port) + " is not in 0..65535.");
  }
  if (!handler) return InvalidArgument("The HTTP server needs a handler.");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->options.max_connections = std::max<std::size_t>(1, options.max_connections);
  impl->options.idle_timeout_ms = std::max(1, options.idle_timeout_ms);
  impl->options.linger_ms = std::max(0, options.linger_ms);
  impl->handler = std::move(handler);
  HttpResponse busy = JsonError(503, "ServiceUnavailable", "The server has too many connections; try again later.");
  impl->busy_answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(busy.body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + busy.body;

  ErrorCode ec;
  const std::string where = options.host + ":" + std::to_string(options.port);
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(options.port));
  } else {
    // A host name ("localhost"): its first address.
    tcp::resolver resolver(impl->io);
    auto found = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || found.empty()) {
      return InvalidArgument("The host \"" + options.host + "\" is not an address that resolves" +
                             (ec ? " (" + ec.message() + ")" : std::string()) + ".");
    }
    endpoint = found.begin()->endpoint();
  }
  tcp::acceptor& acceptor = impl->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return Unavailable("Cannot listen on " + where + ": " + ec.message() + ".");
  }
  // Lets a restarted server bind while old connections sit in TIME_WAIT
  // (on Linux it does not allow two listeners on one port).
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) return Unavailable("Cannot bind " + where + ": " + ec.message() + ".");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Unavailable("Cannot listen on " + where + ": " + ec.message() + ".");
  }
  impl->port = acceptor.local_endpoint(ec).port();
  impl->Accept();
  impl->Watch();
  Impl* raw = impl.get();
  try {
    impl->io_thread = std::thread([raw] {
      try {
        raw->io.run();
      } catch (...) {  // NOLINT(bugprone-empty-catch): handlers catch their own; nothing may escape a thread
      }
    });
  } catch (const std::system_error& e) {
    return Unavailable(std::string("Cannot start the HTTP server's thread: ") + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() { impl_->StopNow(); }

}  // namespace iomt::server
