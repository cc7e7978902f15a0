#include "common/json/writer.h"

#include <charconv>
#include <cmath>

#include "common/datetime.h"

namespace iomt::json {

void AppendQuoted(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
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
