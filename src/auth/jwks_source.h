// Where the JWKS comes from, and keeping it current: a file re-read when it
// changes (an operator rotating keys replaces it), or a URL fetched with
// libcurl, used for jwks_cache_seconds, and fetched again early when a token
// names a kid it does not have (the identity provider rotated), at most once
// every 30 s so that tokens with made-up kids cannot make iomt hammer it.
//
// Thread-safe. A key set that fails to load or parse never replaces a good
// one: tokens go on being checked against the last good keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "auth/auth.h"
#include "auth/jwt_check.h"
#include "common/mutex.h"
#include "common/status.h"

namespace iomt::auth::internal {

class JwksSource {
 public:
  // Loads the keys once: kInvalidArgument for a file that cannot be read or
  // is no usable JWKS, kUnavailable for a URL that cannot be fetched.
  static Result<std::unique_ptr<JwksSource>> Open(const JwtOptions& options);

  // The keys to check a token with now (re-reading the file when it changed,
  // fetching the URL again when the cache has expired). Never null.
  std::shared_ptr<const KeySet> Current() IOMT_EXCLUDES(mu_);
  // After a token named an unknown kid: the keys fetched anew when the
  // source is a URL and the rate allows (or another thread's fetch that was
  // under way), else nullopt.
  std::optional<std::shared_ptr<const KeySet>> RefreshForUnknownKid() IOMT_EXCLUDES(mu_);

  // How many fetches of the URL were made (for tests and metrics).
  std::int64_t fetches() const IOMT_EXCLUDES(mu_);

 private:
  using Clock = std::chrono::steady_clock;
  struct FileStamp {
    std::int64_t mtime_sec = 0;
    std::int64_t mtime_nsec = 0;
    std::int64_t size = 0;
    std::uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };

  explicit JwksSource(const JwtOptions& options);
  Result<KeySet> Load(FileStamp* stamp) const;
  // A fetch is done with mu_ released between these two; EndFetch installs
  // what came, if anything good did, and wakes those waiting for it.
  void BeginFetch() IOMT_REQUIRES(mu_);
  void EndFetch(Result<KeySet> keys) IOMT_REQUIRES(mu_);
  Result<KeySet> Fetch() const;

  const std::string file_;
  const std::string url_;
  const std::string ca_file_;
  const Clock::duration cache_for_;

  mutable Mutex mu_;
  CondVar fetched_;
  std::shared_ptr<const KeySet> keys_ IOMT_GUARDED_BY(mu_);
  FileStamp stamp_ IOMT_GUARDED_BY(mu_);
  Clock::time_point next_fetch_ IOMT_GUARDED_BY(mu_);
  std::optional<Clock::time_point> last_kid_fetch_ IOMT_GUARDED_BY(mu_);
  bool fetching_ IOMT_GUARDED_BY(mu_) = false;
  std::int64_t fetches_ IOMT_GUARDED_BY(mu_) = 0;
};

}  // namespace iomt::auth::internal
