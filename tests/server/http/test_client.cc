#include "test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace iomt::server::testing {
namespace {

struct Upload {
  const std::string* body;
  std::size_t at = 0;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* out) {
  std::string line(data, size * n);
  auto* reply = static_cast<Reply*>(out);
  if (line.starts_with("HTTP/")) reply->headers.clear();  // a 100 Continue came first
  std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
      value.erase(0, 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.pop_back();
    reply->headers[name] = value;
  }
  return size * n;
}

// Hands the body out in small pieces, so that a chunked upload has several
// chunks.
std::size_t OnRead(char* buffer, std::size_t size, std::size_t n, void* in) {
  auto* upload = static_cast<Upload*>(in);
  std::size_t left = upload->body->size() - upload->at;
  std::size_t take = std::min({left, size * n, std::size_t{1000}});
  std::memcpy(buffer, upload->body->data() + upload->at, take);
  upload->at += take;
  return take;
}

}  // namespace

Client::Client() : handle_(curl_easy_init()) {}
Client::~Client() { curl_easy_cleanup(handle_); }

Reply Client::Get(const std::string& url, std::vector<std::string> headers) {
  Request r;
  r.url = url;
  r.headers = std::move(headers);
  return Send(r);
}

Reply Client::Send(const Request& request) {
  Reply reply;
  CURL* h = handle_;
  curl_easy_reset(h);  // keeps the connection
  curl_slist* headers = nullptr;
  for (const std::string& header : request.headers)
    headers = curl_slist_append(headers, header.c_str());
  if (request.chunked) headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  Upload upload{&request.body};
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60'000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
  if (request.head) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.chunked) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (request.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (!request.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, request.ca_file.c_str());
  if (request.ssl_version != 0) curl_easy_setopt(h, CURLOPT_SSLVERSION, request.ssl_version);
  if (!request.ssl_ciphers.empty()) curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, request.ssl_ciphers.c_str());
  curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  reply.code = curl_easy_perform(h);
  reply.error = error[0] != '\0' ? error : (reply.code != CURLE_OK ? curl_easy_strerror(reply.code) : "");
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &reply.new_connections);
  curl_certinfo* certificates = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &certificates) == CURLE_OK && certificates != nullptr &&
      certificates->num_of_certs > 0) {
    for (curl_slist* line = certificates->certinfo[0]; line != nullptr; line = line->next)
      reply.certificate.append(line->data).append("\n");
  }
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return reply;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  for (std::size_t at = 0; at < data.size();) {
    ssize_t n = send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

std::string ReadToEnd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool ReadUntilClosed(int fd, std::chrono::milliseconds bound, std::string* out) {
  const auto end = std::chrono::steady_clock::now() + bound;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready == 0) return false;
    if (ready < 0) continue;  // EINTR
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // the end, or a reset: closed either way
    out->append(buf, static_cast<std::size_t>(n));
  }
}

std::string ReadResponse(int fd) {
  std::string out;
  char c;
  while (out.find("\r\n\r\n") == std::string::npos) {
    if (recv(fd, &c, 1, 0) != 1) return "";
    out.push_back(c);
  }
  std::size_t length = 0;
  std::string lower = out;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (std::size_t at = lower.find("content-length:"); at != std::string::npos) {
    length = std::stoul(lower.substr(at + 15));
  }
  std::string body(length, '\0');
  for (std::size_t got = 0; got < length;) {
    ssize_t n = recv(fd, body.data() + got, length - got, 0);
    if (n <= 0) return "";
    got += static_cast<std::size_t>(n);
  }
  return out + body;
}

}  // namespace iomt::server::testing
