#include "ingest/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/json/document.h"

namespace iomt::ingest {

namespace {
constexpr std::size_t kChunk = std::size_t{1} << 20;
}

LineReader::LineReader(int fd, std::size_t max_line) : fd_(fd), max_line_(max_line) {
  // Room for a whole line of the maximum size, a chunk to read into, and the
  // padding simdjson may read past the end of a line.
  buffer_.resize(max_line_ + kChunk + json::Document::kPadding + 1);
}

bool LineReader::Fill() {
  if (eof_) return false;
  // Move the unread tail to the front when the free room is short.
  if (begin_ > 0 && buffer_.size() - json::Document::kPadding - end_ < kChunk) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  std::size_t room = buffer_.size() - json::Document::kPadding - end_;
  if (room == 0) return false;
  while (true) {
    ssize_t n = ::read(fd_, buffer_.data() + end_, room);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    status_ = IoError(std::string("read failed: ") + std::strerror(errno));
    eof_ = true;
    return false;
  }
}

bool LineReader::Next(Line* line) {
  bool skipping = false;    // inside a line that is too long
  std::size_t scanned = 0;  // bytes of the current line already searched for '\n'
  while (true) {
    char* start = buffer_.data() + begin_;
    std::size_t available = end_ - begin_;
    auto* nl = static_cast<char*>(std::memchr(start + scanned, '\n', available - scanned));
    if (nl != nullptr) {
      line->number = ++line_number_;
      std::size_t len = static_cast<std::size_t>(nl - start);
      line->too_long = skipping || len > max_line_;
      if (!line->too_long && len > 0 && start[len - 1] == '\r') --len;
      line->text = line->too_long ? std::string_view() : std::string_view(start, len);
      begin_ += static_cast<std::size_t>(nl - start) + 1;
      return true;
    }
    scanned = available;
    if (available > max_line_) {
      // Drop what is buffered of this line and read on to its end.
      skipping = true;
      begin_ = end_ = 0;
      scanned = 0;
    }
    if (!Fill()) {
      if (!status_.ok()) return false;
      available = end_ - begin_;
      if (available == 0 && !skipping) return false;
      // The last line, without a newline.
      line->number = ++line_number_;
      line->too_long = skipping || available > max_line_;
      std::string_view text(buffer_.data() + begin_, available);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      line->text = line->too_long ? std::string_view() : text;
      begin_ = end_;
      return true;
    }
  }
}

}  // namespace iomt::ingest
