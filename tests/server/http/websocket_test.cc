// WebSocket on the HTTP server: the wire format (RFC 6455's own examples),
// and connections from Boost.Beast's WebSocket client (plain and over TLS):
// the handshake, messages both ways, messages queued by other threads
// while the peer is quiet, the peer's pings, the server's keep-alive pings
// past the idle timeout, close, a refused non-upgrade, Stop().
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "server/http/http_server.h"
#include "server/http/websocket_frame.h"
#include "test_client.h"
#include "test_pki.h"

namespace iomt::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = boost::beast::websocket;
using tcp = asio::ip::tcp;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes)
    out.push_back(static_cast<char>(b));
  return out;
}

TEST(WebSocketFrame, AcceptKeyIsRfc6455s) {
  EXPECT_EQ(websocket::AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketFrame, ReadsAMaskedTextFrameAndWaitsForAWholeOne) {
  // RFC 6455 5.7: a masked "Hello".
  const std::string hello = Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  std::size_t consumed = 0;
  auto frame = websocket::ParseClientFrame(hello + "next", 1024, &consumed);
  ASSERT_TRUE(frame.ok() && frame->has_value()) << frame.status().ToString();
  EXPECT_EQ((*frame)->payload, "Hello");
  EXPECT_EQ((*frame)->opcode, websocket::Opcode::kText);
  EXPECT_TRUE((*frame)->fin);
  EXPECT_EQ(consumed, hello.size());
  for (std::size_t cut = 0; cut < hello.size(); ++cut) {
    auto part = websocket::ParseClientFrame(std::string_view(hello).substr(0, cut), 1024, &consumed);
    ASSERT_TRUE(part.ok());
    EXPECT_FALSE(part->has_value()) << cut;
  }
}

TEST(WebSocketFrame, ExtendedLengthsBothWays) {
  const std::string payload(300, 'x');
  // A masked client frame with a 16-bit length and a zero mask.
  std::string frame = Bytes({0x81, 0x80 | 126, 0x01, 0x2c, 0, 0, 0, 0}) + payload;
  std::size_t consumed = 0;
  auto parsed = websocket::ParseClientFrame(frame, 1024, &consumed);
  ASSERT_TRUE(parsed.ok() && parsed->has_value());
  EXPECT_EQ((*parsed)->payload, payload);
  const std::string out = websocket::ServerFrame(websocket::Opcode::kText, payload);
  EXPECT_EQ(out.substr(0, 4), Bytes({0x81, 126, 0x01, 0x2c}));
  EXPECT_EQ(out.size(), 4 + payload.size());
  const std::string big = websocket::ServerFrame(websocket::Opcode::kText, std::string(70'000, 'y'));
  EXPECT_EQ(big.substr(0, 10), Bytes({0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}));
  EXPECT_EQ(websocket::ServerFrame(websocket::Opcode::kPing, ""), Bytes({0x89, 0}));
}

TEST(WebSocketFrame, ProtocolErrorsAndTooBig) {
  std::size_t consumed = 0;
  // Unmasked.
  EXPECT_EQ(websocket::ParseClientFrame(Bytes({0x81, 0x01, 'a'}), 1024, &consumed).status().code(),
            StatusCode::kInvalidArgument);
  // Reserved bit, reserved opcode.
  EXPECT_FALSE(websocket::ParseClientFrame(Bytes({0xC1, 0x80, 0, 0, 0, 0}), 1024, &consumed).ok());
  EXPECT_FALSE(websocket::ParseClientFrame(Bytes({0x83, 0x80, 0, 0, 0, 0}), 1024, &consumed).ok());
  // A fragmented ping; a ping of 126 bytes.
  EXPECT_FALSE(websocket::ParseClientFrame(Bytes({0x09, 0x80, 0, 0, 0, 0}), 1024, &consumed).ok());
  EXPECT_FALSE(websocket::ParseClientFrame(Bytes({0x89, 0x80 | 126, 0, 126}), 1024, &consumed).ok());
  // Over the limit: known from the header alone.
  EXPECT_EQ(websocket::ParseClientFrame(Bytes({0x81, 0x80 | 126, 0x04, 0x01}), 1024, &consumed).status().code(),
            StatusCode::kOutOfRange);
}

// A handler that accepts WebSockets on /ws: each text "x" is answered
// "echo x"; the sockets are kept so that tests can Send from their thread.
struct EchoSockets {
  Mutex mu;
  std::vector<std::shared_ptr<WebSocket>> open IOMT_GUARDED_BY(mu);
  std::atomic<int> closed{0};

  HttpHandler handler() {
    auto callbacks = std::make_shared<WebSocketHandler>();
    callbacks->on_message = [this](const std::shared_ptr<WebSocket>& socket, std::string_view text) {
      {
        MutexLock lock(mu);
        if (std::find(open.begin(), open.end(), socket) == open.end()) open.push_back(socket);
      }
      EXPECT_TRUE(socket->Send("echo " + std::string(text)));
    };
    callbacks->on_close = [this](const std::shared_ptr<WebSocket>&) { ++closed; };
    return [callbacks](const HttpRequest& r) {
      HttpResponse out;
      if (r.path == "/ws") {
        out.websocket = callbacks;
      } else {
        out.body = "{}";
      }
      return out;
    };
  }
  std::shared_ptr<WebSocket> First() {
    MutexLock lock(mu);
    return open.empty() ? nullptr : open.front();
  }
};

std::unique_ptr<HttpServer> StartOrDie(HttpHandler handler, HttpServerOptions options = {}) {
  options.port = 0;
  auto server = HttpServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

// Connects `client` to the server's /ws and makes the WebSocket handshake.
void Open(ws::stream<tcp::socket>& client, const HttpServer& server) {
  client.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())});
  client.handshake("127.0.0.1", "/ws");
}

std::string Read(ws::stream<tcp::socket>& socket) {
  beast::flat_buffer buffer;
  socket.read(buffer);
  return beast::buffers_to_string(buffer.data());
}

TEST(HttpServerWebSocket, MessagesBothWaysAndFromOtherThreads) {
  EchoSockets sockets;
  auto server = StartOrDie(sockets.handler());
  ASSERT_NE(server, nullptr);
  asio::io_context io;
  ws::stream<tcp::socket> client(io);
  Open(client, *server);
  client.text(true);
  client.write(asio::buffer(std::string("bind a")));
  EXPECT_EQ(Read(client), "echo bind a");
  // A message fragmented by the client arrives whole.
  client.auto_fragment(true);
  client.write_buffer_bytes(8);
  client.write(asio::buffer(std::string(100, 'z')));
  EXPECT_EQ(Read(client), "echo " + std::string(100, 'z'));

  // Another thread queues while the client says nothing: it arrives; the
  // same message queued twice before it went is sent once.
  std::shared_ptr<WebSocket> socket = sockets.First();
  ASSERT_NE(socket, nullptr);
  std::thread([socket] { EXPECT_TRUE(socket->Send("ping 1")); }).join();
  EXPECT_EQ(Read(client), "ping 1");

  // The client's ping is answered, and it does not hold up what is queued
  // next (the server is not stuck waiting for a data message).
  std::atomic<int> pongs{0};
  client.control_callback([&](ws::frame_type kind, beast::string_view) {
    if (kind == ws::frame_type::pong) ++pongs;
  });
  client.ping({});
  std::thread([socket] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(socket->Send("after ping"));
  }).join();
  EXPECT_EQ(Read(client), "after ping");
  EXPECT_EQ(pongs.load(), 1);

  client.close(ws::close_code::normal);
  for (int i = 0; i < 200 && sockets.closed.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(sockets.closed.load(), 1);
  EXPECT_FALSE(socket->Send("gone"));
}

TEST(HttpServerWebSocket, KeptAlivePastTheIdleTimeoutByPings) {
  EchoSockets sockets;
  HttpServerOptions options;
  options.idle_timeout_ms = 300;
  auto server = StartOrDie(sockets.handler(), options);
  ASSERT_NE(server, nullptr);
  asio::io_context io;
  ws::stream<tcp::socket> client(io);
  Open(client, *server);
  client.write(asio::buffer(std::string("hi")));
  EXPECT_EQ(Read(client), "echo hi");
  std::atomic<int> pings{0};
  client.control_callback([&](ws::frame_type kind, beast::string_view) {
    if (kind == ws::frame_type::ping) ++pings;
  });
  std::shared_ptr<WebSocket> socket = sockets.First();
  ASSERT_NE(socket, nullptr);
  // Four idle timeouts later the connection is still there (the client's
  // read answers the server's pings meanwhile).
  std::thread later([socket] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
    EXPECT_TRUE(socket->Send("still here"));
  });
  EXPECT_EQ(Read(client), "still here");
  later.join();
  EXPECT_GE(pings.load(), 2);
}

TEST(HttpServerWebSocket, AnUpgradeOnlyRouteAnswers426ToPlainRequestsAndBinaryCloses) {
  EchoSockets sockets;
  auto server = StartOrDie(sockets.handler());
  ASSERT_NE(server, nullptr);
  testing::Reply plain =
      testing::Client().Send({"GET", "http://127.0.0.1:" + std::to_string(server->port()) + "/ws", "", {}});
  EXPECT_EQ(plain.status, 426);
  EXPECT_EQ(plain.Header("upgrade"), "websocket");

  asio::io_context io;
  ws::stream<tcp::socket> client(io);
  Open(client, *server);
  client.binary(true);
  client.write(asio::buffer(std::string("\x01\x02", 2)));
  beast::flat_buffer buffer;
  beast::error_code ec;
  client.read(buffer, ec);
  EXPECT_EQ(ec, ws::error::closed);
  EXPECT_EQ(client.reason().code, ws::close_code::unknown_data);
}

TEST(HttpServerWebSocket, StopEndsOpenWebSockets) {
  EchoSockets sockets;
  auto server = StartOrDie(sockets.handler());
  ASSERT_NE(server, nullptr);
  asio::io_context io;
  ws::stream<tcp::socket> client(io);
  Open(client, *server);
  client.write(asio::buffer(std::string("hi")));
  EXPECT_EQ(Read(client), "echo hi");
  server->Stop();  // returns: the WebSocket's thread ended
  beast::flat_buffer buffer;
  beast::error_code ec;
  client.read(buffer, ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(sockets.closed.load(), 1);
}

TEST(HttpServerWebSocket, OverTls) {
  TestPki pki;
  ASSERT_TRUE(pki.ok() && pki.Issue("server", "server-1", 1));
  EchoSockets sockets;
  HttpServerOptions options;
  options.tls_cert_file = pki.Path("server.pem");
  options.tls_key_file = pki.Path("server.key");
  auto server = StartOrDie(sockets.handler(), options);
  ASSERT_NE(server, nullptr);
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.load_verify_file(pki.ca());
  tls.set_verify_mode(asio::ssl::verify_peer);
  ws::stream<beast::ssl_stream<tcp::socket>> client(io, tls);
  beast::get_lowest_layer(client).connect(
      {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server->port())});
  client.next_layer().handshake(asio::ssl::stream_base::client);
  client.handshake("127.0.0.1", "/ws");
  // Two messages in one write: the second's bytes may wait inside the TLS
  // layer, where polling the socket does not see them.
  client.text(true);
  client.write(asio::buffer(std::string("one")));
  client.write(asio::buffer(std::string("two")));
  beast::flat_buffer buffer;
  client.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "echo one");
  buffer.clear();
  client.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "echo two");
  std::shared_ptr<WebSocket> socket = sockets.First();
  ASSERT_NE(socket, nullptr);
  EXPECT_TRUE(socket->Send("pushed"));
  buffer.clear();
  client.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "pushed");
  client.close(ws::close_code::normal);
}

}  // namespace
}  // namespace iomt::server
