#include "common/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt::log {

namespace {

// Read on every line from any thread, set by Configure: atomics, so that a
// Configure during a test's threads is no data race (relaxed: each is
// independent, and a line with the old format is harmless).
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{false};
std::atomic<int> g_fd{2};
std::atomic<bool> g_journal{false};

// Whether fd is the stream systemd connected to the journal: JOURNAL_STREAM
// is "DEVICE:INODE" of that stream (systemd.exec(5)).
bool IsJournal(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

// syslog priorities (RFC 5424): debug 7, info 6, warning 4, error 3.
char JournalPriority(Level level) {
  switch (level) {
    case Level::kDebug: return '7';
    case Level::kInfo: return '6';
    case Level::kWarn: return '4';
    case Level::kError: return '3';
  }
  return '6';
}

// A text value is written bare when a reader can split on spaces and '=';
// otherwise quoted as JSON quotes it.
bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '=' || c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

void WriteAll(int fd, std::string_view line) {
  while (!line.empty()) {
    const ssize_t n = ::write(fd, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to say it
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

Result<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  return InvalidArgument(std::string("unknown log level \"").append(name).append("\" (debug, info, warn, error)"));
}

Result<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return InvalidArgument(std::string("unknown log format \"").append(name).append("\" (text, json)"));
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void Configure(const Options& options, bool detect_journal) {
  g_level.store(static_cast<int>(options.level), std::memory_order_relaxed);
  g_json.store(options.format == Format::kJson, std::memory_order_relaxed);
  g_fd.store(options.fd, std::memory_order_relaxed);
  const bool journal = options.journal_priority || (detect_journal && IsJournal(options.fd));
  g_journal.store(journal && options.format == Format::kText, std::memory_order_relaxed);
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

Field Number(std::string_view key, std::int64_t value, std::string* storage) {
  *storage = std::to_string(value);
  return {key, *storage, true};
}

void Write(Level level, std::string_view message, std::span<const Field> fields) {
  if (!Enabled(level)) return;
  std::string line;
  line.reserve(128 + message.size());
  if (g_json.load(std::memory_order_relaxed)) {
    line += "{\"time\":\"";
    datetime::AppendIso(&line, NowTicks());
    line += "\",\"level\":\"";
    line += LevelName(level);
    line += "\",\"message\":";
    json::AppendQuoted(&line, message);
    for (const Field& f : fields) {
      line += ',';
      json::AppendQuoted(&line, f.key);
      line += ':';
      if (f.number) {
        line += f.value;
      } else {
        json::AppendQuoted(&line, f.value);
      }
    }
    line += "}\n";
  } else {
    if (g_journal.load(std::memory_order_relaxed)) {
      // journald stamps the time itself.
      line += '<';
      line += JournalPriority(level);
      line += '>';
    } else {
      datetime::AppendIso(&line, NowTicks());
      line += ' ';
    }
    line += LevelName(level);
    line += ' ';
    // One event, one line: a message's own line breaks would split it.
    for (char c : message)
      line += (c == '\n' || c == '\r') ? ' ' : c;
    for (const Field& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      if (NeedsQuotes(f.value)) {
        json::AppendQuoted(&line, f.value);
      } else {
        line += f.value;
      }
    }
    line += '\n';
  }
  WriteAll(g_fd.load(std::memory_order_relaxed), line);
}

std::string WithoutQueries(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    out += c;
    ++i;
    // A '?' right after a path character starts a query; it runs to the
    // next space, quote or closing bracket.
    if (c == '?' && out.size() >= 2 && out[out.size() - 2] != ' ' && i < text.size() && text[i] != ' ') {
      out += "...";
      while (i < text.size() && text[i] != ' ' && text[i] != '"' && text[i] != '\'' && text[i] != ')')
        ++i;
    }
  }
  return out;
}

bool RateLimit::Allow(std::int64_t* suppressed) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  MutexLock lock(mu_);
  if (last_ns_ != 0) {
    tokens_ += static_cast<double>(now - last_ns_) * 1e-9 * per_second_;
    if (tokens_ > burst_) tokens_ = burst_;
  }
  last_ns_ = now;
  if (tokens_ < 1.0) {
    ++suppressed_;
    return false;
  }
  tokens_ -= 1.0;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace iomt::log
