#include "common/json/document.h"

#include <simdjson.h>

#include <string>

namespace iomt::json {

struct Document::Impl {
  simdjson::dom::parser parser;
  std::string padded;  // input copy with padding, for Parse()
  DocView view;
};

Document::Document(ParseOptions options) : impl_(std::make_unique<Impl>()), options_(options) {}
Document::~Document() = default;

Status Document::Parse(std::string_view json) {
  if (json.size() > options_.max_bytes) {
    return OutOfRange("JSON document is " + std::to_string(json.size()) + " bytes, larger than the limit of " +
                      std::to_string(options_.max_bytes) + " bytes");
  }
  impl_->padded.assign(json.data(), json.size());
  impl_->padded.append(kPadding, '\0');
  return ParsePadded(impl_->padded.data(), json.size());
}

namespace {

Status MapError(simdjson::error_code code, const ParseOptions& options) {
  using simdjson::error_code;
  switch (code) {
    case error_code::DEPTH_ERROR:
      return OutOfRange("JSON nesting is deeper than " + std::to_string(options.max_depth) + " levels");
    case error_code::CAPACITY:
    case error_code::MEMALLOC: return OutOfRange("JSON document is too large");
    case error_code::UTF8_ERROR: return SyntaxError("invalid JSON: the text is not valid UTF-8");
    case error_code::NUMBER_ERROR:
      return OutOfRange("invalid JSON: a number is malformed or outside the range of 64-bit integers and doubles");
    case error_code::EMPTY: return SyntaxError("invalid JSON: the document is empty");
    case error_code::UNCLOSED_STRING: return SyntaxError("invalid JSON: a string is not closed");
    case error_code::STRING_ERROR:
      return SyntaxError("invalid JSON: a string has an invalid escape or control character");
    case error_code::T_ATOM_ERROR:
    case error_code::F_ATOM_ERROR:
    case error_code::N_ATOM_ERROR:
      return SyntaxError("invalid JSON: unexpected literal (expected true, false or null)");
    case error_code::TAPE_ERROR:
    case error_code::INCOMPLETE_ARRAY_OR_OBJECT:
      return SyntaxError(
          "invalid JSON: unexpected structure (unbalanced brackets, missing comma or colon, or trailing content)");
    default: return SyntaxError(std::string("invalid JSON: ") + simdjson::error_message(code));
  }
}

}  // namespace

Status Document::ParsePadded(const char* data, std::size_t len) {
  root_ = Value();
  // A UTF-8 byte-order mark (Windows tools write one) is not part of the JSON.
  if (len >= 3 && static_cast<unsigned char>(data[0]) == 0xEF && static_cast<unsigned char>(data[1]) == 0xBB &&
      static_cast<unsigned char>(data[2]) == 0xBF) {
    data += 3;
    len -= 3;
  }
  if (len > options_.max_bytes) {
    return OutOfRange("JSON document is " + std::to_string(len) + " bytes, larger than the limit of " +
                      std::to_string(options_.max_bytes) + " bytes");
  }
  simdjson::dom::parser& parser = impl_->parser;
  // The depth limit must be in place before parsing; capacity grows on demand.
  if (parser.max_depth() != options_.max_depth || parser.capacity() < len) {
    std::size_t capacity = parser.capacity() < len ? len : parser.capacity();
    if (capacity < 4096) capacity = 4096;
    if (auto err = parser.allocate(capacity, options_.max_depth); err) return MapError(err, options_);
  }
  simdjson::dom::element element;
  if (auto err = parser.parse(data, len, /*realloc_if_needed=*/false).get(element); err) {
    return MapError(err, options_);
  }
  impl_->view.tape = parser.doc.tape.get();
  impl_->view.strings = parser.doc.string_buf.get();
  // Word 0 is the root marker; the root value starts at word 1.
  root_ = Value::FromTape(&impl_->view, impl_->view.tape + 1);
  return Status::Ok();
}

Result<std::unique_ptr<Document>> ParseDocument(std::string_view json, ParseOptions options) {
  auto doc = std::make_unique<Document>(options);
  if (Status st = doc->Parse(json); !st.ok()) return st;
  return doc;
}

}  // namespace iomt::json
