// The only file that includes Beast, Asio and OpenSSL (they are slow to
// compile).
//
// Shape (docs/adr/0011-http-server.md): one io thread runs the acceptor, the
// watchdog timer and the 503 answers; each accepted connection gets a thread
// that does the TLS handshake (on a TLS port), reads, calls the handler and
// writes synchronously. The watchdog and Stop() end a connection by shutting
// its socket down (which wakes a thread blocked in recv or send), only while
// that thread is not in the handler. The header and body deadlines are the
// connection thread's own: its reads wait in poll() until then.
#include "server/http/http_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <deque>
#include <exception>
#include <fstream>
#include <future>
#include <iterator>
#include <list>
#include <sstream>
#include <system_error>
#include <thread>
#include <type_traits>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/json/writer.h"
#include "common/mutex.h"
#include "server/http/websocket_frame.h"

namespace iomt::server {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
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

// After a refused request, what the server reads and drops at most before
// it closes: what a client that sends its whole body before it reads the
// answer (as many simple clients do) sends for the bodies one meets in
// practice. Beyond it (or linger_ms), the close may reset the connection.
constexpr std::size_t kLingerBytes = std::size_t{64} << 20;
// After a 408 the peer has shown that it is slow or gone: it gets a second
// to read the answer (as a 503 does) rather than linger_ms, so that stalled
// clients do not keep threads.
constexpr int kTimeoutLingerMs = 1'000;
// The first read of a keep-alive connection's next request, which starts
// that request's header deadline.
constexpr std::size_t kFirstRead = 4096;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t MsToNs(int ms) { return std::int64_t{ms} * 1'000'000; }

// A socket that records when bytes last moved, so that the watchdog can tell
// a silent peer from a slow but live upload or download, and whose reads
// fail with timed_out once a deadline has passed. It is also the TLS
// stream's next layer: both then see the bytes on the wire, not whole TLS
// records.
class TrackedSocket {
 public:
  // What ssl::stream asks of its next layer.
  using lowest_layer_type = tcp::socket;
  using executor_type = tcp::socket::executor_type;

  TrackedSocket(tcp::socket& socket, std::atomic<std::int64_t>& last_activity_ns)
      : socket_(socket), last_activity_ns_(last_activity_ns) {}

  lowest_layer_type& lowest_layer() { return socket_; }  // NOLINT(readability-identifier-naming)
  [[nodiscard]] const lowest_layer_type& lowest_layer() const { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }  // NOLINT(readability-identifier-naming)

  // Reads from now on fail with timed_out once the steady clock passes
  // `ns`; 0: no deadline (the watchdog's idle timeout only).
  void set_deadline_ns(std::int64_t ns) { deadline_ns_ = ns; }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, ErrorCode& ec) {  // NOLINT(readability-identifier-naming)
    if (deadline_ns_ != 0 && !WaitReadable(ec)) return 0;
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
  // Whether the socket has bytes (or its end) before the deadline: Asio's
  // blocking reads have no deadline of their own. A shutdown by Stop() or
  // the watchdog wakes the poll too.
  bool WaitReadable(ErrorCode& ec) const {
    for (;;) {
      const std::int64_t left_ns = deadline_ns_ - NowNs();
      if (left_ns <= 0) {
        ec = asio::error::timed_out;
        return false;
      }
      pollfd p{socket_.native_handle(), POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>((left_ns + 999'999) / 1'000'000));
      if (ready > 0) return true;
      if (ready < 0 && errno != EINTR) {
        ec = ErrorCode(errno, boost::system::system_category());
        return false;
      }
    }
  }

  tcp::socket& socket_;
  std::atomic<std::int64_t>& last_activity_ns_;
  std::int64_t deadline_ns_ = 0;
};

// What a connection's thread is doing, as far as ending it goes: kWaiting
// (for a request or within one, or in the TLS handshake: Stop() and the
// watchdog may end it), kHandling (the handler runs: nothing ends it),
// kWriting (an answer goes out: only the watchdog ends it, when the peer
// stops reading).
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

using SslContext = std::shared_ptr<ssl::context>;

bool IsParseError(const ErrorCode& ec) {
  static const auto& category = http::make_error_code(http::error::bad_method).category();
  return ec.category() == category && ec != http::error::end_of_stream && ec != http::error::partial_message;
}

std::string PeerOf(const tcp::socket& socket) {
  ErrorCode ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "";
  std::string address = ep.address().to_string();
  if (ep.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(ep.port());
}

// The request's target as far as it was read ("" before its request line).
std::string_view TargetOf(const http::request_parser<http::string_body>& parser) {
  const auto target = parser.get().target();
  return {target.data(), target.size()};
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

// The status line and headers of `response` on Beast's message `r`.
template <class Body>
void SetHead(http::response<Body>& r, const HttpResponse& response, unsigned version) {
  r.version(version);
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
}

// The answer as Beast's message; its status is within 100..599.
http::response<http::string_body> ToMessage(HttpResponse response, unsigned version, bool keep_alive) {
  http::response<http::string_body> r;
  SetHead(r, response, version);
  const bool no_body = response.status < 200 || response.status == 204 || response.status == 304;
  if (!no_body) r.body() = std::move(response.body);
  r.keep_alive(keep_alive);
  r.prepare_payload();
  return r;
}

// An answer whose body is a file (HttpResponse::file), read as it is sent.
template <class Stream>
bool WriteFile(Stream& stream, HttpResponse& response, unsigned version, bool head, bool keep_alive, ErrorCode& ec) {
  http::file_body::value_type file;
  beast::error_code open_ec;
  file.open(response.file.c_str(), beast::file_mode::scan, open_ec);
  if (open_ec) return false;
  http::response<http::file_body> r;
  SetHead(r, response, version);
  r.body() = std::move(file);
  r.keep_alive(keep_alive);
  r.prepare_payload();
  if (head) {
    http::response_serializer<http::file_body> serializer{r};
    http::write_header(stream, serializer, ec);
  } else {
    http::write(stream, r, ec);
  }
  return true;
}

template <class Stream>
void Write(Stream& stream, HttpResponse response, unsigned version, bool head, bool keep_alive, ErrorCode& ec) {
  if (!response.file.empty()) {
    if (WriteFile(stream, response, version, head, keep_alive, ec)) return;
    response = JsonError(404, "NotFound", "The file is gone.");
  }
  http::response<http::string_body> r = ToMessage(std::move(response), version, keep_alive);
  if (head) {
    http::response_serializer<http::string_body> serializer{r};
    http::write_header(stream, serializer, ec);
  } else {
    http::write(stream, r, ec);
  }
}

// The largest message a WebSocket peer may send: the protocols served
// (a subscription's "bind id") are commands of a few bytes.
constexpr std::size_t kMaxWebSocketMessage = std::size_t{64} * 1024;

// Whether `value` (a comma-separated header) holds `token`, case-insensitive.
bool HeaderHasToken(std::string_view value, std::string_view token) {
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    std::string_view item = value.substr(start, comma == std::string_view::npos ? value.npos : comma - start);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (item.size() == token.size() && std::equal(item.begin(), item.end(), token.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return true;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

bool IsWebSocketUpgrade(const HttpRequest& r) {
  return r.method == "GET" && HeaderHasToken(r.Header("upgrade").value_or(""), "websocket") &&
         HeaderHasToken(r.Header("connection").value_or(""), "upgrade") &&
         r.Header("sec-websocket-version").value_or("") == "13" && !r.Header("sec-websocket-key").value_or("").empty();
}

// A WebSocket's outgoing messages, queued by any thread, and the eventfd
// that wakes its connection's thread to send them.
class QueuedWebSocket final : public WebSocket {
 public:
  QueuedWebSocket() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~QueuedWebSocket() override {
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  QueuedWebSocket(const QueuedWebSocket&) = delete;
  QueuedWebSocket& operator=(const QueuedWebSocket&) = delete;

  bool Send(std::string text) override {
    MutexLock lock(mu_);
    if (closed_ || queued_.size() >= kMaxQueued) return false;
    if (std::find(queued_.begin(), queued_.end(), text) != queued_.end()) return true;
    queued_.push_back(std::move(text));
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    return true;
  }
  std::deque<std::string> Take() {
    std::uint64_t count = 0;
    (void)!::read(wake_fd_, &count, sizeof count);
    MutexLock lock(mu_);
    return std::exchange(queued_, {});
  }
  void Close() {
    MutexLock lock(mu_);
    closed_ = true;
    queued_.clear();
  }
  [[nodiscard]] int wake_fd() const { return wake_fd_; }

 private:
  Mutex mu_;
  std::deque<std::string> queued_ IOMT_GUARDED_BY(mu_);
  bool closed_ IOMT_GUARDED_BY(mu_) = false;
  int wake_fd_;
};

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

// The first OpenSSL error queued on this thread, as text; the queue is
// emptied, so that nothing stale reaches a later TLS call of this thread.
std::string OpenSslReason() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no reason given";
  if (const char* reason = ERR_reason_error_string(first)) return reason;
  std::array<char, 256> text{};
  ERR_error_string_n(first, text.data(), text.size());
  return text.data();
}

// PEM's password callback: an encrypted key is refused, where OpenSSL's
// default would prompt on the terminal.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

Status ReadTlsFile(const std::string& path, std::string_view what, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgument("Cannot read the TLS " + std::string(what) + " file \"" + path +
                           "\": " + std::error_code(errno, std::generic_category()).message() + ".");
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return InvalidArgument("Cannot read the TLS " + std::string(what) + " file \"" + path + "\".");
  return Status::Ok();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& bytes) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

// A server context from the two PEM files. They are parsed here first, so
// that an error names the file at fault rather than OpenSSL's step.
Result<SslContext> LoadTlsContext(const std::string& cert_file, const std::string& key_file) {
  std::string cert_pem, key_pem;
  IOMT_RETURN_IF_ERROR(ReadTlsFile(cert_file, "certificate", &cert_pem));
  IOMT_RETURN_IF_ERROR(ReadTlsFile(key_file, "key", &key_pem));
  ERR_clear_error();
  auto cert_bio = MemoryBio(cert_pem);
  std::unique_ptr<X509, X509Free> cert(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassword, nullptr)
                                                : nullptr);
  if (!cert) {
    return InvalidArgument("The TLS certificate file \"" + cert_file + "\" holds no PEM certificate (" +
                           OpenSslReason() + ").");
  }
  auto key_bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr)
                                                  : nullptr);
  if (!key) {
    return InvalidArgument("The TLS key file \"" + key_file + "\" holds no unencrypted PEM private key (" +
                           OpenSslReason() + ").");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("The TLS key file \"" + key_file + "\" does not match the certificate in \"" + cert_file +
                           "\".");
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  // TLS 1.0 and 1.1 are deprecated (RFC 8996). Compression invites CRIME;
  // renegotiation is a way for a client to make the server do handshakes
  // over and over; the server's cipher order keeps weaker suites a client
  // prefers from being chosen.
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(native, NoPassword);
  ErrorCode ec;
  context->use_certificate_chain(asio::buffer(cert_pem), ec);
  if (ec) {
    ERR_clear_error();
    return InvalidArgument("The TLS certificate file \"" + cert_file + "\" cannot be used: " + ec.message() + ".");
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    return InvalidArgument("The TLS key file \"" + key_file + "\" cannot be used with the certificate in \"" +
                           cert_file + "\": " + OpenSslReason() + ".");
  }
  return context;
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
  bool tls_enabled = false;

  Mutex mu;  // guards connections; taken before a Connection's mu when both are held
  std::list<std::shared_ptr<Connection>> connections IOMT_GUARDED_BY(mu);
  std::atomic<bool> stopping{false};
  Mutex stop_mu;
  bool stopped IOMT_GUARDED_BY(stop_mu) = false;
  // The context new TLS connections get; each connection keeps the one it
  // started with, so ReloadTls() never changes a session under way.
  Mutex tls_mu;
  SslContext current_tls IOMT_GUARDED_BY(tls_mu);

  void Accept();
  void Launch(tcp::socket socket, std::int64_t accepted_ns);
  void Reject(tcp::socket socket);
  void Watch();
  // The connection's life: the TLS handshake when `tls` is set, then Serve().
  void Run(Connection& c, tcp::socket& socket, std::int64_t accepted_ns, const SslContext& tls);
  template <class Stream>
  void Serve(Connection& c, tcp::socket& socket, TrackedSocket& tracked, Stream& stream, bool tls);
  // Moves the connection to `phase`; false when it is to end instead.
  bool Enter(Connection& c, Phase phase);
  // An answer the server makes itself: options.refusal's, or a JSON error.
  HttpResponse Refuse(std::string_view target, int status, std::string_view code, std::string_view message) const;
  // The refusal of a request Beast could not read (`ec`).
  HttpResponse ParseRefusal(const ErrorCode& ec, std::string_view target, std::size_t max_body) const;
  HttpResponse CallHandler(const HttpRequest& request) const;
  // The connection after a 101: frames in, queued messages out, pings.
  template <class Stream>
  void ServeWebSocket(Connection& c, tcp::socket& socket, TrackedSocket& tracked, Stream& stream,
                      beast::flat_buffer& buffer, std::string_view key, const WebSocketHandler& callbacks);
  // Answers `response` to a request that was not read whole (413, 431,
  // 400, 408), then ends the connection without a reset (see Linger()).
  template <class Stream>
  void AnswerAndLinger(Connection& c, Stream& stream, tcp::socket& socket, HttpResponse response, unsigned version,
                       int linger_ms);
  // Reads and drops what the peer still sends until it closes, or
  // kLingerBytes (max_body_bytes when larger) have come, or `linger_ms`
  // have passed.
  void Linger(Connection& c, tcp::socket& socket, int linger_ms) const;
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

HttpResponse HttpServer::Impl::Refuse(std::string_view target, int status, std::string_view code,
                                      std::string_view message) const {
  if (options.refusal) {
    try {
      HttpResponse r = options.refusal(target, status, code, message);
      if (r.status >= 100 && r.status <= 599) return r;
    } catch (...) {  // NOLINT(bugprone-empty-catch): the JSON error below goes out instead
    }
  }
  return JsonError(status, code, message);
}

HttpResponse HttpServer::Impl::ParseRefusal(const ErrorCode& ec, std::string_view target, std::size_t max_body) const {
  if (ec == http::error::body_limit) {
    return Refuse(target, 413, "PayloadTooLarge",
                  "The request body is larger than the server's limit of " + std::to_string(max_body) +
                      " bytes; send it in smaller requests.");
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return Refuse(target, 431, "RequestHeaderFieldsTooLarge",
                  "The request's header is larger than the server's limit of " +
                      std::to_string(options.max_header_bytes) + " bytes.");
  }
  return Refuse(target, 400, "BadRequest", "Malformed HTTP request: " + ec.message() + ".");
}

HttpResponse HttpServer::Impl::CallHandler(const HttpRequest& request) const {
  try {
    HttpResponse response = handler(request);
    if (response.status >= 100 && response.status <= 599) return response;
    return Refuse(request.target, 500, "InternalError", "The handler answered an invalid HTTP status.");
  } catch (const std::exception& e) {
    return Refuse(request.target, 500, "InternalError", std::string("The request failed: ") + e.what());
  } catch (...) {
    return Refuse(request.target, 500, "InternalError", "The request failed.");
  }
}

template <class Stream>
void HttpServer::Impl::AnswerAndLinger(Connection& c, Stream& stream, tcp::socket& socket, HttpResponse response,
                                       unsigned version, int linger_ms) {
  // The peer may still be sending the body (it did not wait for `100
  // Continue`, or sends chunks). Closing a socket with unread bytes in it,
  // or that receives more, makes the kernel answer them with a reset, and a
  // client that is still writing then fails on its write and never reads
  // the answer (curl: "Send failure", Node: EPIPE). So: the answer (small:
  // it fits in the socket buffer even when the peer does not read yet), a
  // FIN after it (the peer reads the answer, then end of stream: clients
  // stop sending and close), and the socket is read until the peer's close.
  // Over TLS the FIN comes without a close_notify: sending one would mean
  // waiting for the peer's; the answer's Content-Length and `Connection:
  // close` already tell the client that it has it all.
  if (!Enter(c, Phase::kWriting)) return;
  ErrorCode ec;
  Write(stream, std::move(response), version, false, false, ec);
  if (ec) return;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (!Enter(c, Phase::kWaiting)) return;  // Stop() and the watchdog may end the lingering
  Linger(c, socket, linger_ms);
}

void HttpServer::Impl::Linger(Connection& c, tcp::socket& socket, int linger_ms) const {
  // Plain poll and recv: Asio's blocking reads have no deadline. Only this
  // thread reads the descriptor; a shutdown by Stop() or the watchdog ends
  // the wait (recv returns 0). Bytes are dropped into one small buffer,
  // never kept (over TLS, still encrypted: nothing of them is wanted).
  const int fd = socket.native_handle();
  const std::size_t bound = std::max(kLingerBytes, options.max_body_bytes) + options.max_header_bytes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(linger_ms);
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

template <class Stream>
void HttpServer::Impl::Serve(Connection& c, tcp::socket& socket, TrackedSocket& tracked, Stream& stream, bool tls) {
  const std::string peer = PeerOf(socket);
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    if (!Enter(c, Phase::kWaiting)) return;
    ErrorCode ec;
    if (!first) {
      // Between requests only the idle timeout applies; the header's
      // deadline runs from the next request's first byte (the first
      // request's, set by Run(), from the accept).
      tracked.set_deadline_ns(0);
      if (buffer.size() == 0) {
        buffer.commit(stream.read_some(buffer.prepare(kFirstRead), ec));
        if (ec) return;
      }
      tracked.set_deadline_ns(NowNs() + MsToNs(options.header_timeout_ms));
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(static_cast<std::uint64_t>(options.max_body_bytes));
    http::read_header(stream, buffer, parser, ec);
    if (ec == asio::error::timed_out) {
      // Beast keeps a header in the buffer until it is whole.
      if (buffer.size() > 0 || parser.got_some()) {
        AnswerAndLinger(
            c, stream, socket,
            Refuse(TargetOf(parser), 408, "RequestTimeout",
                   "The request's header did not arrive within " + std::to_string(options.header_timeout_ms) + " ms."),
            11, kTimeoutLingerMs);
      }
      return;
    }
    if (ec) {
      if (IsParseError(ec)) {
        AnswerAndLinger(c, stream, socket, ParseRefusal(ec, TargetOf(parser), options.max_body_bytes), 11,
                        options.linger_ms);
      }
      return;
    }
    const std::string_view target = TargetOf(parser);
    const unsigned version = parser.get().version() == 10 ? 10 : 11;
    // Beast bounds the header's bytes but not its fields: each costs a node
    // and a string in the request handed on.
    const auto fields = static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end()));
    if (fields > options.max_header_count) {
      AnswerAndLinger(c, stream, socket,
                      Refuse(target, 431, "RequestHeaderFieldsTooLarge",
                             "The request has " + std::to_string(fields) + " header fields; the server takes at most " +
                                 std::to_string(options.max_header_count) + "."),
                      version, options.linger_ms);
      return;
    }
    // The limit of this request's target (known once its header is read).
    std::size_t max_body = options.max_body_bytes;
    if (options.body_limit) {
      max_body = options.body_limit(target);
      parser.body_limit(static_cast<std::uint64_t>(max_body));
    }
    const auto length = parser.content_length();
    if (length && *length > max_body) {
      // Refused on the header alone: with `Expect: 100-continue` the peer
      // has not sent the body yet and, without the `100`, does not.
      AnswerAndLinger(c, stream, socket, ParseRefusal(http::error::body_limit, target, max_body), version,
                      options.linger_ms);
      return;
    }
    const bool has_body = parser.chunked() || (length && *length > 0);
    if (has_body && version == 11 && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::write(stream, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) return;
    }
    tracked.set_deadline_ns(NowNs() + MsToNs(options.body_timeout_ms));
    http::read(stream, buffer, parser, ec);
    if (ec == asio::error::timed_out) {
      AnswerAndLinger(
          c, stream, socket,
          Refuse(target, 408, "RequestTimeout",
                 "The request's body did not arrive within " + std::to_string(options.body_timeout_ms) + " ms."),
          version, kTimeoutLingerMs);
      return;
    }
    if (ec) {
      // A chunked body over the limit ends here as soon as a chunk's size
      // would pass it: the parser stops before that chunk's data.
      if (IsParseError(ec)) {
        AnswerAndLinger(c, stream, socket, ParseRefusal(ec, target, max_body), version, options.linger_ms);
      }
      return;
    }
    tracked.set_deadline_ns(0);
    const bool head = parser.get().method() == http::verb::head;
    bool keep_alive = parser.get().keep_alive();
    HttpRequest request = ToRequest(parser.release(), head);
    request.peer = peer;
    request.tls = tls;
    request.received = std::chrono::steady_clock::now();
    request.websocket_upgrade = IsWebSocketUpgrade(request);
    if (!Enter(c, Phase::kHandling)) return;
    HttpResponse response = CallHandler(request);
    if (response.websocket) {
      if (request.websocket_upgrade) {
        const std::string key(request.Header("sec-websocket-key").value_or(""));
        ServeWebSocket(c, socket, tracked, stream, buffer, key, *response.websocket);
        return;
      }
      response = JsonError(426, "UpgradeRequired", "This address speaks WebSocket (RFC 6455, version 13) only.");
      response.headers.emplace_back("Upgrade", "websocket");
    }
    if (!Enter(c, Phase::kWriting)) return;
    keep_alive = keep_alive && !stopping.load();
    Write(stream, std::move(response), version, head, keep_alive, ec);
    if (ec || !keep_alive) return;
  }
}

template <class Stream>
void HttpServer::Impl::ServeWebSocket(Connection& c, tcp::socket& socket, TrackedSocket& tracked, Stream& stream,
                                      beast::flat_buffer& buffer, std::string_view key,
                                      const WebSocketHandler& callbacks) {
  namespace ws = websocket;
  // Over TLS, bytes the TLS layer has already taken from the socket do not
  // make it readable: when the socket is quiet, a read with a 1 ms deadline
  // every 250 ms picks them up (a failed read of the next layer leaves the
  // TLS stream usable; it wanted input and still does).
  constexpr bool kTls = !std::is_same_v<Stream, TrackedSocket>;
  ErrorCode ec;
  std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  head.append("Sec-WebSocket-Accept: ").append(ws::AcceptKey(key)).append("\r\n\r\n");
  if (!Enter(c, Phase::kWriting)) return;
  asio::write(stream, asio::buffer(head), ec);
  if (ec) return;
  auto socket_out = std::make_shared<QueuedWebSocket>();
  const std::shared_ptr<WebSocket> as_socket = socket_out;
  // What the peer sent after its handshake, already read.
  std::string in = beast::buffers_to_string(buffer.data());
  buffer.consume(buffer.size());
  std::string message;
  bool in_message = false;
  bool open = true;
  const auto ping_every = std::chrono::milliseconds(std::max(options.idle_timeout_ms / 3, 100));
  auto last_ping = std::chrono::steady_clock::now();
  auto send = [&](ws::Opcode op, std::string_view payload) {
    if (!Enter(c, Phase::kWriting)) return false;
    asio::write(stream, asio::buffer(ws::ServerFrame(op, payload)), ec);
    return !ec && Enter(c, Phase::kWaiting);
  };
  // The server's close: its close frame, then (RFC 6455 7.1.1) the peer's
  // close frame is awaited for a second before the TCP close, so that the
  // peer's own close frame does not meet a closed socket.
  std::optional<std::chrono::steady_clock::time_point> closing;
  auto close = [&](std::uint16_t code, std::string_view reason) {
    if (closing) return;
    open = send(ws::Opcode::kClose, ws::ClosePayload(code, reason));
    closing = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  };
  std::array<char, std::size_t{16} * 1024> chunk{};
  while (open) {
    // Whole frames first.
    while (open) {
      std::size_t consumed = 0;
      Result<std::optional<ws::Frame>> frame = ws::ParseClientFrame(in, kMaxWebSocketMessage, &consumed);
      if (!frame.ok()) {
        if (closing) open = false;
        close(frame.status().code() == StatusCode::kOutOfRange ? 1009 : 1002, frame.status().message());
        in.clear();
        break;
      }
      if (!*frame) break;
      in.erase(0, consumed);
      ws::Frame& f = **frame;
      if (closing) {
        // Only the peer's close frame is wanted now.
        open = f.opcode != ws::Opcode::kClose;
        continue;
      }
      switch (f.opcode) {
        case ws::Opcode::kText:
        case ws::Opcode::kContinuation:
          if ((f.opcode == ws::Opcode::kText) == in_message) {
            close(1002, "a continuation without a message, or a message inside one");
            break;
          }
          message.append(f.payload);
          in_message = !f.fin;
          if (message.size() > kMaxWebSocketMessage) {
            close(1009, "message too big");
          } else if (f.fin) {
            if (callbacks.on_message) callbacks.on_message(as_socket, message);
            message.clear();
          }
          break;
        case ws::Opcode::kBinary: close(1003, "text messages only"); break;
        case ws::Opcode::kClose:
          // The peer's close: answered, and the connection ends.
          (void)send(ws::Opcode::kClose, ws::ClosePayload(1000, ""));
          open = false;
          break;
        case ws::Opcode::kPing: open = send(ws::Opcode::kPong, f.payload); break;
        case ws::Opcode::kPong: break;
      }
    }
    if (!open) break;
    const auto now = std::chrono::steady_clock::now();
    if (closing && now >= *closing) break;
    if (!closing) {
      for (const std::string& text : socket_out->Take()) {
        open = send(ws::Opcode::kText, text);
        if (!open) break;
      }
      if (!open) break;
      if (now - last_ping >= ping_every) {
        if (!send(ws::Opcode::kPing, "")) break;
        last_ping = now;
      }
    }
    if (!Enter(c, Phase::kWaiting)) break;
    auto wait =
        std::chrono::ceil<std::chrono::milliseconds>((closing ? *closing : last_ping + ping_every) - now).count();
    if (kTls) wait = std::min<std::int64_t>(wait, 250);
    // While closing, queued messages are not sent: the wake-up is not polled.
    std::array<pollfd, 2> fds{{{socket.native_handle(), POLLIN, 0}, {socket_out->wake_fd(), POLLIN, 0}}};
    const int ready = ::poll(fds.data(), closing ? 1 : 2, static_cast<int>(std::max<std::int64_t>(wait, 0)));
    if (ready < 0 && errno != EINTR) break;
    const bool readable = ready > 0 && fds[0].revents != 0;
    if (!readable && !(kTls && ready == 0)) continue;
    // A frame that has begun arrives whole within the header timeout.
    tracked.set_deadline_ns(NowNs() + (readable ? MsToNs(options.header_timeout_ms) : 1'000'000));
    const std::size_t n = stream.read_some(asio::buffer(chunk), ec);
    tracked.set_deadline_ns(0);
    if (ec == asio::error::timed_out && !readable) continue;
    if (ec) break;
    in.append(chunk.data(), n);
  }
  socket_out->Close();
  if constexpr (kTls) {
    // A WebSocket ends with TLS's close_notify (clients take a bare close
    // after the close frame for a truncation); the peer gets a second to
    // answer it.
    tracked.set_deadline_ns(NowNs() + MsToNs(1'000));
    stream.shutdown(ec);
  }
  if (callbacks.on_close) callbacks.on_close(as_socket);
}

void HttpServer::Impl::Run(Connection& c, tcp::socket& socket, std::int64_t accepted_ns, const SslContext& tls) {
  TrackedSocket tracked(socket, c.last_activity_ns);
  // The first request, and the handshake before it, are due within the
  // header timeout of the accept: a client that connects and then says
  // nothing (or handshakes a byte at a time) holds a thread no longer.
  tracked.set_deadline_ns(accepted_ns + MsToNs(options.header_timeout_ms));
  if (!tls) {
    Serve(c, socket, tracked, tracked, false);
    return;
  }
  ssl::stream<TrackedSocket&> stream(tracked, *tls);
  ErrorCode ec;
  stream.handshake(ssl::stream_base::server, ec);
  // Plain HTTP, TLS older than 1.2, a client that does not trust the
  // certificate: that connection ends, nothing else.
  if (ec) return;
  Serve(c, socket, tracked, stream, true);
}

void HttpServer::Impl::Launch(tcp::socket socket, std::int64_t accepted_ns) {
  SslContext context;
  if (tls_enabled) {
    MutexLock lock(tls_mu);
    context = current_tls;
  }
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
    c->thread = std::thread([this, c, s = std::move(socket), accepted_ns, context = std::move(context)]() mutable {
      try {
        Run(*c, s, accepted_ns, context);
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
  ErrorCode ec;
  if (tls_enabled) {
    // A 503 could only follow a handshake, and handshakes are the work the
    // limit is there to refuse: the client sees its connection closed.
    socket.close(ec);
    return;
  }
  // The 503 is small enough for any socket buffer: one non-blocking write.
  // Then the peer gets a moment to read it before the close.
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
    const std::int64_t accepted_ns = NowNs();
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
      Launch(std::move(socket), accepted_ns);
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
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return InvalidArgument(std::string("TLS needs both a certificate file and a key file; only the ") +
                           (options.tls_cert_file.empty() ? "key" : "certificate") + " file is set.");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->options.max_connections = std::max<std::size_t>(1, options.max_connections);
  impl->options.idle_timeout_ms = std::max(1, options.idle_timeout_ms);
  impl->options.linger_ms = std::max(0, options.linger_ms);
  impl->options.header_timeout_ms = std::max(1, options.header_timeout_ms);
  impl->options.body_timeout_ms = std::max(1, options.body_timeout_ms);
  // Beast's header limit is 32 bits.
  impl->options.max_header_bytes = std::clamp<std::size_t>(options.max_header_bytes, 1, std::size_t{1} << 30);
  impl->handler = std::move(handler);
  if (!options.tls_cert_file.empty()) {
    auto context = LoadTlsContext(options.tls_cert_file, options.tls_key_file);
    if (!context.ok()) return context.status();
    impl->tls_enabled = true;
    MutexLock lock(impl->tls_mu);
    impl->current_tls = std::move(*context);
  }
  // Built once: the io thread writes it to each connection beyond the limit
  // without calling anything. No Date, which would be stale.
  HttpResponse busy =
      impl->Refuse("", 503, "ServiceUnavailable", "The server has too many connections; try again later.");
  const bool has_retry_after = std::any_of(busy.headers.begin(), busy.headers.end(),
                                           [](const auto& h) { return beast::iequals(h.first, "retry-after"); });
  if (!has_retry_after) busy.headers.emplace_back("Retry-After", "1");
  http::response<http::string_body> busy_message = ToMessage(std::move(busy), 11, false);
  busy_message.erase(http::field::date);
  std::ostringstream busy_text;
  busy_text << busy_message;
  impl->busy_answer = busy_text.str();

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

Status HttpServer::ReloadTls() {
  if (!impl_->tls_enabled) {
    return InvalidArgument("The HTTP server does not serve TLS: it was started without certificate and key files.");
  }
  auto context = LoadTlsContext(impl_->options.tls_cert_file, impl_->options.tls_key_file);
  if (!context.ok()) return context.status();
  MutexLock lock(impl_->tls_mu);
  impl_->current_tls = std::move(*context);
  return Status::Ok();
}

void HttpServer::Stop() { impl_->StopNow(); }

}  // namespace iomt::server
