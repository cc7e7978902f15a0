// The HTTP/1.1 server of `iomt serve` (docs/adr/0011-http-server.md): one
// handler function answers every request; this layer does sockets,
// keep-alive, limits and protocol errors.
//
// What it promises:
// - One thread per connection (at most max_connections; beyond, 503 and
//   close), reading and writing synchronously, so a handler may block (the
//   ingestion handler waits for an fsync) without holding up other
//   connections. The handler is called from several threads at once: it
//   must be thread-safe. It is never called on the accept thread.
// - Keep-alive, pipelining, chunked request bodies, `Expect: 100-continue`
//   (answered only when the body is within the limit). A body over
//   max_body_bytes gets 413 and a malformed request 400 (both JSON errors)
//   without calling the handler; the rest of the body is not read into
//   memory, and the connection closes only once the client has stopped
//   sending (or a bound was reached), so that the client reads the answer
//   rather than a reset. A handler that throws gets 500. Nothing escapes:
//   no exception leaves this layer.
// - HEAD reaches the handler as GET; the answer goes out without its body
//   (with its Content-Length). Every answer carries Content-Length (but
//   1xx/204/304, which must not) and Date; the handler's Content-Length,
//   Transfer-Encoding and Connection headers are ignored.
// - Stop() is graceful: it stops accepting, closes idle connections, and
//   returns once the handlers running now have finished and their answers
//   have been written (connections idle longer than idle_timeout_ms are
//   closed, so no client can hold Stop() up for longer than that).
//
// This header includes no Boost: Beast is compiled in http_server.cc only.
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace iomt::server {

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ... (a HEAD request arrives as "GET")
  std::string target;                                        // as sent: "/fhir/Observation?code=1"
  std::string path;                                          // target up to '?', as sent (not decoded)
  std::string query;                                         // after '?', as sent, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;                                // "127.0.0.1:54321"
  std::chrono::steady_clock::time_point received;  // when the whole request had been read

  // The first header of that (lower-case) name.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";             // empty: no Content-Type
  std::vector<std::pair<std::string, std::string>> headers;  // extra (Retry-After, ETag, Location, ...)
  std::string body;
};

// A JSON body with that status.
HttpResponse JsonBody(int status, std::string body);

// {"error":{"code":code,"message":message}} with that status (the JSON
// error shape of management-api.md).
HttpResponse JsonError(int status, std::string_view code, std::string_view message);

// `t` as an HTTP date: "Tue, 14 Nov 2023 22:13:20 GMT" (RFC 9110
// IMF-fixdate), for Date and Last-Modified.
std::string HttpDate(std::time_t t);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: a free port (see port())
  std::size_t max_body_bytes = 1 << 20;  // larger: 413 with a JSON error, the handler is not called
  // When set, the limit of a request by its target instead (a route with
  // its own bound, e.g. the provisioning API); at most max_body_bytes or
  // 64 MiB is read and dropped after a refusal.
  std::function<std::size_t(std::string_view target)> body_limit;
  std::size_t max_connections = 256;  // beyond: 503 and close
  int idle_timeout_ms = 30'000;       // connections silent longer (between or within requests) are closed
  // After refusing a request it did not read whole (413, 431, 400), how long
  // the server goes on reading and dropping what the client still sends
  // (at most 64 MiB, or max_body_bytes when larger) before it closes:
  // closing while bytes still arrive resets the connection, and the client
  // loses the answer.
  int linger_ms = 5'000;
};

class HttpServer {
 public:
  // Binds and starts serving: kUnavailable when the address cannot be bound,
  // kInvalidArgument for a bad host or port.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the one chosen when options.port was 0).
  [[nodiscard]] int port() const;
  // Stops accepting, closes idle connections, waits for the handlers running
  // now to finish and their answers to go out (graceful), then returns.
  // Idempotent; thread-safe.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iomt::server
