// HTTP clients for the server's tests: libcurl (as users' clients are, over
// TLS too) and raw sockets (for what curl will not send: malformed requests,
// pipelining, idle connections, stalls).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace iomt::server::testing {

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; the last of each
  long new_connections = 0;                    // connections curl opened for this request
  std::string error;                           // curl's words for a failure
  // The server's certificate as curl describes it (CURLINFO_CERTINFO:
  // "Subject:CN = ...", "Serial Number:...", one a line), when this request
  // opened a TLS connection.
  std::string certificate;
  [[nodiscard]] std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Request {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  bool chunked = false;              // send the body with Transfer-Encoding: chunked
  bool head = false;
  // HTTPS: the PEM file of the CA the server's certificate must chain to
  // (empty: curl's default store), and CURLOPT_SSLVERSION (0: curl's
  // default) and CURLOPT_SSL_CIPHER_LIST (empty: curl's default).
  std::string ca_file;
  long ssl_version = 0;
  std::string ssl_ciphers;
};

// One curl easy handle: successive requests reuse its connection.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Reply Send(const Request& request);
  Reply Get(const std::string& url, std::vector<std::string> headers = {});

 private:
  CURL* handle_;
};

// Raw TCP to 127.0.0.1:port; -1 when the connection is refused.
int Connect(int port);
bool SendAll(int fd, const std::string& data);
// Reads until the peer closes (or an error).
std::string ReadToEnd(int fd);
// Reads until the peer closes or `bound` has passed; whether it closed.
// What came before is appended to *out.
bool ReadUntilClosed(int fd, std::chrono::milliseconds bound, std::string* out);
// Reads one response (header and a Content-Length body); "" when the
// connection closed first.
std::string ReadResponse(int fd);

}  // namespace iomt::server::testing
