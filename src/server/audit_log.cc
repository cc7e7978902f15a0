#include "server/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/datetime.h"
#include "common/json/writer.h"

namespace iomt::server {

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot open the audit log " + path + ": " + std::strerror(errno));
  // An existing file keeps its mode: make it private as a new one is.
  ::fchmod(fd, 0600);
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::~AuditLog() {
  MutexLock lock(mu_);
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::Record(const AuditEntry& entry) {
  std::string line = "{\"time\":\"";
  datetime::AppendRoundTrip(&line, NowTicks());
  line.append("\",\"who\":");
  json::AppendQuoted(&line, entry.who.empty() ? std::string_view("anonymous") : entry.who);
  if (!entry.kind.empty()) {
    line.append(",\"kind\":");
    json::AppendQuoted(&line, entry.kind);
  }
  line.append(",\"method\":");
  json::AppendQuoted(&line, entry.method);
  line.append(",\"path\":");
  json::AppendQuoted(&line, entry.path);
  line.append(",\"status\":").append(std::to_string(entry.status));
  line.append(",\"peer\":");
  json::AppendQuoted(&line, entry.peer);
  if (!entry.detail.empty()) {
    line.append(",\"detail\":");
    json::AppendQuoted(&line, entry.detail);
  }
  line.append("}\n");
  MutexLock lock(mu_);
  // One write: O_APPEND places it whole at the end.
  const ssize_t n = ::write(fd_, line.data(), line.size());
  (void)n;
}

}  // namespace iomt::server
