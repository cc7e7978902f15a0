// Reads NDJSON (or any newline-separated text) from a file descriptor in
// large chunks, handing out lines without copying them, with memory bounded
// by the longest accepted line: a line over the limit is skipped (and
// reported) without being held in memory.
//
// Every line handed out is followed by at least json::Document::kPadding
// readable bytes, so it can be parsed in place. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace iomt::ingest {

class LineReader {
 public:
  static constexpr std::size_t kDefaultMaxLine = std::size_t{1} << 20;  // Event Hubs' largest event

  explicit LineReader(int fd, std::size_t max_line = kDefaultMaxLine);

  struct Line {
    std::string_view text;    // without the newline (and a '\r' before it)
    std::int64_t number = 0;  // 1-based
    bool too_long = false;    // the line exceeded max_line; text is empty
  };

  // The next line; false at the end of the input or on a read error (see status()).
  bool Next(Line* line);
  [[nodiscard]] const Status& status() const { return status_; }

 private:
  bool Fill();

  int fd_;
  std::size_t max_line_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread data is buffer_[begin_, end_)
  std::size_t end_ = 0;
  std::int64_t line_number_ = 0;
  bool eof_ = false;
  Status status_;
};

}  // namespace iomt::ingest
