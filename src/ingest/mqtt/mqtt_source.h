// MqttSource: one topic filter of an MQTT broker, subscribed with MQTT v5
// through libmosquitto. docs/adr/0013-mqtt-source.md explains the choices.
//
// What it promises:
// - Every message is handed to the handler on the source's one network
//   thread, one at a time, in the order the broker sends them.
// - QoS 1: at least once, if the handler returns only after the message is
//   safe (appended to the durable queue). The acknowledgement goes out only
//   after the handler has returned (libmosquitto queues it; the network
//   thread, busy in the handler, writes it later), so a crash inside the
//   handler leaves the message unacknowledged and the broker delivers it
//   again. A handler error also withholds it: the connection is cut before
//   the acknowledgement goes out, and the message comes again on the next
//   connection of the session. Redelivered messages are duplicates
//   downstream, which iomt's writes absorb (ADR 9: PUTs to computed ids).
//   QoS 0 is at most once. QoS 2 is refused (libmosquitto 2.0 acknowledges
//   it before the handler runs); QoS 2 publications arrive at QoS 1.
// - Messages that arrive while the source is away are kept by the broker only
//   in a persistent session: a fixed client_id, clean_start = false, and the
//   broker's own limits (mosquitto: max_queued_messages, 1000 by default).
// - Backpressure: a handler that blocks stops reading; the broker holds back
//   at most the receive maximum (20) unacknowledged messages and queues the
//   rest. A handler blocked longer than 1.5 x keepalive loses the connection
//   (no PINGREQ goes out); its unacknowledged messages come again.
// - Reconnects (and subscribes again) after any loss, with exponential
//   backoff (250 ms doubling up to 10 s), until Stop.
//
// Threading: connected, last_error and received may be called from any
// thread. Stop may be called from any thread but the handler's.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

struct mosquitto;

namespace iomt::ingest {

struct MqttOptions {
  // mqtt://host[:port] (1883), mqtts://host[:port] or ssl://host[:port]
  // (8883: TLS 1.2 or later, the broker's certificate and host name verified
  // with the system's CAs or ca_file). IPv6 hosts in brackets.
  std::string url = "mqtt://127.0.0.1:1883";
  std::string topic;  // a topic filter, '+' and '#' allowed ($share/... too)
  int qos = 1;        // 0 or 1: the subscription's maximum QoS
  // Empty: "iomt-<random>", kept across this source's reconnects. A fixed id
  // with clean_start = false resumes the broker's session on Start: the QoS 1
  // messages published while we were away are delivered then.
  std::string client_id;
  bool clean_start = false;
  // How long the broker keeps the session after a disconnect (MQTT v5 Session
  // Expiry Interval), when clean_start is false. With a generated client_id
  // the session is ended at Stop (nobody could resume it).
  std::uint32_t session_expiry_seconds = 7 * 24 * 3600;
  std::string username, password;
  // For TLS: a PEM bundle of the CAs to trust instead of the system's, and a
  // PEM client certificate with its unencrypted key (empty: the key is in
  // the certificate's file) for a broker that requires one. Start refuses
  // them for a plain mqtt:// url, and files that cannot be read.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  int keepalive_seconds = 30;  // 0 (none) or at least 5
};

struct MqttMessage {
  std::string topic;
  std::string payload;
  // In the order the message carries them; names may repeat.
  std::vector<std::pair<std::string, std::string>> user_properties;
  std::int64_t receipt_ms = 0;  // when it was received (ms since 1970)
  int qos = 0;
  bool retained = false;
};

// Called on the network thread. Returns OK once the message is safe; an
// error (e.g. the service is stopping) leaves it unacknowledged.
using MqttHandler = std::function<Status(MqttMessage&& message)>;

class MqttSource {
 public:
  // Starts the network thread: connects (MQTT v5), subscribes, reconnects with
  // backoff after a loss. Returns even if the broker is not reachable yet
  // (connected() tells); kInvalidArgument for a bad URL, topic, qos (not 0
  // or 1) or keepalive.
  static Result<std::unique_ptr<MqttSource>> Start(const MqttOptions& options, MqttHandler handler);
  ~MqttSource();  // Stop()
  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  // Connected and subscribed (for /readyz).
  [[nodiscard]] bool connected() const { return connected_.load(); }
  // The last connection, subscription or handler failure ("" if none yet).
  [[nodiscard]] std::string last_error() const;
  // Messages handed to the handler (refused ones included).
  [[nodiscard]] std::int64_t received() const { return received_.load(); }
  // The client id in use (the generated one when options.client_id is empty).
  [[nodiscard]] const std::string& client_id() const { return client_id_; }

  // Disconnects cleanly and joins the network thread; no handler call after it
  // returns. Idempotent. It waits for a connection attempt in progress (for a
  // host that drops packets, up to the kernel's connect timeout) and for a
  // handler call in progress.
  void Stop();

 private:
  struct Endpoint {
    std::string host;
    int port = 0;
    bool tls = false;
  };
  MqttSource(MqttOptions options, Endpoint endpoint, MqttHandler handler);

  void Run();
  // Waits up to `ms` or until Stop; false when stopping.
  bool Sleep(int ms);
  bool Stopping() const;
  void SetError(std::string error);
  // libmosquitto's TLS settings from options_ (mqtts://).
  Status SetUpTls();
  // ErrorText(rc) with the library's error lines since the last call.
  std::string Reason(int rc);

  // libmosquitto's callbacks (defined in the .cc, where mosquitto.h is).
  struct Callbacks;

  const MqttOptions options_;
  const Endpoint endpoint_;
  const MqttHandler handler_;
  std::string client_id_;
  bool generated_id_ = false;
  mosquitto* mosq_ = nullptr;

  std::atomic<bool> connected_{false};
  std::atomic<std::int64_t> received_{0};
  // Set on the network thread when the handler refused a message: the
  // connection is being cut, so later messages of the same read are not
  // handed over (they were not acknowledged either).
  bool refusing_ = false;
  bool connack_ok_ = false;  // this connection got a successful CONNACK
  bool refused_ = false;     // the broker refused this connection in its CONNACK
  // libmosquitto's error log lines of this connection attempt (OpenSSL's
  // reason for a failed handshake is only told there); network thread only.
  std::string library_errors_;

  mutable Mutex mu_;
  CondVar wake_;
  bool stopping_ IOMT_GUARDED_BY(mu_) = false;
  std::string last_error_ IOMT_GUARDED_BY(mu_);
  std::thread thread_;
  std::once_flag stop_once_;
};

}  // namespace iomt::ingest
