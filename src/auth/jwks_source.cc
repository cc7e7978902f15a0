#include "auth/jwks_source.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "auth/jwt_check.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/strings.h"

namespace iomt::auth::internal {

namespace {

constexpr auto kMinKidRefetch = std::chrono::seconds(30);
// A JWKS is a few keys; a larger answer is not one.
constexpr std::size_t kMaxJwksBytes = 1 << 20;

struct Body {
  std::string text;
  bool too_large = false;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  std::size_t n = size * count;
  if (body->text.size() + n > kMaxJwksBytes) {
    body->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  body->text.append(data, n);
  return n;
}

Result<std::string> FetchUrl(const std::string& url, const std::string& ca_file) {
  // curl_global_init is thread-safe in Debian 12's libcurl (7.88), but is
  // called once here so that the first fetch does not race another library's.
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) return Unavailable("libcurl could not be initialised");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return Unavailable("curl_easy_init failed");
  Body body;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: threads
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  // Identity providers move their keys behind redirects; a redirect may not
  // leave HTTPS for plain HTTP.
  curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h.get(), CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(h.get(), CURLOPT_REDIR_PROTOCOLS_STR, url.starts_with("https:") ? "https" : "http,https");
  curl_easy_setopt(h.get(), CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h.get(), CURLOPT_USERAGENT, "iomt");
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
  if (!ca_file.empty()) curl_easy_setopt(h.get(), CURLOPT_CAINFO, ca_file.c_str());
  CURLcode code = curl_easy_perform(h.get());
  if (body.too_large) return Unavailable(Cat({"the JWKS at ", url, " is larger than 1 MiB"}));
  if (code != CURLE_OK) {
    return Unavailable(Cat({"the JWKS cannot be fetched from ", url, ": ",
                            error[0] != '\0' ? std::string_view(error) : curl_easy_strerror(code)}));
  }
  long status = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return Unavailable(Cat({"the JWKS cannot be fetched from ", url, ": HTTP ", std::to_string(status)}));
  }
  return std::move(body.text);
}

}  // namespace

JwksSource::JwksSource(const JwtOptions& options)
    : file_(options.jwks_file),
      url_(options.jwks_url),
      ca_file_(options.ca_file),
      cache_for_(std::chrono::seconds(std::max(options.jwks_cache_seconds, 0))) {}

Result<std::unique_ptr<JwksSource>> JwksSource::Open(const JwtOptions& options) {
  std::unique_ptr<JwksSource> source(new JwksSource(options));
  FileStamp stamp;
  Result<KeySet> keys = source->Load(&stamp);
  if (!keys.ok()) return std::move(keys).TakeStatus();
  MutexLock lock(source->mu_);
  source->keys_ = std::make_shared<const KeySet>(std::move(keys).value());
  source->stamp_ = stamp;
  if (!source->url_.empty()) {
    source->fetches_ = 1;
    source->next_fetch_ = Clock::now() + source->cache_for_;
  }
  return source;
}

Result<KeySet> JwksSource::Load(FileStamp* stamp) const {
  std::string text;
  if (!url_.empty()) {
    Result<std::string> body = FetchUrl(url_, ca_file_);
    if (!body.ok()) return std::move(body).TakeStatus();
    text = std::move(body).value();
  } else {
    struct stat st {};
    if (stat(file_.c_str(), &st) != 0) return InvalidArgument(Cat({"the JWKS file ", file_, " cannot be read"}));
    *stamp = FileStamp{static_cast<std::int64_t>(st.st_mtim.tv_sec), static_cast<std::int64_t>(st.st_mtim.tv_nsec),
                       static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
    std::ifstream in(file_, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (!in) return InvalidArgument(Cat({"the JWKS file ", file_, " cannot be read"}));
    text = std::move(buffer).str();
  }
  Result<KeySet> keys = ParseJwks(text);
  if (!keys.ok()) {
    std::string_view from = url_.empty() ? file_ : url_;
    return Status(url_.empty() ? StatusCode::kInvalidArgument : StatusCode::kUnavailable,
                  Cat({keys.status().message(), " (", from, ")"}));
  }
  return keys;
}

void JwksSource::BeginFetch() {
  fetching_ = true;
  ++fetches_;
}

void JwksSource::EndFetch(Result<KeySet> keys) {
  fetching_ = false;
  Clock::time_point now = Clock::now();
  if (keys.ok()) {
    keys_ = std::make_shared<const KeySet>(std::move(keys).value());
    next_fetch_ = now + cache_for_;
  } else {
    // The old keys go on serving; try again soon, not on every request.
    next_fetch_ = now + std::min<Clock::duration>(cache_for_, kMinKidRefetch);
  }
  fetched_.NotifyAll();
}

Result<KeySet> JwksSource::Fetch() const {
  FileStamp unused;
  return Load(&unused);
}

std::shared_ptr<const KeySet> JwksSource::Current() {
  if (!file_.empty()) {
    struct stat st {};
    bool present = stat(file_.c_str(), &st) == 0;
    FileStamp now{static_cast<std::int64_t>(st.st_mtim.tv_sec), static_cast<std::int64_t>(st.st_mtim.tv_nsec),
                  static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
    MutexLock lock(mu_);
    // A file missing for a moment (replaced without rename) keeps the old keys.
    if (present && now != stamp_) {
      FileStamp read_stamp;
      Result<KeySet> keys = Load(&read_stamp);
      // Remembered even when the new file does not parse: it is read again
      // once it changes again, not on every request meanwhile.
      stamp_ = keys.ok() ? read_stamp : now;
      if (keys.ok()) keys_ = std::make_shared<const KeySet>(std::move(keys).value());
    }
    return keys_;
  }
  MutexLock lock(mu_);
  if (!fetching_ && Clock::now() >= next_fetch_) {
    BeginFetch();
    // Other requests go on with the current keys meanwhile.
    lock.Unlock();
    Result<KeySet> keys = Fetch();
    lock.Lock();
    EndFetch(std::move(keys));
  }
  return keys_;
}

std::optional<std::shared_ptr<const KeySet>> JwksSource::RefreshForUnknownKid() {
  if (url_.empty()) return std::nullopt;
  MutexLock lock(mu_);
  if (fetching_) {
    while (fetching_)
      fetched_.Wait(lock);
    return keys_;
  }
  Clock::time_point now = Clock::now();
  if (last_kid_fetch_ && now - *last_kid_fetch_ < kMinKidRefetch) return std::nullopt;
  last_kid_fetch_ = now;
  BeginFetch();
  lock.Unlock();
  Result<KeySet> keys = Fetch();
  lock.Lock();
  EndFetch(std::move(keys));
  return keys_;
}

std::int64_t JwksSource::fetches() const {
  MutexLock lock(mu_);
  return fetches_;
}

}  // namespace iomt::auth::internal
