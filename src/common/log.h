// The service's log: one line per event on stderr (journald takes it from
// there under systemd), as text for people or JSON for log shippers
// (docs/deploy.md#logs). Lines name what happened and where (connector,
// stage, error name, request id), never what a device sent: message bodies
// are patient data and no call here takes one.
//
// Thread-safe: a line is built whole and written by one write(2), so lines
// of several threads never interleave. Configure once at start, before the
// threads that log.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"

namespace iomt::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

struct Options {
  Level level = Level::kInfo;
  Format format = Format::kText;
  int fd = 2;  // stderr; tests give a pipe
  // Text lines start with "<N>" (the syslog priority) so that journald
  // files them at their level. Configure sets it when stderr is the journal
  // (systemd's JOURNAL_STREAM names it).
  bool journal_priority = false;
};

// "debug", "info", "warn" (or "warning"), "error"; "text", "json".
Result<Level> ParseLevel(std::string_view name);
Result<Format> ParseFormat(std::string_view name);
std::string_view LevelName(Level level);

// Sets the options; journal_priority is found from the environment when
// `detect_journal` (text format only).
void Configure(const Options& options, bool detect_journal = true);

bool Enabled(Level level);

// One field of a line. The names the whole service uses for the same thing
// are the constants below, so that a shipper's queries hold across stages.
struct Field {
  std::string_view key;
  std::string_view value;
  bool number = false;  // JSON: written unquoted (the caller formats it)
};
inline constexpr std::string_view kConnector = "connector";
inline constexpr std::string_view kStage = "stage";           // ingest, normalize, group, transform, write, ...
inline constexpr std::string_view kError = "error";           // an error name of docs/errors.md
inline constexpr std::string_view kRequestId = "request_id";  // the ingestion request's id

// A number field; `storage` keeps its text alive for the call.
Field Number(std::string_view key, std::int64_t value, std::string* storage);

// `text` with the query of every URL in it left out ("GET
// /fhir/Patient?identifier=X failed" -> "GET /fhir/Patient?... failed"): a
// query names the patients and devices a request looked for. For reasons
// that other layers wrote (a FHIR client's failure) before they are logged.
std::string WithoutQueries(std::string_view text);

// Writes a line when `level` is enabled: time, level, message, fields.
void Write(Level level, std::string_view message, std::span<const Field> fields);
inline void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(level, message, std::span<const Field>(fields.begin(), fields.size()));
}

inline void Debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, message, fields);
}
inline void Info(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, message, fields);
}
inline void Warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, message, fields);
}
inline void Error(std::string_view message, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, message, fields);
}

// Lets `burst` lines through at once and then `per_second` on average; the
// rest are counted. For events that a flood of bad input repeats (a dead
// letter per message): the log says it happens and how often, and stays
// readable. Thread-safe.
class RateLimit {
 public:
  RateLimit(double per_second, double burst) : per_second_(per_second), burst_(burst), tokens_(burst) {}
  // Whether to write this line; *suppressed is how many were held back
  // since the last line let through (for a "suppressed" field).
  bool Allow(std::int64_t* suppressed) IOMT_EXCLUDES(mu_);

 private:
  const double per_second_;
  const double burst_;
  Mutex mu_;
  double tokens_ IOMT_GUARDED_BY(mu_);
  std::int64_t last_ns_ IOMT_GUARDED_BY(mu_) = 0;
  std::int64_t suppressed_ IOMT_GUARDED_BY(mu_) = 0;
};

}  // namespace iomt::log
