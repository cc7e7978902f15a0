// The HTTP server over real sockets on 127.0.0.1: keep-alive, limits,
// chunked and 100-continue uploads, protocol errors, concurrency, the
// connection limit and a graceful Stop(); TLS (with a CA and certificates
// made by the openssl command line), the header and body deadlines, the
// header limits and the refusal hook.
#include "server/http/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "test_client.h"
#include "test_pki.h"

namespace iomt::server {
namespace {

using testing::Client;
using testing::Connect;
using testing::ReadResponse;
using testing::ReadToEnd;
using testing::ReadUntilClosed;
using testing::Reply;
using testing::Request;
using testing::SendAll;

// Answers "METHOD PATH?QUERY x-test=VALUE BODY".
HttpResponse Echo(const HttpRequest& r) {
  HttpResponse out;
  out.content_type = "text/plain";
  out.body = r.method + " " + r.path + "?" + r.query + " x-test=" + std::string(r.Header("x-test").value_or("")) + " " +
             r.body;
  return out;
}

// Echo, counting its calls.
struct CountingEcho {
  std::atomic<int> calls{0};
  HttpHandler handler() {
    return [this](const HttpRequest& r) {
      ++calls;
      return Echo(r);
    };
  }
};

std::unique_ptr<HttpServer> StartOrDie(HttpHandler handler, HttpServerOptions options = {}) {
  options.port = 0;
  auto server = HttpServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string Url(const HttpServer& server, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + target;
}

void ExpectJsonError(const Reply& reply, long status, const std::string& code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  json::Document doc;
  ASSERT_TRUE(doc.Parse(reply.body).ok()) << reply.body;
  json::Value error, value;
  ASSERT_TRUE(doc.root().Find("error", &error)) << reply.body;
  ASSERT_TRUE(error.Find("code", &value)) << reply.body;
  EXPECT_EQ(value.string_value(), code);
  EXPECT_TRUE(error.Find("message", &value)) << reply.body;
}

TEST(HttpServer, GetAndPostReuseOneKeepAliveConnection) {
  std::mutex mu;
  std::vector<std::string> peers;
  auto server = StartOrDie([&](const HttpRequest& r) {
    {
      std::lock_guard lock(mu);
      peers.push_back(r.peer);
    }
    return Echo(r);
  });
  ASSERT_NE(server, nullptr);
  Client client;
  Reply get = client.Get(Url(*server, "/a/b?x=1&y=%20"), {"X-Test: hello"});
  EXPECT_EQ(get.code, CURLE_OK);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET /a/b?x=1&y=%20 x-test=hello ");
  EXPECT_EQ(get.Header("content-type"), "text/plain");
  EXPECT_EQ(get.Header("content-length"), std::to_string(get.body.size()));
  EXPECT_FALSE(get.Header("date").empty());
  Reply post = client.Send({"POST", Url(*server, "/p"), "the body", {"Content-Type: text/plain"}});
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "POST /p? x-test= the body");
  EXPECT_EQ(post.new_connections, 0);  // the first request's connection
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], peers[1]);
  EXPECT_TRUE(peers[0].starts_with("127.0.0.1:")) << peers[0];
}

TEST(HttpServer, HeadIsAnsweredLikeGetWithoutTheBody) {
  auto server = StartOrDie(Echo);
  ASSERT_NE(server, nullptr);
  Client client;
  Request head;
  head.url = Url(*server, "/thing");
  head.head = true;
  Reply reply = client.Send(head);
  EXPECT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "");
  EXPECT_EQ(reply.Header("content-length"), std::to_string(std::string("GET /thing? x-test= ").size()));
  // The connection is still in step: the next request is answered on it.
  Reply get = client.Get(Url(*server, "/next"));
  EXPECT_EQ(get.body, "GET /next? x-test= ");
  EXPECT_EQ(get.new_connections, 0);
}

TEST(HttpServer, ABodyAtTheLimitIsAcceptedOneByteOverIs413WithoutCallingTheHandler) {
  CountingEcho echo;
  HttpServerOptions options;
  options.max_body_bytes = 5000;
  auto server = StartOrDie(echo.handler(), options);
  ASSERT_NE(server, nullptr);
  Client client;
  const std::string at_limit(5000, 'a');
  Reply ok = client.Send({"POST", Url(*server, "/in"), at_limit, {}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "POST /in? x-test= " + at_limit);
  EXPECT_EQ(echo.calls, 1);

  Reply over = client.Send({"POST", Url(*server, "/in"), at_limit + "b", {}});
  ExpectJsonError(over, 413, "PayloadTooLarge");
  EXPECT_EQ(over.Header("connection"), "close");
  // Chunked, where the size is known only while reading.
  Request chunked{"POST", Url(*server, "/in"), std::string(5001, 'c'), {}, true};
  ExpectJsonError(client.Send(chunked), 413, "PayloadTooLarge");
  // And with Expect: 100-continue the body is refused before it is sent.
  ExpectJsonError(client.Send({"POST", Url(*server, "/in"), std::string(9000, 'd'), {"Expect: 100-continue"}}), 413,
                  "PayloadTooLarge");
  EXPECT_EQ(echo.calls, 1);

  // The server goes on.
  EXPECT_EQ(client.Send({"POST", Url(*server, "/in"), "small", {}}).status, 200);
}

// `body` as chunks of 64 KiB (and the last chunk).
std::string Chunked(const std::string& body) {
  std::string out;
  constexpr std::size_t kChunk = 64 * 1024;
  for (std::size_t at = 0; at < body.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, body.size() - at);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    out.append(size).append(body, at, n).append("\r\n");
  }
  return out + "0\r\n\r\n";
}

void ExpectRaw413(const std::string& answer) {
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n")) << answer.substr(0, 200);
  EXPECT_NE(answer.find(R"({"error":{"code":"PayloadTooLarge","message":)"), std::string::npos) << answer;
  EXPECT_NE(answer.find("1048576 bytes"), std::string::npos) << answer;  // the limit
}

// A client that sends its whole body before it reads (as many simple ones
// do) must still read the 413, not a reset: the server reads and drops the
// body (up to 64 MiB), and closes only after the client has.
TEST(HttpServer, AnOversizedBodySentWholeBeforeReadingGetsA413NotAReset) {
  CountingEcho echo;
  auto server = StartOrDie(echo.handler());  // the default limit, 1 MiB
  ASSERT_NE(server, nullptr);
  const std::string body(std::size_t{8} << 20, 'x');
  for (const bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "Content-Length");
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    const std::string header =
        std::string("POST /in HTTP/1.1\r\nHost: x\r\n") +
        (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + std::to_string(body.size()) + "\r\n") +
        "\r\n";
    EXPECT_TRUE(SendAll(fd, header + (chunked ? Chunked(body) : body)));  // not reset half-way
    ExpectRaw413(ReadToEnd(fd));
    close(fd);
  }
  // With `Expect: 100-continue` the 413 comes at once, without a `100`.
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\nExpect: 100-continue\r\n\r\n"));
  ExpectRaw413(ReadResponse(fd));
  close(fd);
  EXPECT_EQ(echo.calls, 0);
  Client client;
  EXPECT_EQ(client.Send({"POST", Url(*server, "/in"), "small", {}}).status, 200);
}

// Sends `piece` again and again until a send fails (the server closed the
// connection) or `give_up` has passed; the bytes sent, and whether it failed.
struct Sent {
  std::size_t bytes = 0;
  bool failed = false;
  std::chrono::steady_clock::time_point at;
};
Sent SendUntilClosed(int fd, const std::string& piece, std::chrono::milliseconds pause,
                     std::chrono::milliseconds give_up) {
  Sent sent;
  const auto end = std::chrono::steady_clock::now() + give_up;
  while (std::chrono::steady_clock::now() < end) {
    ssize_t n = send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
    if (n < 0) {
      sent.failed = true;
      break;
    }
    sent.bytes += static_cast<std::size_t>(n);
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  sent.at = std::chrono::steady_clock::now();
  return sent;
}

// The server does not go on reading what follows a 413 for ever: a client
// that does not stop sending is cut off after 64 MiB ...
TEST(HttpServer, WhatFollowsA413IsDroppedUpToABoundInBytes) {
  auto server = StartOrDie(Echo);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"));
  std::future<Sent> sender = std::async(std::launch::async, [fd] {
    return SendUntilClosed(fd, std::string(256 * 1024, 'x'), std::chrono::milliseconds(0), std::chrono::seconds(60));
  });
  ExpectRaw413(ReadResponse(fd));  // at once, while the client still sends
  Sent sent = sender.get();
  close(fd);
  EXPECT_TRUE(sent.failed);
  EXPECT_GE(sent.bytes, std::size_t{64} << 20);  // all of the bound was read
  // ... plus what the two socket buffers hold.
  EXPECT_LT(sent.bytes, std::size_t{96} << 20);
}

// ... and one that trickles is cut off after linger_ms (not only after the
// idle timeout, which a trickle never reaches).
TEST(HttpServer, WhatFollowsA413IsDroppedUpToABoundInTime) {
  HttpServerOptions options;
  options.linger_ms = 300;
  auto server = StartOrDie(Echo, options);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"));
  ExpectRaw413(ReadResponse(fd));
  const auto answered = std::chrono::steady_clock::now();
  Sent sent = SendUntilClosed(fd, "x", std::chrono::milliseconds(20), std::chrono::seconds(10));
  close(fd);
  EXPECT_TRUE(sent.failed);
  EXPECT_LT(sent.at - answered, std::chrono::seconds(3));
  // The server goes on.
  Client client;
  EXPECT_EQ(client.Send({"POST", Url(*server, "/in"), "small", {}}).status, 200);
}

TEST(HttpServer, ReadsChunkedBodies) {
  auto server = StartOrDie(Echo);
  ASSERT_NE(server, nullptr);
  std::string body;
  for (int i = 0; i < 3000; ++i)
    body += "{\"n\":" + std::to_string(i) + "}\n";
  Client client;
  Reply reply = client.Send({"POST", Url(*server, "/ndjson"), body, {"Content-Type: application/x-ndjson"}, true});
  EXPECT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "POST /ndjson? x-test= " + body);
  // Chunked by hand too, with a chunk extension and a trailer.
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
  std::string raw = ReadToEnd(fd);
  close(fd);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200")) << raw;
  EXPECT_TRUE(raw.ends_with("POST /raw? x-test= hello world")) << raw;
}

TEST(HttpServer, AnswersExpect100ContinueThenReadsTheBody) {
  auto server = StartOrDie(Echo);
  ASSERT_NE(server, nullptr);
  const std::string body(2 << 20, 'x');  // curl sends Expect for a body this size on its own too
  HttpServerOptions options;
  Client client;
  Reply reply = client.Send({"POST", Url(*server, "/big"), body, {"Expect: 100-continue"}});
  // Over the default limit of 1 MiB: 413 without the body.
  ExpectJsonError(reply, 413, "PayloadTooLarge");
  const std::string fits(1 << 20, 'y');
  reply = client.Send({"POST", Url(*server, "/big"), fits, {"Expect: 100-continue"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body.size(), std::string("POST /big? x-test= ").size() + fits.size());
  // By hand: the interim answer comes before the body is sent.
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  std::string interim;
  char c;
  while (!interim.ends_with("\r\n\r\n") && recv(fd, &c, 1, 0) == 1)
    interim.push_back(c);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(fd, "abcd"));
  std::string answer = ReadResponse(fd);
  close(fd);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
  EXPECT_TRUE(answer.ends_with("PUT /e? x-test= abcd")) << answer;
}

TEST(HttpServer, AMalformedRequestGets400AndTheConnectionCloses) {
  CountingEcho echo;
  auto server = StartOrDie(echo.handler());
  ASSERT_NE(server, nullptr);
  for (const std::string request : {"this is not http\r\n\r\n", "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
                                    "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"}) {
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, request));
    std::string answer = ReadToEnd(fd);  // ends: the server closed
    close(fd);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request\r\n")) << answer;
    EXPECT_NE(answer.find("Content-Length: "), std::string::npos) << answer;
    EXPECT_NE(answer.find(R"({"error":{"code":"BadRequest","message":"Malformed HTTP request: )"), std::string::npos)
        << answer;
  }
  EXPECT_EQ(echo.calls, 0);
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartOrDie(Echo);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string all = ReadToEnd(fd);
  close(fd);
  std::size_t a = all.find("GET /1? x-test= "), b = all.find("POST /2? x-test= abc"), c = all.find("GET /3? x-test= ");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  ASSERT_NE(c, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(HttpServer, ManyConcurrentClientsAreAllAnsweredCorrectly) {
  CountingEcho echo;
  auto server = StartOrDie(echo.handler());
  ASSERT_NE(server, nullptr);
  constexpr int kThreads = 16, kRequests = 200;
  std::atomic<int> wrong{0}, new_connections{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client;
      for (int i = 0; i < kRequests; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        Reply r = i % 2 == 0 ? client.Get(Url(*server, "/g?id=" + id), {"X-Test: " + id})
                             : client.Send({"POST", Url(*server, "/p"), "body-" + id, {"X-Test: " + id}});
        const std::string expected =
            i % 2 == 0 ? "GET /g?id=" + id + " x-test=" + id + " " : "POST /p? x-test=" + id + " body-" + id;
        if (r.status != 200 || r.body != expected) ++wrong;
        new_connections += static_cast<int>(r.new_connections);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(echo.calls, kThreads * kRequests);
  EXPECT_EQ(new_connections, kThreads);  // keep-alive throughout
}

TEST(HttpServer, ConnectionsBeyondTheLimitGet503) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartOrDie(Echo, options);
  ASSERT_NE(server, nullptr);
  // Two connections, each answered once and then left open (idle).
  int held[2];
  for (int& fd : held) {
    fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(ReadResponse(fd).starts_with("HTTP/1.1 200")) << "connection " << fd;
  }
  Client client;
  Reply busy = client.Get(Url(*server, "/third"));
  ExpectJsonError(busy, 503, "ServiceUnavailable");
  EXPECT_EQ(busy.Header("retry-after"), "1");
  // Once one closes, its place is free again (as soon as its thread has
  // seen the close: a few tries).
  close(held[0]);
  Reply again;
  for (int attempt = 0; attempt < 500 && again.status != 200; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Client fresh;
    again = fresh.Get(Url(*server, "/third"));
  }
  EXPECT_EQ(again.status, 200);
  close(held[1]);
}

TEST(HttpServer, StopLetsARunningHandlerAnswerAndRefusesNewConnections) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  auto server = StartOrDie([&](const HttpRequest& r) {
    HttpResponse out;
    if (r.path == "/slow") {
      entered.set_value();
      released.wait();
      out.body = "slow done";
    }
    return out;
  });
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // An idle keep-alive connection: Stop() closes it.
  int idle = Connect(port);
  ASSERT_GE(idle, 0);
  ASSERT_TRUE(SendAll(idle, "GET /quick HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(ReadResponse(idle).starts_with("HTTP/1.1 200"));

  std::future<Reply> slow = std::async(std::launch::async, [&] { return Client().Get(Url(*server, "/slow")); });
  entered.get_future().wait();
  std::thread stopper([&] { server->Stop(); });
  // Stop() stops accepting while the handler still runs.
  bool refused = false;
  for (int attempt = 0; attempt < 1000 && !refused; ++attempt) {
    int fd = Connect(port);
    refused = fd < 0;
    if (fd >= 0) close(fd);
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(ReadToEnd(idle), "");  // closed without an answer
  close(idle);
  release.set_value();
  Reply reply = slow.get();
  stopper.join();  // returns once the answer is out
  EXPECT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "slow done");
  EXPECT_EQ(reply.Header("connection"), "close");
  server->Stop();  // idempotent
  EXPECT_LT(Connect(port), 0);
}

TEST(HttpServer, AHandlerThatThrowsGets500AndTheConnectionGoesOn) {
  auto server = StartOrDie([](const HttpRequest& r) -> HttpResponse {
    if (r.path == "/throw") throw std::runtime_error("boom");
    if (r.path == "/throw-int") throw 42;
    return HttpResponse{200, "text/plain", {}, "fine"};
  });
  ASSERT_NE(server, nullptr);
  Client client;
  Reply thrown = client.Get(Url(*server, "/throw"));
  ExpectJsonError(thrown, 500, "InternalError");
  EXPECT_NE(thrown.body.find("boom"), std::string::npos);
  ExpectJsonError(client.Get(Url(*server, "/throw-int")), 500, "InternalError");
  Reply fine = client.Get(Url(*server, "/ok"));
  EXPECT_EQ(fine.body, "fine");
  EXPECT_EQ(fine.new_connections, 0);
}

TEST(HttpServer, ExtraHeadersAndEmptyAnswers) {
  auto server = StartOrDie([](const HttpRequest& r) {
    HttpResponse out;
    out.headers = {{"ETag", "W/\"3\""}, {"Location", "http://x/y"}};
    if (r.path == "/none") {
      out.status = 204;
      out.content_type.clear();
    }
    return out;
  });
  ASSERT_NE(server, nullptr);
  Client client;
  Reply reply = client.Get(Url(*server, "/h"));
  EXPECT_EQ(reply.Header("etag"), "W/\"3\"");
  EXPECT_EQ(reply.Header("location"), "http://x/y");
  EXPECT_EQ(reply.Header("content-length"), "0");
  Reply none = client.Get(Url(*server, "/none"));
  EXPECT_EQ(none.status, 204);
  EXPECT_EQ(none.body, "");
  EXPECT_EQ(client.Get(Url(*server, "/h")).new_connections, 0);
}

TEST(HttpServer, IdleConnectionsAreClosedAfterTheTimeout) {
  HttpServerOptions options;
  options.idle_timeout_ms = 50;
  auto server = StartOrDie(Echo, options);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(ReadResponse(fd).starts_with("HTTP/1.1 200"));
  EXPECT_EQ(ReadToEnd(fd), "");  // returns: the server closed it
  close(fd);
  // Half a request, then silence: closed too.
  fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /x HTTP/1.1\r\nHo"));
  EXPECT_EQ(ReadToEnd(fd), "");
  close(fd);
}

TEST(HttpServer, ABoundPortIsUnavailableAndABadHostIsInvalid) {
  auto first = StartOrDie(Echo);
  ASSERT_NE(first, nullptr);
  HttpServerOptions options;
  options.port = first->port();
  auto second = HttpServer::Start(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  EXPECT_NE(second.status().message().find(std::to_string(first->port())), std::string::npos);

  options.port = 0;
  options.host = "not a host";
  auto bad = HttpServer::Start(options, Echo);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
  options.host = "127.0.0.1";
  options.port = 70000;
  EXPECT_EQ(HttpServer::Start(options, Echo).status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServer, JsonErrorHasTheManagementApiShape) {
  HttpResponse e = JsonError(409, "QuotaExceeded", "Too \"many\".");
  EXPECT_EQ(e.status, 409);
  EXPECT_EQ(e.content_type, "application/json");
  EXPECT_EQ(e.body, R"({"error":{"code":"QuotaExceeded","message":"Too \"many\"."}})");
}

// ---------------------------------------------------------------------------
// TLS

HttpServerOptions TlsOptions(const TestPki& pki, const std::string& name = "server") {
  HttpServerOptions options;
  options.tls_cert_file = pki.Path(name + ".pem");
  options.tls_key_file = pki.Path(name + ".key");
  return options;
}

std::string HttpsUrl(const HttpServer& server, const std::string& target) {
  return "https://127.0.0.1:" + std::to_string(server.port()) + target;
}

// A GET over HTTPS that trusts the test's CA.
Request HttpsGet(const HttpServer& server, const TestPki& pki, const std::string& target) {
  Request r;
  r.url = HttpsUrl(server, target);
  r.ca_file = pki.ca();
  return r;
}

TEST(HttpServerTls, AnswersHttpsAndTellsTheHandlerTheRequestCameOverTls) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  std::atomic<int> over_tls{0}, plain{0};
  HttpHandler handler = [&](const HttpRequest& r) {
    ++(r.tls ? over_tls : plain);
    return Echo(r);
  };
  auto server = StartOrDie(handler, TlsOptions(pki));
  ASSERT_NE(server, nullptr);
  Client client;
  Reply get = client.Send(HttpsGet(*server, pki, "/a?x=1"));
  EXPECT_EQ(get.code, CURLE_OK) << get.error;
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET /a?x=1 x-test= ");
  EXPECT_NE(get.certificate.find("server-1"), std::string::npos) << get.certificate;
  // Keep-alive over TLS.
  Request post{"POST", HttpsUrl(*server, "/p"), "the body", {"Content-Type: text/plain"}};
  post.ca_file = pki.ca();
  Reply posted = client.Send(post);
  EXPECT_EQ(posted.status, 200) << posted.error;
  EXPECT_EQ(posted.body, "POST /p? x-test= the body");
  EXPECT_EQ(posted.new_connections, 0);
  EXPECT_EQ(over_tls, 2);

  // A client that does not trust the certificate refuses it.
  Request untrusting;
  untrusting.url = HttpsUrl(*server, "/a");
  Reply refused = Client().Send(untrusting);
  EXPECT_EQ(refused.code, CURLE_PEER_FAILED_VERIFICATION) << refused.error;
  EXPECT_EQ(over_tls, 2);

  // A plain server says so too.
  auto plain_server = StartOrDie(handler);
  ASSERT_NE(plain_server, nullptr);
  EXPECT_EQ(Client().Get(Url(*plain_server, "/b")).status, 200);
  EXPECT_EQ(plain, 1);
}

// The certificate file may hold the chain: a client that trusts only the
// root verifies a server certificate signed by an intermediate.
TEST(HttpServerTls, TheCertificateFileMayHoldTheChain) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.IssueThroughIntermediate("chained", "server-chained"));
  auto server = StartOrDie(Echo, TlsOptions(pki, "chained"));
  ASSERT_NE(server, nullptr);
  Reply reply = Client().Send(HttpsGet(*server, pki, "/chained"));
  EXPECT_EQ(reply.code, CURLE_OK) << reply.error;
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.certificate.find("server-chained"), std::string::npos) << reply.certificate;
}

TEST(HttpServerTls, AClientLimitedToTls11FailsTheHandshake) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  CountingEcho echo;
  auto server = StartOrDie(echo.handler(), TlsOptions(pki));
  ASSERT_NE(server, nullptr);
  Request old = HttpsGet(*server, pki, "/old");
  old.ssl_version = long{CURL_SSLVERSION_TLSv1_0} | long{CURL_SSLVERSION_MAX_TLSv1_1};
  old.ssl_ciphers = "DEFAULT@SECLEVEL=0";  // so that the client is willing to offer TLS 1.0/1.1
  Reply reply = Client().Send(old);
  EXPECT_EQ(reply.code, CURLE_SSL_CONNECT_ERROR) << reply.error;  // the server's protocol_version alert
  EXPECT_EQ(reply.status, 0);
  EXPECT_EQ(echo.calls, 0);
  // TLS 1.2 exactly is taken.
  Request tls12 = HttpsGet(*server, pki, "/new");
  tls12.ssl_version = long{CURL_SSLVERSION_TLSv1_2} | long{CURL_SSLVERSION_MAX_TLSv1_2};
  Reply fine = Client().Send(tls12);
  EXPECT_EQ(fine.status, 200) << fine.error;
  EXPECT_EQ(echo.calls, 1);
}

TEST(HttpServerTls, PlainHttpToTheTlsPortIsClosedAndTheServerGoesOn) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  CountingEcho echo;
  auto server = StartOrDie(echo.handler(), TlsOptions(pki));
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(30), &got));  // at once, not after a timeout
  close(fd);
  EXPECT_FALSE(got.starts_with("HTTP/")) << got;
  Reply plain = Client().Get(Url(*server, "/plain"));
  EXPECT_NE(plain.code, CURLE_OK);
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(echo.calls, 0);
  Reply fine = Client().Send(HttpsGet(*server, pki, "/fine"));
  EXPECT_EQ(fine.status, 200) << fine.error;
  EXPECT_EQ(echo.calls, 1);
}

TEST(HttpServerTls, ReloadTlsServesTheNewCertificateToNewConnectionsOnly) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  auto server = StartOrDie(Echo, TlsOptions(pki));
  ASSERT_NE(server, nullptr);
  Client kept;  // a keep-alive connection from before the reload
  Reply before = kept.Send(HttpsGet(*server, pki, "/before"));
  EXPECT_EQ(before.status, 200) << before.error;
  EXPECT_NE(before.certificate.find("server-1"), std::string::npos) << before.certificate;

  ASSERT_TRUE(pki.Issue("server", "server-2", 2));
  ASSERT_TRUE(server->ReloadTls().ok());
  Reply renewed = Client().Send(HttpsGet(*server, pki, "/after"));
  EXPECT_EQ(renewed.status, 200) << renewed.error;
  EXPECT_NE(renewed.certificate.find("server-2"), std::string::npos) << renewed.certificate;
  EXPECT_EQ(renewed.certificate.find("server-1"), std::string::npos) << renewed.certificate;
  // The connection from before goes on with its session.
  Reply still = kept.Send(HttpsGet(*server, pki, "/still"));
  EXPECT_EQ(still.status, 200) << still.error;
  EXPECT_EQ(still.new_connections, 0);

  // A broken file: an error, and the certificate loaded last stays.
  std::ofstream(pki.Path("server.pem"), std::ios::trunc) << "not a certificate\n";
  Status broken = server->ReloadTls();
  EXPECT_EQ(broken.code(), StatusCode::kInvalidArgument) << broken.ToString();
  EXPECT_NE(broken.message().find(pki.Path("server.pem")), std::string::npos) << broken.ToString();
  Reply kept_going = Client().Send(HttpsGet(*server, pki, "/kept"));
  EXPECT_EQ(kept_going.status, 200) << kept_going.error;
  EXPECT_NE(kept_going.certificate.find("server-2"), std::string::npos) << kept_going.certificate;

  // Without TLS there is nothing to reload.
  auto plain = StartOrDie(Echo);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->ReloadTls().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerTls, StartFailsNamingTheFileThatCannotBeUsed) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1) && pki.Issue("other", "other", 2));
  HttpServerOptions options = TlsOptions(pki);
  options.port = 0;
  // A missing key file.
  options.tls_key_file = pki.Path("missing.key");
  auto missing = HttpServer::Start(options, Echo);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find(pki.Path("missing.key")), std::string::npos) << missing.status().ToString();
  // A key of another certificate.
  options.tls_key_file = pki.Path("other.key");
  auto mismatched = HttpServer::Start(options, Echo);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatched.status().message().find("does not match"), std::string::npos) << mismatched.status().ToString();
  // A certificate file that holds none (the CA's key).
  options.tls_cert_file = pki.Path("ca.key");
  options.tls_key_file = pki.Path("server.key");
  auto garbage = HttpServer::Start(options, Echo);
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find(pki.Path("ca.key")), std::string::npos) << garbage.status().ToString();
  // Half of the pair.
  options.tls_cert_file.clear();
  EXPECT_EQ(HttpServer::Start(options, Echo).status().code(), StatusCode::kInvalidArgument);
}

// A TLS handshake holds a connection's thread: it counts against
// max_connections, and it must be done within the header timeout.
TEST(HttpServerTls, HandshakesCountAgainstTheConnectionLimitAndTheHeaderTimeout) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  {
    HttpServerOptions options = TlsOptions(pki);
    options.max_connections = 1;
    options.header_timeout_ms = 120'000;  // the silent connection keeps its place for the test's length
    auto server = StartOrDie(Echo, options);
    ASSERT_NE(server, nullptr);
    int silent = Connect(server->port());  // accepted first: its handshake waits
    ASSERT_GE(silent, 0);
    Reply busy = Client().Send(HttpsGet(*server, pki, "/busy"));
    EXPECT_NE(busy.code, CURLE_OK);
    EXPECT_EQ(busy.status, 0);
    close(silent);
    Reply again;
    for (int attempt = 0; attempt < 500 && again.status != 200; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      again = Client().Send(HttpsGet(*server, pki, "/again"));
    }
    EXPECT_EQ(again.status, 200) << again.error;
  }
  HttpServerOptions options = TlsOptions(pki);
  options.header_timeout_ms = 300;
  auto server = StartOrDie(Echo, options);
  ASSERT_NE(server, nullptr);
  // Silent, and a ClientHello's first bytes then silence: both closed
  // (the idle timeout, 30 s, is not what does it).
  for (const std::string& sent : {std::string(), std::string("\x16\x03\x01\x02", 4)}) {
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, sent));
    std::string got;
    EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(20), &got));
    close(fd);
  }
  EXPECT_EQ(Client().Send(HttpsGet(*server, pki, "/fine")).status, 200);
}

// ---------------------------------------------------------------------------
// Abuse limits

TEST(HttpServerLimits, MoreThanMaxHeaderCountFieldsGet431) {
  CountingEcho echo;
  auto server = StartOrDie(echo.handler());  // at most 100 fields
  ASSERT_NE(server, nullptr);
  std::vector<std::string> headers;
  for (int i = 0; i < 101; ++i)
    headers.push_back("X-Field-" + std::to_string(i) + ": v");
  Client client;
  Reply over = client.Get(Url(*server, "/many"), headers);
  ExpectJsonError(over, 431, "RequestHeaderFieldsTooLarge");
  EXPECT_NE(over.body.find("100"), std::string::npos) << over.body;
  EXPECT_EQ(echo.calls, 0);
  headers.resize(90);  // with curl's Host and Accept, within the limit
  EXPECT_EQ(client.Get(Url(*server, "/fewer"), headers).status, 200);
  EXPECT_EQ(echo.calls, 1);
}

TEST(HttpServerLimits, AHeaderOverMaxHeaderBytesGetsA431TheClientReads) {
  CountingEcho echo;
  auto server = StartOrDie(echo.handler());  // at most 16 KiB
  ASSERT_NE(server, nullptr);
  Client client;
  Reply over = client.Get(Url(*server, "/big"), {"X-Big: " + std::string(20 * 1024, 'h')});
  EXPECT_EQ(over.code, CURLE_OK) << over.error;
  ExpectJsonError(over, 431, "RequestHeaderFieldsTooLarge");
  EXPECT_NE(over.body.find("16384 bytes"), std::string::npos) << over.body;
  EXPECT_EQ(echo.calls, 0);
  Reply fits = client.Get(Url(*server, "/fits"), {"X-Big: " + std::string(12 * 1024, 'h')});
  EXPECT_EQ(fits.status, 200);
  EXPECT_EQ(echo.calls, 1);
}

TEST(HttpServerLimits, ARequestHeaderThatStallsIsAnswered408AndClosed) {
  CountingEcho echo;
  HttpServerOptions options;
  options.header_timeout_ms = 300;  // the idle timeout stays 30 s: it is not what closes
  auto server = StartOrDie(echo.handler(), options);
  ASSERT_NE(server, nullptr);
  // Half a request line, then nothing.
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /slow HT"));
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(20), &got));
  close(fd);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << got;
  EXPECT_NE(got.find(R"({"error":{"code":"RequestTimeout")"), std::string::npos) << got;
  // A connection that sends nothing is closed without an answer.
  fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  got.clear();
  EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(20), &got));
  close(fd);
  EXPECT_EQ(got, "");
  // A header sent a byte at a time keeps bytes moving (the idle timeout
  // never fires) but is cut off all the same.
  fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /trickle HTTP/1.1\r\nX-Slow: "));
  Sent sent = SendUntilClosed(fd, "a", std::chrono::milliseconds(20), std::chrono::seconds(30));
  close(fd);
  EXPECT_TRUE(sent.failed);
  EXPECT_EQ(echo.calls, 0);
}

TEST(HttpServerLimits, OnKeepAliveTheHeaderDeadlineRunsFromTheRequestsFirstByte) {
  CountingEcho echo;
  HttpServerOptions options;
  options.header_timeout_ms = 300;
  auto server = StartOrDie(echo.handler(), options);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(ReadResponse(fd).starts_with("HTTP/1.1 200")) << "first";
  // A pause between requests longer than the header timeout: the idle
  // timeout's business, not the header's.
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  ASSERT_TRUE(SendAll(fd, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(ReadResponse(fd).starts_with("HTTP/1.1 200")) << "after the pause";
  ASSERT_TRUE(SendAll(fd, "GET /3 HTTP/1.1\r\nHo"));
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(20), &got));
  close(fd);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 408")) << got;
  EXPECT_EQ(echo.calls, 2);
}

TEST(HttpServerLimits, ABodyThatStallsIsAnswered408AndClosed) {
  CountingEcho echo;
  HttpServerOptions options;
  options.body_timeout_ms = 300;
  auto server = StartOrDie(echo.handler(), options);
  ASSERT_NE(server, nullptr);
  for (const std::string request : {"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
                                    "POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"}) {
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, request));
    std::string got;
    EXPECT_TRUE(ReadUntilClosed(fd, std::chrono::seconds(20), &got));
    close(fd);
    EXPECT_TRUE(got.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << got;
    EXPECT_NE(got.find(R"({"error":{"code":"RequestTimeout")"), std::string::npos) << got;
  }
  EXPECT_EQ(echo.calls, 0);
  EXPECT_EQ(Client().Send({"POST", Url(*server, "/in"), "whole", {}}).status, 200);
}

// The refusal hook as the FHIR API uses it: the server's own answers as
// OperationOutcomes.
struct Refusals {
  struct Seen {
    std::string target;
    int status;
    std::string code;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  HttpRefusal hook() {
    return [this](std::string_view target, int status, std::string_view code, std::string_view message) {
      {
        std::lock_guard lock(mu);
        seen.push_back({std::string(target), status, std::string(code)});
      }
      HttpResponse r;
      r.status = status;
      r.content_type = "application/fhir+json";
      r.body = R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":)";
      json::AppendQuoted(&r.body, code);
      r.body += R"(,"diagnostics":)";
      json::AppendQuoted(&r.body, message);
      r.body += "}]}";
      return r;
    };
  }
  std::vector<Seen> Taken() {
    std::lock_guard lock(mu);
    return seen;
  }
};

void ExpectOutcome(const Reply& reply, long status, const std::string& code) {
  EXPECT_EQ(reply.status, status) << reply.body;
  EXPECT_EQ(reply.Header("content-type"), "application/fhir+json");
  json::Document doc;
  ASSERT_TRUE(doc.Parse(reply.body).ok()) << reply.body;
  json::Value type, issues, value;
  ASSERT_TRUE(doc.root().Find("resourceType", &type)) << reply.body;
  EXPECT_EQ(type.string_value(), "OperationOutcome");
  ASSERT_TRUE(doc.root().Find("issue", &issues)) << reply.body;
  ASSERT_TRUE(issues.ElementAt(0).Find("code", &value)) << reply.body;
  EXPECT_EQ(value.string_value(), code);
}

TEST(HttpServerLimits, TheRefusalHookBuildsTheServersOwnAnswers) {
  Refusals refusals;
  HttpServerOptions options;
  options.max_body_bytes = 10;
  options.refusal = refusals.hook();
  auto server = StartOrDie(
      [](const HttpRequest& r) -> HttpResponse {
        if (r.path == "/fhir/throw") throw std::runtime_error("boom");
        return Echo(r);
      },
      options);
  ASSERT_NE(server, nullptr);
  Client client;
  Reply big = client.Send({"POST", Url(*server, "/fhir/Observation?x=1"), std::string(100, 'x'), {}});
  ExpectOutcome(big, 413, "PayloadTooLarge");
  EXPECT_NE(big.body.find("10 bytes"), std::string::npos) << big.body;
  EXPECT_EQ(big.Header("connection"), "close");
  ExpectOutcome(Client().Get(Url(*server, "/fhir/throw")), 500, "InternalError");
  // A request line that cannot be read: no target.
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "this is not http\r\n\r\n"));
  std::string raw = ReadToEnd(fd);
  close(fd);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 400")) << raw;
  EXPECT_NE(raw.find("OperationOutcome"), std::string::npos) << raw;

  const std::vector<Refusals::Seen> seen = refusals.Taken();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].status, 503);  // built at Start, for connections beyond the limit
  EXPECT_EQ(seen[0].target, "");
  EXPECT_EQ(seen[1].status, 413);
  EXPECT_EQ(seen[1].target, "/fhir/Observation?x=1");
  EXPECT_EQ(seen[2].status, 500);
  EXPECT_EQ(seen[2].target, "/fhir/throw");
  EXPECT_EQ(seen[3].status, 400);
  EXPECT_EQ(seen[3].target, "");
}

TEST(HttpServerLimits, ARefusalHookThatThrowsFallsBackToTheJsonError) {
  HttpServerOptions options;
  options.max_body_bytes = 10;
  options.refusal = [](std::string_view, int, std::string_view, std::string_view) -> HttpResponse {
    throw std::runtime_error("no");
  };
  auto server = StartOrDie(Echo, options);
  ASSERT_NE(server, nullptr);
  ExpectJsonError(Client().Send({"POST", Url(*server, "/in"), std::string(100, 'x'), {}}), 413, "PayloadTooLarge");
}

}  // namespace
}  // namespace iomt::server
