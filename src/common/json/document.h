// json::Document — parses JSON text into a Value tree, fast (simdjson DOM).
//
// A Document owns a simdjson parser and reuses its buffers from one Parse to
// the next, so parsing a stream of messages allocates nothing once warm.
// Every Value obtained from root() is invalidated by the next Parse and by the
// Document's destruction. Not thread-safe: use one Document per thread.
//
// Limits are enforced here so that no later stage can be driven into deep
// recursion or unbounded memory: nesting deeper than ParseOptions::max_depth
// and documents larger than max_bytes are refused with a clear Status.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/json/value.h"
#include "common/status.h"

namespace iomt::json {

struct ParseOptions {
  // Json.NET's default MaxDepth is 64, and so is iomt's.
  std::size_t max_depth = 64;
  std::size_t max_bytes = 64u << 20;
};

class Document {
 public:
  // simdjson reads up to this many bytes past the end of the input.
  static constexpr std::size_t kPadding = 64;

  explicit Document(ParseOptions options = {});
  ~Document();
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  // Parses `json` (copied into an internal padded buffer). A leading UTF-8
  // byte-order mark is skipped.
  Status Parse(std::string_view json);
  // Parses without copying: `data[len .. len + kPadding)` must be readable.
  Status ParsePadded(const char* data, std::size_t len);

  // The root value of the last successful Parse (null before).
  [[nodiscard]] Value root() const { return root_; }
  [[nodiscard]] const ParseOptions& options() const { return options_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ParseOptions options_;
  Value root_;
};

// Parses `json` into a Document owned by the returned pointer; convenience for
// tests and tools.
Result<std::unique_ptr<Document>> ParseDocument(std::string_view json, ParseOptions options = {});

}  // namespace iomt::json
