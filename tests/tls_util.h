// TLS for tests: a throwaway certificate authority made with the openssl
// command line, and stunnel (Debian's stunnel4) in front of a plain TCP
// server, so that a test can talk TLS, with or without a client
// certificate, to any of the test servers.
//
//   iomt::testing::TestPki pki;                       // CA, server and client certificates
//   ASSERT_TRUE(pki.Make().ok());
//   iomt::testing::Stunnel tls({.connect = "127.0.0.1:8080", .pki = &pki});
//   ASSERT_TRUE(tls.Start().ok());                    // on a free port of 127.0.0.1
//   options.url = tls.origin();                       // https://127.0.0.1:PORT
//
// stunnel runs as a child process that the kernel kills if the test process
// dies (PR_SET_PDEATHSIG); its config and log are in a fresh temporary
// directory, removed with the Stunnel object.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace iomt::testing {

// A free TCP port of 127.0.0.1 (bound and closed: another process could take
// it before it is used).
int FreePort();

// Certificates in a fresh temporary directory (removed with the object),
// all PEM, keys unencrypted (P-256), valid for two days:
// - ca_cert/ca_key: the test CA;
// - server_cert/server_key: signed by it, for 127.0.0.1 and localhost;
// - client_cert/client_key: signed by it, for client authentication;
// - other_ca_cert: a second CA that signed nothing here (a "wrong" CA).
// The directory and files are readable by all, for brokers that drop root.
class TestPki {
 public:
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // Runs openssl; kUnavailable with its output when it fails.
  Status Make();

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string ca_cert() const { return dir_ + "/ca.pem"; }
  [[nodiscard]] std::string ca_key() const { return dir_ + "/ca.key"; }
  [[nodiscard]] std::string server_cert() const { return dir_ + "/server.pem"; }
  [[nodiscard]] std::string server_key() const { return dir_ + "/server.key"; }
  [[nodiscard]] std::string client_cert() const { return dir_ + "/client.pem"; }
  [[nodiscard]] std::string client_key() const { return dir_ + "/client.key"; }
  [[nodiscard]] std::string other_ca_cert() const { return dir_ + "/other-ca.pem"; }

 private:
  std::string dir_;
};

struct StunnelOptions {
  std::string connect;  // HOST:PORT of the plain server behind it
  const TestPki* pki = nullptr;
  // stunnel's `verify`: 2 requires a client certificate signed by the CA,
  // 0 asks for none.
  int verify = 2;
};

class Stunnel {
 public:
  explicit Stunnel(StunnelOptions options);
  ~Stunnel();  // Stop() and removes the directory
  Stunnel(const Stunnel&) = delete;
  Stunnel& operator=(const Stunnel&) = delete;

  // Starts stunnel on a free port and waits (up to 20 s) until it accepts
  // connections; kUnavailable with its log if it does not.
  Status Start();
  void Stop();  // SIGTERM and wait; idempotent

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string origin() const { return "https://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string log() const;

 private:
  StunnelOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace iomt::testing
