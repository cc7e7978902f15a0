#include "expr/jmespath/lexer.h"

#include <string>

#include "common/url.h"
#include "common/utf8.h"

namespace iomt::jmespath::internal {

namespace {

Status LexError(std::size_t position, std::string message) {
  return SyntaxError(std::move(message)).WithDetail("syntax").WithPosition(static_cast<long>(position));
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Offset of the first byte that is not part of well-formed UTF-8, or npos.
// Checked up front so that every string an expression yields is valid UTF-8.
std::size_t FindInvalidUtf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    std::uint32_t cp = c & (0x3F >> (len - 1));
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

class Lexer {
 public:
  Lexer(std::string_view s, json::Arena* strings, std::vector<Token>* tokens)
      : s_(s), strings_(strings), tokens_(tokens) {}

  Status Run() {
    while (true) {
      while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
        ++pos_;
      if (pos_ >= s_.size()) break;
      IOMT_RETURN_IF_ERROR(Next());
    }
    Push(TokenType::kEof, s_.size(), s_.size());
    return Status::Ok();
  }

 private:
  void Push(TokenType type, std::size_t begin, std::size_t end) {
    Token t;
    t.type = type;
    t.begin = static_cast<std::uint32_t>(begin);
    t.end = static_cast<std::uint32_t>(end);
    t.text = s_.substr(begin, end - begin);
    tokens_->push_back(t);
  }
  void Single(TokenType type) {
    Push(type, pos_, pos_ + 1);
    ++pos_;
  }
  // A one-character operator, or a two-character one when `second` follows.
  void Operator(char second, TokenType one, TokenType two) {
    if (pos_ + 1 < s_.size() && s_[pos_ + 1] == second) {
      Push(two, pos_, pos_ + 2);
      pos_ += 2;
    } else {
      Single(one);
    }
  }

  Status Next() {
    const char c = s_[pos_];
    if (IsIdentStart(c)) {
      std::size_t begin = pos_;
      while (pos_ < s_.size() && IsIdentChar(s_[pos_]))
        ++pos_;
      Push(TokenType::kUnquotedIdentifier, begin, pos_);
      return Status::Ok();
    }
    if (IsDigit(c) || c == '-') return Number();
    switch (c) {
      case '.': Single(TokenType::kDot); return Status::Ok();
      case '*': Single(TokenType::kStar); return Status::Ok();
      case '@': Single(TokenType::kCurrent); return Status::Ok();
      case ',': Single(TokenType::kComma); return Status::Ok();
      case ':': Single(TokenType::kColon); return Status::Ok();
      case '(': Single(TokenType::kLparen); return Status::Ok();
      case ')': Single(TokenType::kRparen); return Status::Ok();
      case '{': Single(TokenType::kLbrace); return Status::Ok();
      case '}': Single(TokenType::kRbrace); return Status::Ok();
      case ']': Single(TokenType::kRbracket); return Status::Ok();
      case '[':
        // "[]" and "[?" are single tokens only when written without a space.
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == ']') {
          Push(TokenType::kFlatten, pos_, pos_ + 2);
          pos_ += 2;
        } else if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '?') {
          Push(TokenType::kFilter, pos_, pos_ + 2);
          pos_ += 2;
        } else {
          Single(TokenType::kLbracket);
        }
        return Status::Ok();
      case '|': Operator('|', TokenType::kPipe, TokenType::kOr); return Status::Ok();
      case '&': Operator('&', TokenType::kExpref, TokenType::kAnd); return Status::Ok();
      case '!': Operator('=', TokenType::kNot, TokenType::kNe); return Status::Ok();
      case '<': Operator('=', TokenType::kLt, TokenType::kLte); return Status::Ok();
      case '>': Operator('=', TokenType::kGt, TokenType::kGte); return Status::Ok();
      case '=':
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') {
          Push(TokenType::kEq, pos_, pos_ + 2);
          pos_ += 2;
          return Status::Ok();
        }
        return LexError(pos_, "unexpected '=' (did you mean '=='?)");
      case '"': return QuotedIdentifier();
      case '\'': return Delimited('\'', TokenType::kRawString, "raw string");
      case '`': return Delimited('`', TokenType::kLiteral, "JSON literal");
      default: break;
    }
    auto uc = static_cast<unsigned char>(c);
    if (uc < 0x20 || uc >= 0x7F) return LexError(pos_, "unexpected character (only allowed inside quotes)");
    return LexError(pos_, std::string("unexpected character '") + c + "'");
  }

  Status Number() {
    const std::size_t begin = pos_;
    const bool negative = s_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return LexError(begin, "'-' must be followed by digits");
    // Accumulated negatively so that INT64_MIN is representable.
    std::int64_t value = 0;
    while (pos_ < s_.size() && IsDigit(s_[pos_])) {
      int digit = s_[pos_] - '0';
      if (value < (INT64_MIN + digit) / 10) return LexError(begin, "number is too large");
      value = value * 10 - digit;
      ++pos_;
    }
    if (!negative) {
      if (value == INT64_MIN) return LexError(begin, "number is too large");
      value = -value;
    }
    Push(TokenType::kNumber, begin, pos_);
    tokens_->back().number = value;
    return Status::Ok();
  }

  // "..." with JSON string escapes.
  Status QuotedIdentifier() {
    const std::size_t begin = pos_++;
    std::string decoded;
    bool escaped = false;
    std::size_t run = pos_;  // start of the bytes not yet copied to `decoded`
    while (true) {
      if (pos_ >= s_.size()) return LexError(begin, "unterminated quoted identifier (missing '\"')");
      const char c = s_[pos_];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) {
        return LexError(pos_, "control characters in a quoted identifier must be escaped");
      }
      if (c != '\\') {
        ++pos_;
        continue;
      }
      escaped = true;
      decoded.append(s_.data() + run, pos_ - run);
      const std::size_t esc = pos_;
      if (pos_ + 1 >= s_.size()) return LexError(begin, "unterminated quoted identifier (missing '\"')");
      const char e = s_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"': decoded.push_back('"'); break;
        case '\\': decoded.push_back('\\'); break;
        case '/': decoded.push_back('/'); break;
        case 'b': decoded.push_back('\b'); break;
        case 'f': decoded.push_back('\f'); break;
        case 'n': decoded.push_back('\n'); break;
        case 'r': decoded.push_back('\r'); break;
        case 't': decoded.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = 0;
          IOMT_RETURN_IF_ERROR(Hex4(esc, &cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return LexError(esc, "invalid \\u escape: unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
              const std::size_t esc2 = pos_;
              pos_ += 2;
              IOMT_RETURN_IF_ERROR(Hex4(esc2, &low));
            }
            if (low < 0xDC00 || low > 0xDFFF) return LexError(esc, "invalid \\u escape: unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          utf8::Append(&decoded, cp);
          break;
        }
        default: return LexError(esc, "invalid escape in a quoted identifier (only JSON escapes are allowed)");
      }
      run = pos_;
    }
    std::string_view text = s_.substr(begin + 1, pos_ - begin - 1);
    if (escaped) {
      decoded.append(s_.data() + run, pos_ - run);
      text = strings_->CopyString(decoded);
    }
    ++pos_;  // the closing quote
    Push(TokenType::kQuotedIdentifier, begin, pos_);
    tokens_->back().text = text;
    return Status::Ok();
  }

  // The 4 hex digits after "\u" (pos_ is on the first one).
  Status Hex4(std::size_t esc, std::uint32_t* cp) {
    if (pos_ + 4 > s_.size()) return LexError(esc, "invalid \\u escape (expected 4 hex digits)");
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int h = url::HexDigit(s_[pos_ + k]);
      if (h < 0) return LexError(esc, "invalid \\u escape (expected 4 hex digits)");
      v = v * 16 + static_cast<std::uint32_t>(h);
    }
    pos_ += 4;
    *cp = v;
    return Status::Ok();
  }

  // Text between `quote`s in which only "\<quote>" is an escape (raw strings
  // and JSON literals); other backslash pairs stay as written.
  Status Delimited(char quote, TokenType type, const char* what) {
    const std::size_t begin = pos_++;
    std::string decoded;
    bool escaped = false;
    std::size_t run = pos_;
    while (true) {
      if (pos_ >= s_.size()) {
        return LexError(begin, std::string("unterminated ") + what + " (missing '" + quote + "')");
      }
      const char c = s_[pos_];
      if (c == quote) break;
      if (c != '\\') {
        ++pos_;
        continue;
      }
      // A backslash always takes the next character with it, so in 'a\\' the
      // second backslash does not escape the quote; only "\<quote>" loses its
      // backslash.
      if (pos_ + 1 >= s_.size()) {
        ++pos_;  // reported as unterminated at the top of the loop
        continue;
      }
      if (s_[pos_ + 1] == quote) {
        escaped = true;
        decoded.append(s_.data() + run, pos_ - run);
        decoded.push_back(quote);
        run = pos_ + 2;
      }
      pos_ += 2;
    }
    std::string_view text = s_.substr(begin + 1, pos_ - begin - 1);
    if (escaped) {
      decoded.append(s_.data() + run, pos_ - run);
      text = strings_->CopyString(decoded);
    }
    ++pos_;
    Push(type, begin, pos_);
    tokens_->back().text = text;
    return Status::Ok();
  }

  std::string_view s_;
  json::Arena* strings_;
  std::vector<Token>* tokens_;
  std::size_t pos_ = 0;
};

}  // namespace

Status Tokenize(std::string_view expression, json::Arena* strings, std::vector<Token>* tokens) {
  tokens->clear();
  if (std::size_t bad = FindInvalidUtf8(expression); bad != std::string_view::npos) {
    return LexError(bad, "the expression is not valid UTF-8");
  }
  return Lexer(expression, strings, tokens).Run();
}

std::string Describe(const Token& token) {
  switch (token.type) {
    case TokenType::kEof: return "end of expression";
    case TokenType::kQuotedIdentifier: return "quoted identifier";
    case TokenType::kRawString: return "raw string";
    case TokenType::kLiteral: return "JSON literal";
    case TokenType::kNumber: return "number " + std::to_string(token.number);
    default: break;
  }
  std::string out = token.type == TokenType::kUnquotedIdentifier ? "identifier '" : "'";
  out.append(token.text);
  out.push_back('\'');
  return out;
}

}  // namespace iomt::jmespath::internal
