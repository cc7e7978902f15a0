#include "store/remote/http.h"

#include <curl/curl.h>

#include <cctype>
#include <charconv>
#include <mutex>

#include "common/mutex.h"

namespace iomt::store::http {

namespace {

void GlobalInit() {
  // curl_global_init is not thread-safe on every build; once per process.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

bool HeaderIs(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* response = static_cast<Response*>(user);
  std::string_view line(data, size * n);
  // A new status line (after a 100 Continue or a redirect) starts afresh.
  if (line.starts_with("HTTP/")) {
    response->etag.clear();
    response->retry_after.clear();
    response->content_type.clear();
  }
  for (auto [name, field] : {std::pair{std::string_view("etag"), &response->etag},
                             std::pair{std::string_view("retry-after"), &response->retry_after},
                             std::pair{std::string_view("content-type"), &response->content_type}}) {
    if (HeaderIs(line, name)) *field = std::string(Trim(line.substr(name.size() + 1)));
  }
  return size * n;
}

TransportError Classify(CURLcode code, std::string_view text) {
  // A TLS alert is the server's decision (it refused our client certificate,
  // or wanted one), which a retry will not change. With TLS 1.3 it comes
  // after the handshake, on the first read; with 1.2, in the handshake.
  const bool alert = code == CURLE_SSL_CONNECT_ERROR || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR;
  if (alert && text.find(" alert ") != std::string_view::npos) return TransportError::kTlsRefused;
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: return TransportError::kTlsVerify;
    case CURLE_SSL_CLIENTCERT: return TransportError::kTlsRefused;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::kResolve;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return TransportError::kBadUrl;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:  // a handshake cut short (no alert)
      return TransportError::kRetryable;
    default: return TransportError::kOther;
  }
}

}  // namespace

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
  GlobalInit();
  if (options_.max_connections < 1) options_.max_connections = 1;
}

Pool::~Pool() {
  for (void* h : all_)
    curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Pool::Acquire() {
  MutexLock lock(mu_);
  for (;;) {
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    // Handles are made on demand, up to the bound.
    if (all_.size() < static_cast<std::size_t>(options_.max_connections)) {
      CURL* h = curl_easy_init();
      if (h == nullptr) return nullptr;
      all_.push_back(h);
      return h;
    }
    available_.Wait(lock);
  }
}

void Pool::Release(void* handle) {
  {
    MutexLock lock(mu_);
    idle_.push_back(handle);
  }
  available_.NotifyOne();
}

Outcome Pool::Perform(const Request& request) {
  Outcome out;
  auto* h = static_cast<CURL*>(Acquire());
  if (h == nullptr) {
    out.error = TransportError::kOther;
    out.error_text = "curl_easy_init failed";
    return out;
  }
  // curl_easy_reset keeps the live connection, so keep-alive survives it.
  curl_easy_reset(h);
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const std::string& header : request.headers)
    headers = curl_slist_append(headers, header.c_str());
  // No "Expect: 100-continue" round trip before large bodies.
  headers = curl_slist_append(headers, "Expect:");

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: threads
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 2L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    // Debian's curl also trusts a CA directory by default: without this the
    // system's CAs would still be trusted next to the given bundle.
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
  }
  if (!options_.client_cert_file.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
  }
  if (!options_.client_key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode (gzip)
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out.response);
  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (request.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, std::string(request.method).c_str());
  }
  CURLcode code = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (code == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.response.status);
  } else {
    out.error_text = error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(code));
    out.error = Classify(code, out.error_text);
  }
  Release(h);
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::string EscapeSearchValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '|' || c == '$') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

double RetryAfterSeconds(std::string_view value, std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (value.empty()) return -1;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    long seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return -1;
    return static_cast<double>(seconds);
  }
  time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return -1;
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  double seconds = std::chrono::duration<double>(delta).count();
  return seconds < 0 ? 0 : seconds;
}

}  // namespace iomt::store::http
