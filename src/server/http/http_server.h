// The HTTP/1.1 server of `iomt serve` (docs/adr/0011-http-server.md): one
// handler function answers every request; this layer does sockets, TLS,
// keep-alive, limits and protocol errors.
//
// What it promises:
// - One thread per connection (at most max_connections, TLS handshakes in
//   progress included; beyond, 503 and close, or for TLS a close without a
//   handshake), reading and writing synchronously, so a handler may block
//   (the ingestion handler waits for an fsync) without holding up other
//   connections. The handler is called from several threads at once: it
//   must be thread-safe. It is never called on the accept thread.
// - Keep-alive, pipelining, chunked request bodies, `Expect: 100-continue`
//   (answered only when the body is within the limit). A body over
//   max_body_bytes gets 413, a header over max_header_bytes or with more
//   than max_header_count fields 431, and a malformed request 400, without
//   calling the handler; the rest of the body is not read into memory, and
//   the connection closes only once the client has stopped sending (or a
//   bound was reached), so that the client reads the answer rather than a
//   reset. A handler that throws gets 500. Nothing escapes: no exception
//   leaves this layer.
// - Deadlines against slow clients: a request's line and header must have
//   come within header_timeout_ms of its first byte (of the connection's
//   start for the first request, the TLS handshake included), its body
//   within body_timeout_ms of the header; else 408 (or, when nothing of the
//   request came, a bare close) and the connection closes.
// - Every answer the server makes itself (400, 408, 413, 431, 503, 500) is
//   options.refusal's when that is set, else a JSON error (JsonError).
// - With tls_cert_file and tls_key_file, the port speaks HTTPS only (TLS 1.2
//   or later); ReloadTls() swaps the certificate for connections accepted
//   after it. A failed handshake ends that connection only.
// - HEAD reaches the handler as GET; the answer goes out without its body
//   (with its Content-Length). Every answer carries Content-Length (but
//   1xx/204/304, which must not) and Date; the handler's Content-Length,
//   Transfer-Encoding and Connection headers are ignored.
// - WebSocket (RFC 6455, text messages, ws:// and wss://) on the routes
//   whose handler accepts it: the connection's thread then waits on the
//   socket and on the messages other threads queue (WebSocket::Send), pings
//   the peer every idle_timeout_ms / 3 so that live connections are not
//   taken for idle ones, and answers the peer's pings and close.
// - Stop() is graceful: it stops accepting, closes idle connections, and
//   returns once the handlers running now have finished and their answers
//   have been written (connections idle longer than idle_timeout_ms are
//   closed, so no client can hold Stop() up for longer than that).
//
// This header includes no Boost or OpenSSL: they are compiled in
// http_server.cc only.
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
  bool tls = false;                                // it came over TLS: the scheme is https
  // A WebSocket opening handshake (GET with Upgrade: websocket, version 13
  // and a key): the handler may accept it (HttpResponse::websocket).
  bool websocket_upgrade = false;

  // The first header of that (lower-case) name.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view lower_name) const;
};

// A WebSocket connection (RFC 6455) that a handler accepted: text messages
// both ways.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues a text message for the peer and returns at once; the
  // connection's thread sends it. A message already queued and not sent yet
  // is not queued twice (notifications say "look again", and saying it
  // twice adds nothing). False once the connection has closed, or when
  // kMaxQueued messages wait (a peer that does not read). Thread-safe.
  virtual bool Send(std::string text) = 0;
  static constexpr std::size_t kMaxQueued = 1'000;
};

// How a handler accepts a WebSocket handshake (HttpResponse::websocket).
// Both are called on the connection's thread; `socket` stays usable (Send
// returns false once closed) for as long as anyone holds it.
struct WebSocketHandler {
  // Each text message from the peer (binary ones close the connection).
  std::function<void(const std::shared_ptr<WebSocket>& socket, std::string_view text)> on_message;
  // The connection has ended (the peer closed, a protocol error, Stop()).
  std::function<void(const std::shared_ptr<WebSocket>& socket)> on_close;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";             // empty: no Content-Type
  std::vector<std::pair<std::string, std::string>> headers;  // extra (Retry-After, ETag, Location, ...)
  std::string body;
  // When set, the body is this file's content instead, sent from the file
  // as it is read (a bulk export's NDJSON: gigabytes, never in memory). A
  // file that cannot be opened is answered 404.
  std::string file;
  // When set and the request is a WebSocket handshake, the server answers
  // 101 and the connection becomes a WebSocket served by these callbacks
  // (status, headers and body are not used); not a handshake: 426.
  std::shared_ptr<WebSocketHandler> websocket;
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

// Builds an answer the server makes itself: `status` (400, 408, 413, 431,
// 500, 503) with a catalogue-like `code` ("PayloadTooLarge") and a message
// for people. `target` is the request's as sent, or empty when the request
// line could not be read (and for the 503, built once at Start()). Called
// on connection threads, concurrently: it must be thread-safe. If it
// throws or answers a status outside 100..599, the JSON error goes out.
using HttpRefusal =
    std::function<HttpResponse(std::string_view target, int status, std::string_view code, std::string_view message)>;

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

  // Slow clients (slowloris): a request's line and header must arrive
  // within header_timeout_ms of its first byte (of the connection's accept
  // for the first request, so the TLS handshake counts too), its body
  // within body_timeout_ms of the end of its header; else 408 (a bare close
  // when nothing of the request came) and the connection is closed. The
  // time a keep-alive connection waits for the next request's first byte is
  // idle_timeout_ms's.
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 60'000;
  // Request line and header fields, in bytes, and the number of header
  // fields: beyond either, 431. Device gateways send a few hundred bytes;
  // a bearer token a few KiB.
  std::size_t max_header_bytes = std::size_t{16} * 1024;
  std::size_t max_header_count = 100;

  // HTTPS: both set, and the port speaks TLS only. PEM files: the
  // certificate file holds the server's certificate, then any intermediate
  // ones; the key must not be encrypted. TLS 1.2 or later, the server's
  // cipher order, no compression, no renegotiation.
  std::string tls_cert_file;
  std::string tls_key_file;

  // Builds the server's own answers (see HttpRefusal); unset: JsonError.
  HttpRefusal refusal;
};

class HttpServer {
 public:
  // Binds and starts serving: kUnavailable when the address cannot be bound,
  // kInvalidArgument for a bad host or port, or TLS files that cannot be
  // read, do not parse or do not match (the message names the file).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the one chosen when options.port was 0).
  [[nodiscard]] int port() const;
  // Reads tls_cert_file and tls_key_file again (a renewed certificate) into
  // a new TLS context for the connections accepted from now on; those open
  // keep theirs. On an error (as Start()'s) the current context stays and
  // the error is returned; kInvalidArgument too when the server has no TLS.
  // Thread-safe.
  Status ReloadTls();
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
