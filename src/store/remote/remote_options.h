// How to reach a remote FHIR R4 server (store/remote/remote_client.h): its
// base URL, credentials, and the client's limits. A plain struct, so that
// configurations can hold one without the client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace iomt::store {

struct RemoteOptions {
  // The service base, e.g. https://example.fhir.azurehealthcareapis.com or
  // http://localhost:8103/fhir/R4 (a trailing slash is ignored).
  std::string base_url;
  // A static bearer token (Authorization: Bearer ...); or OAuth2 below.
  std::string bearer_token;
  // OAuth2 client credentials (RFC 6749 4.4), used when token_url is set.
  struct OAuth {
    std::string token_url;
    std::string client_id;
    std::string client_secret;
    std::string scope;  // Azure: https://{service}.fhir.azurehealthcareapis.com/.default
  } oauth;
  // TLS, for https:// URLs (the FHIR service's and the token endpoint's):
  // a PEM bundle of the CAs to trust instead of the system's (a private CA),
  // and a PEM client certificate and its unencrypted key for servers that
  // ask for one (mutual TLS). The server's name is always verified.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;

  int max_connections = 8;
  // Attempts per request, the first included.
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  // A Retry-After longer than this is cut to it.
  std::chrono::milliseconds max_retry_after{60'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  // Entries per batch Bundle; the URL length that search chunks stay under.
  std::size_t batch_size = 200;
  std::size_t max_url_bytes = 7'500;
  // Identifier lists longer than one URL go as one `POST Type/_search` with
  // a form body (up to 500 values) instead of several GETs; a server that
  // refuses it (400, 404, 405, 415, 501) gets the GETs from then on.
  bool post_search = true;
  // Whether PutMany uses batch Bundles: kAuto follows the CapabilityStatement.
  enum class Batch : std::uint8_t { kAuto, kAlways, kNever } batch = Batch::kAuto;
};

}  // namespace iomt::store
