#include "common/url.h"

namespace iomt::url {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<QueryPiece> SplitQuery(std::string_view query) {
  std::vector<QueryPiece> pieces;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view text = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (text.empty()) continue;
    const std::size_t eq = text.find('=');
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : text.substr(eq + 1);
    pieces.push_back({text, text.substr(0, eq), value});
  }
  return pieces;
}

std::string QueryValue(std::string_view query, std::string_view name) {
  for (const QueryPiece& piece : SplitQuery(query)) {
    if (piece.name == name) return PercentDecode(piece.value);
  }
  return "";
}

}  // namespace iomt::url
