// Parsing JSON with the position of every token: for mapping files and
// configuration, where every error must say where it is.
//
// Positions follow Json.NET's JsonTextReader, because iomt-fhir's validation
// messages ("Line Number: 13, Position: 40. ...") and users' muscle memory
// come from it: lines are 1-based, and a token's position is the 1-based
// column of its last character (the closing quote of a string, the opening
// bracket of an object or array). Syntax errors use Json.NET's reader
// messages, with its "Path '...', line N, position M." suffix.
//
// Not for the data path: this parser builds an owning tree and is about a
// hundred times slower than json::Document.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/arena.h"
#include "common/json/value.h"
#include "common/status.h"

namespace iomt::json {

struct SourcePos {
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based column of the token's last character
};

struct SourceMember;

struct SourceNode {
  Kind kind = Kind::kNull;
  std::string text;  // strings: the decoded text; numbers: the lexeme
  bool boolean = false;
  std::int64_t integer = 0;           // kInt
  double number = 0;                  // kDouble (and kInt, as a double)
  std::vector<SourceMember> members;  // kObject, in document order
  std::vector<SourceNode> items;      // kArray
  SourcePos begin;                    // first character
  SourcePos pos;     // Json.NET's line info of the value (its last character for scalars, '{'/'[' for containers)
  std::string path;  // Json.NET's path of the value, e.g. "template[0].typeName"
  // The value's bytes in the parsed text: [raw_begin, raw_end). The
  // provisioning API keeps a mapping embedded in a request exactly as sent.
  std::size_t raw_begin = 0;
  std::size_t raw_end = 0;

  // The member named `key` (exact match), or nullptr.
  [[nodiscard]] const SourceMember* Find(std::string_view key) const;
};

struct SourceMember {
  std::string key;
  SourcePos key_pos;  // Json.NET's line info after reading the property name (the ':' of the member)
  SourceNode value;
};

struct SourceDocument {
  SourceNode root;
};

// Parses `text` (a leading UTF-8 byte-order mark is skipped). On a syntax
// error the Status message is Json.NET's, e.g. "Unexpected character
// encountered while parsing value: }. Path 'templateType', line 3, position 1."
// and Status::position() is the byte offset.
Result<SourceDocument> ParseSource(std::string_view text, int max_depth = 64);

// The text of `node` as it appears in `text` (the text it was parsed from).
inline std::string_view RawText(std::string_view text, const SourceNode& node) {
  return text.substr(node.raw_begin, node.raw_end - node.raw_begin);
}

// Converts a source tree into a Value in `arena` (positions dropped).
Value ToValue(const SourceNode& node, Arena* arena);

}  // namespace iomt::json
