// A real mosquitto broker for tests, and a publisher to feed it.
//
// MosquittoBroker runs Debian's broker (/usr/sbin/mosquitto, package
// `mosquitto`; IOMT_MOSQUITTO overrides the path) as a child process on a
// free port of 127.0.0.1, with its own config, log and persistence files in a
// fresh temporary directory. The kernel kills it if the test process dies
// (PR_SET_PDEATHSIG), so a crashed test leaves no broker behind.
//
//   MosquittoBroker broker;                // picks a free port, starts nothing
//   ASSERT_TRUE(broker.Start().ok());      // waits until it accepts connections
//   source_options.url = broker.url();     // "mqtt://127.0.0.1:PORT"
//   broker.Kill();                         // SIGKILL (a crash); Stop() is SIGTERM
//   ASSERT_TRUE(broker.Start().ok());      // again, on the same port
//   ASSERT_TRUE(PublishMessages(broker.port(), {{"topic", "payload"}}).ok());
//
// The port is chosen by binding port 0 and closing it, so another process
// could take it before the broker starts; Start then fails and says so.
// The broker keeps any number of queued messages per client by default
// (mosquitto's own default drops QoS 1 messages beyond 1000 for a slow or
// absent subscriber, which would make a test's count wrong for a reason that is
// not the code under test).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace iomt::ingest::testing {

// A TLS listener (port()) in place of the plain one; the plain one moves to
// publish_port(), open to anyone, for the test's publisher. The TLS listener
// requires a client certificate signed by `cafile` (require_certificate) and,
// when `users` is not empty, a user name and password of theirs (a
// password_file made with mosquitto_passwd -b).
struct BrokerTls {
  std::string cafile, certfile, keyfile;  // PEM (tls_util.h's TestPki has them)
  bool require_certificate = true;
  std::vector<std::pair<std::string, std::string>> users;  // name, password
};

struct BrokerOptions {
  bool persistence = false;     // sessions and queued messages kept across Stop/Start
  int max_queued_messages = 0;  // per client; 0: no limit
  std::string extra_config;     // appended to mosquitto.conf, e.g. "max_inflight_messages 5\n"
  std::optional<BrokerTls> tls;
};

class MosquittoBroker {
 public:
  explicit MosquittoBroker(BrokerOptions options = {});
  ~MosquittoBroker();  // Kill() and removes the directory
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  // Starts the broker on port() and waits (up to 20 s) until a TCP connection
  // to it succeeds. kUnavailable, with the broker's log, if it exits instead.
  Status Start();
  void Stop();  // SIGTERM and wait: a clean shutdown (saves persistence)
  void Kill();  // SIGKILL and wait: a crash
  [[nodiscard]] bool running() const { return pid_ > 0; }

  [[nodiscard]] int port() const { return port_; }
  // Where PublishMessages connects: port(), or the plain listener beside a TLS one.
  [[nodiscard]] int publish_port() const { return options_.tls ? plain_port_ : port_; }
  // mqtt://127.0.0.1:PORT, or mqtts://127.0.0.1:PORT with TLS.
  [[nodiscard]] std::string url() const {
    return (options_.tls ? "mqtts://127.0.0.1:" : "mqtt://127.0.0.1:") + std::to_string(port_);
  }
  [[nodiscard]] const std::string& directory() const { return dir_; }
  [[nodiscard]] std::string log() const;  // what the broker wrote so far

 private:
  void Signal(int signal);

  BrokerOptions options_;
  std::string dir_;
  int port_ = 0;
  int plain_port_ = 0;  // with TLS only
  pid_t pid_ = -1;
};

struct TestMessage {
  std::string topic;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> user_properties;
  int qos = 1;
  bool retain = false;
};

// Connects to 127.0.0.1:port (MQTT v5, a clean session), publishes the
// messages in order, waits until the broker has acknowledged every QoS 1/2
// one (and every QoS 0 one is written), and disconnects. Up to 60 s.
Status PublishMessages(int port, const std::vector<TestMessage>& messages);

}  // namespace iomt::ingest::testing
