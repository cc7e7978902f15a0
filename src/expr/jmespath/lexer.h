// Splits a JMESPath expression into tokens. Private to src/expr/jmespath.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/json/arena.h"
#include "common/status.h"

namespace iomt::jmespath::internal {

enum class TokenType : std::uint8_t {
  kEof,
  kUnquotedIdentifier,
  kQuotedIdentifier,
  kRawString,  // 'text'
  kLiteral,    // `json`
  kNumber,     // -?[0-9]+ (only inside brackets)
  kDot,
  kStar,
  kFlatten,  // []
  kFilter,   // [?
  kLbracket,
  kRbracket,
  kLbrace,
  kRbrace,
  kLparen,
  kRparen,
  kComma,
  kColon,
  kPipe,
  kOr,
  kAnd,
  kNot,
  kEq,
  kNe,
  kLt,
  kLte,
  kGt,
  kGte,
  kCurrent,  // @
  kExpref,   // &
};

struct Token {
  TokenType type = TokenType::kEof;
  std::uint32_t begin = 0;  // byte offsets in the expression
  std::uint32_t end = 0;
  // Identifiers and raw strings: the decoded text. Literals: the JSON text
  // with "\`" unescaped. Otherwise the token's source text.
  std::string_view text;
  std::int64_t number = 0;  // kNumber
};

// Tokenizes `expression` (which must outlive the tokens). Decoded strings that
// differ from the source are allocated in `strings`. The last token is kEof.
// Errors are syntax errors with detail "syntax" and the offending position.
Status Tokenize(std::string_view expression, json::Arena* strings, std::vector<Token>* tokens);

// How a token is named in error messages: "']'", "identifier 'foo'", "end of expression".
std::string Describe(const Token& token);

}  // namespace iomt::jmespath::internal
