// The WebSocket wire format (RFC 6455) as the server side speaks it: the
// handshake's accept key, client frames read from a buffer, server frames
// written. Pure functions; the connection loop is in http_server.cc.
//
// Why not Beast's websocket::stream: a connection of `iomt serve` is one
// thread that must both wait for the peer and send notifications that other
// threads queue. Beast's synchronous stream allows neither a second thread
// nor a wait that a queued message can interrupt (its read blocks until a
// whole data message, answering pings meanwhile), and the rest of the server
// is synchronous on purpose (docs/adr/0011). Framing is small; the loop can
// then poll the socket and a wake-up descriptor together (ADR 0026).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace iomt::server::websocket {

enum class Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

struct Frame {
  bool fin = true;
  Opcode opcode = Opcode::kText;
  std::string payload;  // unmasked
};

// Sec-WebSocket-Accept for the client's Sec-WebSocket-Key: base64 of the
// SHA-1 of the key and RFC 6455's GUID.
std::string AcceptKey(std::string_view client_key);

// One frame from the front of `in` (bytes from a client). nullopt: not
// whole yet (read more). kInvalidArgument for what RFC 6455 makes a
// protocol error (close 1002): an unmasked frame, reserved bits or opcodes,
// a fragmented or long control frame; kOutOfRange for a payload over
// `max_payload` (close 1009). `*consumed` gets the frame's length.
Result<std::optional<Frame>> ParseClientFrame(std::string_view in, std::size_t max_payload, std::size_t* consumed);

// A whole, unmasked server frame.
std::string ServerFrame(Opcode opcode, std::string_view payload);

// A close frame's payload: the status code (1000 normal, 1002 protocol
// error, 1003 unsupported data, 1009 too big) and a reason.
std::string ClosePayload(std::uint16_t code, std::string_view reason);

}  // namespace iomt::server::websocket
