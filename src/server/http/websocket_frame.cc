#include "server/http/websocket_frame.h"

#include <array>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace iomt::server::websocket {

std::string AcceptKey(std::string_view client_key) {
  std::string text(client_key);
  text.append("258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> out{};
  const int n = EVP_EncodeBlock(out.data(), digest.data(), SHA_DIGEST_LENGTH);
  return {reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n)};
}

Result<std::optional<Frame>> ParseClientFrame(std::string_view in, std::size_t max_payload, std::size_t* consumed) {
  *consumed = 0;
  if (in.size() < 2) return std::optional<Frame>();
  const auto b0 = static_cast<unsigned char>(in[0]);
  const auto b1 = static_cast<unsigned char>(in[1]);
  Frame frame;
  frame.fin = (b0 & 0x80) != 0;
  if ((b0 & 0x70) != 0) return InvalidArgument("reserved bits set (no extension was agreed)");
  const unsigned op = b0 & 0x0F;
  if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA)
    return InvalidArgument("reserved opcode");
  frame.opcode = static_cast<Opcode>(op);
  if ((b1 & 0x80) == 0) return InvalidArgument("a client frame must be masked");
  std::uint64_t length = b1 & 0x7F;
  std::size_t at = 2;
  if (length == 126 || length == 127) {
    const std::size_t bytes = length == 126 ? 2 : 8;
    if (in.size() < at + bytes) return std::optional<Frame>();
    length = 0;
    for (std::size_t i = 0; i < bytes; ++i)
      length = (length << 8) | static_cast<unsigned char>(in[at + i]);
    at += bytes;
  }
  const bool control = (op & 0x8) != 0;
  if (control && (!frame.fin || length > 125)) return InvalidArgument("a control frame must be whole and short");
  if (length > max_payload) {
    return OutOfRange("a message of " + std::to_string(length) + " bytes; at most " + std::to_string(max_payload) +
                      " are taken");
  }
  if (in.size() < at + 4 + length) return std::optional<Frame>();
  const std::string_view mask = in.substr(at, 4);
  at += 4;
  frame.payload.resize(length);
  for (std::size_t i = 0; i < length; ++i)
    frame.payload[i] = static_cast<char>(in[at + i] ^ mask[i % 4]);
  *consumed = at + length;
  return std::optional<Frame>(std::move(frame));
}

std::string ServerFrame(Opcode opcode, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  out.push_back(static_cast<char>(0x80 | static_cast<unsigned>(opcode)));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xFF));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  out.append(payload);
  return out;
}

std::string ClosePayload(std::uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, 123));
  return out;
}

}  // namespace iomt::server::websocket
