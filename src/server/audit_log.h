// The audit log of `iomt serve` (docs/security.md): one JSON line for each
// request that changed the service's state or read patient data outside
// the FHIR API, and for each refused credential: who (the API key's name or
// the token's subject), what (method and path, never the query or the
// body: they may hold patient data), when, from where, and the outcome.
//
// Lines are appended with one write(2) each on a file opened O_APPEND, so
// concurrent requests never interleave within a line and a crash loses at
// most the lines not yet written; the file is private to the service's
// user (0600).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"

namespace iomt::server {

struct AuditEntry {
  std::string_view who;   // empty: no credentials ("anonymous")
  std::string_view kind;  // "key", "jwt", "ingest-key" or empty
  std::string_view method;
  std::string_view path;
  int status = 0;
  std::string_view peer;
  std::string_view detail;  // why a credential was refused, etc.
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Thread-safe. A failed write is counted, not fatal: the request it
  // records has already been answered.
  void Record(const AuditEntry& entry) IOMT_EXCLUDES(mu_);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  Mutex mu_;
  int fd_ IOMT_GUARDED_BY(mu_);
};

}  // namespace iomt::server
