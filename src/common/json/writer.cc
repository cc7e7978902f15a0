#include "common/json/writer.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/datetime.h"

namespace iomt::json {

namespace {
// Bytes that must be escaped in a JSON string: controls, '"' and '\\'.
constexpr bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }
}  // namespace

char* WriteQuoted(char* p, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '"';
  const char* in = s.data();
  const char* end = in + s.size();
  while (in < end) {
    // Eight bytes at a time while none needs escaping: a byte needs it when
    // it is below 0x20, '"' or '\\' (the classic "has a zero byte" tricks).
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    while (end - in >= 8) {
      std::uint64_t w;
      std::memcpy(&w, in, 8);
      std::uint64_t below = (w - kOnes * 0x20) & ~w;
      std::uint64_t q = w ^ (kOnes * '"');
      std::uint64_t b = w ^ (kOnes * '\\');
      if (((below | ((q - kOnes) & ~q) | ((b - kOnes) & ~b)) & kHighs) != 0) break;
      std::memcpy(p, in, 8);
      p += 8;
      in += 8;
    }
    while (in < end && !NeedsEscape(static_cast<unsigned char>(*in)))
      *p++ = *in++;
    if (in == end) break;
    auto c = static_cast<unsigned char>(*in++);
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      case '\b': *p++ = 'b'; break;
      case '\f': *p++ = 'f'; break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 15];
    }
  }
  *p++ = '"';
  return p;
}

void AppendQuoted(std::string* out, std::string_view s) {
  std::size_t old = out->size();
  out->resize(old + QuotedBound(s));
  char* end = WriteQuoted(out->data() + old, s);
  out->resize(static_cast<std::size_t>(end - out->data()));
}

namespace {

void AppendNumber(std::string* out, double d) {
  if (!std::isfinite(d)) {
    // JSON has no token for these; Json.NET's default writes them as strings.
    out->append(std::isnan(d) ? "\"NaN\"" : (d > 0 ? "\"Infinity\"" : "\"-Infinity\""));
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, static_cast<std::size_t>(res.ptr - buf));
  out->append(text);
  // Keep a float a float when it is read back (70.0 stays 70.0, as Json.NET writes it).
  if (text.find_first_of(".eEn") == std::string_view::npos) out->append(".0");
}

void Newline(std::string* out, const WriteOptions& options, int depth) {
  if (options.indent <= 0) return;
  out->push_back('\n');
  out->append(static_cast<std::size_t>(options.indent) * static_cast<std::size_t>(depth), ' ');
}

void Write(std::string* out, const Value& v, const WriteOptions& options, int depth) {
  switch (v.kind()) {
    case Kind::kNull: out->append("null"); break;
    case Kind::kBool: out->append(v.bool_value() ? "true" : "false"); break;
    case Kind::kInt: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, v.int_value());
      out->append(buf, res.ptr);
      break;
    }
    case Kind::kUInt: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, v.uint_value());
      out->append(buf, res.ptr);
      break;
    }
    case Kind::kDouble: AppendNumber(out, v.double_value()); break;
    case Kind::kString: AppendQuoted(out, v.string_value()); break;
    case Kind::kDate: {
      out->push_back('"');
      datetime::AppendIso(out, v.date_ticks());
      out->push_back('"');
      break;
    }
    case Kind::kArray: {
      out->push_back('[');
      bool first = true;
      for (Value e : v.elements()) {
        if (!first) out->push_back(',');
        first = false;
        Newline(out, options, depth + 1);
        Write(out, e, options, depth + 1);
      }
      if (!first) Newline(out, options, depth);
      out->push_back(']');
      break;
    }
    case Kind::kObject: {
      out->push_back('{');
      bool first = true;
      for (const Member& m : v.members()) {
        if (!first) out->push_back(',');
        first = false;
        Newline(out, options, depth + 1);
        AppendQuoted(out, m.key);
        out->push_back(':');
        if (options.indent > 0) out->push_back(' ');
        Write(out, m.value, options, depth + 1);
      }
      if (!first) Newline(out, options, depth);
      out->push_back('}');
      break;
    }
  }
}

}  // namespace

void AppendJson(std::string* out, const Value& value, const WriteOptions& options) { Write(out, value, options, 0); }

std::string ToJson(const Value& value, const WriteOptions& options) {
  std::string s;
  AppendJson(&s, value, options);
  return s;
}

}  // namespace iomt::json
