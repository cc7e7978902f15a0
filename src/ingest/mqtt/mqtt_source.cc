#include "ingest/mqtt/mqtt_source.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>

#include "common/mutex.h"

namespace iomt::ingest {

namespace {

constexpr int kFirstDelayMs = 250;
constexpr int kMaxDelayMs = 10'000;
// How long one mosquitto_loop call may wait for the socket: also how soon
// the network thread notices Stop.
constexpr int kLoopTimeoutMs = 100;
// Loop turns allowed for the DISCONNECT to go out at Stop.
constexpr int kStopTurns = 20;

std::string GeneratedClientId() {
  std::random_device random;
  char id[32];
  std::snprintf(id, sizeof id, "iomt-%08x%08x", random(), random());
  return id;
}

std::string ErrorText(int rc) {
  // MOSQ_ERR_ERRNO means "look at errno", which the library leaves set.
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// mqtt[s]://host[:port], host may be [IPv6].
Status ParseUrl(const std::string& url, std::string* host, int* port, bool* tls) {
  std::string_view rest = url;
  if (rest.starts_with("mqtt://")) {
    rest.remove_prefix(7);
    *tls = false;
    *port = 1883;
  } else if (rest.starts_with("mqtts://") || rest.starts_with("ssl://")) {
    rest.remove_prefix(rest.find("://") + 3);
    *tls = true;
    *port = 8883;
  } else {
    return InvalidArgument("MQTT url '" + url + "': must start with mqtt://, or mqtts:// (or ssl://) for TLS");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos)
    return InvalidArgument("MQTT url '" + url + "': put credentials in username and password, not in the url");
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return InvalidArgument("MQTT url '" + url + "': a broker url has no path");
  std::string_view port_text;
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return InvalidArgument("MQTT url '" + url + "': unclosed [");
    *host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return InvalidArgument("MQTT url '" + url + "': expected :port after ]");
      port_text = rest.substr(1);
    }
  } else {
    std::size_t colon = rest.find(':');
    *host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (host->empty()) return InvalidArgument("MQTT url '" + url + "': no host");
  if (!port_text.empty() || rest.ends_with(':')) {
    int value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value < 1 || value > 65535)
      return InvalidArgument("MQTT url '" + url + "': bad port '" + std::string(port_text) + "'");
    *port = value;
  }
  return Status::Ok();
}

// A TLS file must be readable now: libmosquitto only says "invalid
// arguments" for one that is not.
Status CheckReadable(const std::string& path, const char* what) {
  if (path.empty()) return Status::Ok();
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
    return Status::Ok();
  }
  return InvalidArgument(std::string("MQTT ") + what + " '" + path + "' cannot be read: " + std::strerror(errno));
}

// Debian's OpenSSL directory of trusted CAs: libmosquitto wants a CA file or
// directory whenever it is given a client certificate.
constexpr const char* kSystemCaDir = "/etc/ssl/certs";

void InitLibraryOnce() {
  static const int kInit = mosquitto_lib_init();
  (void)kInit;
}

}  // namespace

// Runs on the network thread (inside mosquitto_loop).
struct MqttSource::Callbacks {
  // Keeps libmosquitto's error lines: a TLS failure's reason (OpenSSL's
  // "certificate verify failed", "alert certificate required") is only told
  // there. They never hold the password.
  static void OnLog(mosquitto* /*mosq*/, void* self, int level, const char* text) {
    if (level != MOSQ_LOG_ERR || text == nullptr) return;
    auto* source = static_cast<MqttSource*>(self);
    if (source->library_errors_.size() > 1024) return;
    if (!source->library_errors_.empty()) source->library_errors_.append("; ");
    source->library_errors_.append(text);
  }

  static void OnConnect(mosquitto* mosq, void* self, int rc, int /*flags*/, const mosquitto_property* /*props*/) {
    auto* source = static_cast<MqttSource*>(self);
    if (rc != 0) {
      source->refused_ = true;
      std::string error = "the broker refused the connection: " + std::string(mosquitto_reason_string(rc));
      if (rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED)
        error.append(" (check the user name and password, and the client certificate)");
      source->SetError(std::move(error));
      return;
    }
    source->connack_ok_ = true;
    // Subscribe on every connection: a broker without our session (restarted
    // without persistence, or session expired) has forgotten the subscription.
    // Retained messages only come when the subscription is new, not again on
    // each reconnect of a resumed session.
    rc = mosquitto_subscribe_v5(mosq, nullptr, source->options_.topic.c_str(), source->options_.qos,
                                MQTT_SUB_OPT_SEND_RETAIN_NEW, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) source->SetError("cannot subscribe: " + ErrorText(rc));
  }

  static void OnSubscribe(mosquitto* /*mosq*/, void* self, int /*mid*/, int count, const int* granted,
                          const mosquitto_property* /*props*/) {
    auto* source = static_cast<MqttSource*>(self);
    if (count < 1 || granted[0] >= 0x80) {
      source->SetError("the broker refused the subscription to '" + source->options_.topic +
                       "': " + std::string(mosquitto_reason_string(count < 1 ? 0x80 : granted[0])));
      return;
    }
    source->connected_ = true;
  }

  static void OnDisconnect(mosquitto* /*mosq*/, void* self, int rc, const mosquitto_property* /*props*/) {
    auto* source = static_cast<MqttSource*>(self);
    source->connected_ = false;
    // rc is a v5 reason code when the broker sent DISCONNECT, else a MOSQ_ERR.
    // After a refusal (ours of a message, or the broker's of the connection)
    // the refusal is the error, not the cut connection that follows it.
    if (rc != 0 && !source->refusing_ && !source->refused_) source->SetError("disconnected: " + source->Reason(rc));
  }

  static void OnMessage(mosquitto* mosq, void* self, const mosquitto_message* message,
                        const mosquitto_property* props) {
    auto* source = static_cast<MqttSource*>(self);
    if (source->refusing_) return;
    MqttMessage out;
    out.receipt_ms = NowMs();
    out.topic = message->topic;
    if (message->payloadlen > 0)
      out.payload.assign(static_cast<const char*>(message->payload), static_cast<std::size_t>(message->payloadlen));
    out.qos = message->qos;
    out.retained = message->retain;
    char* name = nullptr;
    char* value = nullptr;
    for (const mosquitto_property* p =
             mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false);
         p != nullptr; p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, true)) {
      out.user_properties.emplace_back(name, value);
      std::free(name);
      std::free(value);
      name = value = nullptr;
    }
    source->received_.fetch_add(1);
    Status status = source->handler_(std::move(out));
    if (status.ok()) return;
    // The acknowledgement is queued but not written yet (threaded mode writes
    // after the read). Cutting the socket now keeps it from ever going out, so
    // the broker delivers the message again on the next connection.
    source->refusing_ = true;
    source->SetError("handler refused a message: " + status.ToString());
    shutdown(mosquitto_socket(mosq), SHUT_RDWR);
  }
};

Result<std::unique_ptr<MqttSource>> MqttSource::Start(const MqttOptions& options, MqttHandler handler) {
  Endpoint endpoint;
  IOMT_RETURN_IF_ERROR(ParseUrl(options.url, &endpoint.host, &endpoint.port, &endpoint.tls));
  if (options.topic.empty() || mosquitto_sub_topic_check(options.topic.c_str()) != MOSQ_ERR_SUCCESS)
    return InvalidArgument("MQTT topic filter '" + options.topic +
                           "' is not valid ('+' and '#' only as whole levels, '#' last)");
  // Not 2: libmosquitto 2.0 sends PUBREC for a QoS 2 message before the
  // handler has it, so a crash in between loses it (ADR 13). A subscription
  // at QoS 1 gets QoS 2 publications at QoS 1, acknowledged after the handler.
  if (options.qos != 0 && options.qos != 1)
    return InvalidArgument("MQTT qos " + std::to_string(options.qos) +
                           ": must be 0 or 1 (QoS 2 would be acknowledged before the message is safe)");
  if (options.keepalive_seconds != 0 && (options.keepalive_seconds < 5 || options.keepalive_seconds > 65535))
    return InvalidArgument("MQTT keepalive " + std::to_string(options.keepalive_seconds) +
                           ": must be 0 or 5 to 65535 seconds");
  if (!handler) return InvalidArgument("MQTT source: no handler");
  const bool tls_files =
      !options.ca_file.empty() || !options.client_cert_file.empty() || !options.client_key_file.empty();
  if (tls_files && !endpoint.tls)
    return InvalidArgument("MQTT url '" + options.url +
                           "': CA and client certificate files are for TLS; use mqtts://HOST:PORT");
  if (!options.client_key_file.empty() && options.client_cert_file.empty())
    return InvalidArgument("MQTT client key given without its client certificate");
  IOMT_RETURN_IF_ERROR(CheckReadable(options.ca_file, "CA file"));
  IOMT_RETURN_IF_ERROR(CheckReadable(options.client_cert_file, "client certificate file"));
  IOMT_RETURN_IF_ERROR(CheckReadable(options.client_key_file, "client key file"));

  InitLibraryOnce();
  std::unique_ptr<MqttSource> source(new MqttSource(options, std::move(endpoint), std::move(handler)));
  source->mosq_ = mosquitto_new(source->client_id_.c_str(), options.clean_start, source.get());
  if (source->mosq_ == nullptr) return Internal("mosquitto_new failed: " + ErrorText(MOSQ_ERR_ERRNO));
  mosquitto* mosq = source->mosq_;
  mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  // What makes QoS 1 at-least-once: libmosquitto 2.0 queues the PUBACK
  // *before* it calls on_message, and unthreaded it writes it at once. In
  // threaded mode only a loop write sends it, which this thread does after the
  // handler returns. (Without this line the Refuses and Crashed tests lose
  // their message.) Only the network thread ever touches the handle.
  mosquitto_threaded_set(mosq, true);
  mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
  if (!options.username.empty() || !options.password.empty()) {
    if (mosquitto_username_pw_set(mosq, options.username.c_str(),
                                  options.password.empty() ? nullptr : options.password.c_str()) != MOSQ_ERR_SUCCESS)
      return InvalidArgument("MQTT username/password not accepted by libmosquitto");
  }
  IOMT_RETURN_IF_ERROR(source->SetUpTls());
  mosquitto_connect_v5_callback_set(mosq, &Callbacks::OnConnect);
  mosquitto_subscribe_v5_callback_set(mosq, &Callbacks::OnSubscribe);
  mosquitto_disconnect_v5_callback_set(mosq, &Callbacks::OnDisconnect);
  mosquitto_message_v5_callback_set(mosq, &Callbacks::OnMessage);
  mosquitto_log_callback_set(mosq, &Callbacks::OnLog);
  source->thread_ = std::thread([s = source.get()] { s->Run(); });
  return source;
}

Status MqttSource::SetUpTls() {
  if (!endpoint_.tls) return Status::Ok();
  const std::string not_built = "MQTT url '" + options_.url + "': this libmosquitto has no TLS (mqtts://)";
  if (mosquitto_int_option(mosq_, MOSQ_OPT_TLS_USE_OS_CERTS, options_.ca_file.empty() ? 1 : 0) != MOSQ_ERR_SUCCESS)
    return InvalidArgument(not_built);
  if (!options_.ca_file.empty() || !options_.client_cert_file.empty()) {
    const std::string& key = options_.client_key_file.empty() ? options_.client_cert_file : options_.client_key_file;
    const int rc = mosquitto_tls_set(mosq_, options_.ca_file.empty() ? nullptr : options_.ca_file.c_str(),
                                     options_.ca_file.empty() ? kSystemCaDir : nullptr,
                                     options_.client_cert_file.empty() ? nullptr : options_.client_cert_file.c_str(),
                                     options_.client_cert_file.empty() ? nullptr : key.c_str(), nullptr);
    if (rc == MOSQ_ERR_NOT_SUPPORTED) return InvalidArgument(not_built);
    if (rc != MOSQ_ERR_SUCCESS) return InvalidArgument("MQTT TLS files not accepted by libmosquitto: " + ErrorText(rc));
  }
  // Verify the broker's certificate (SSL_VERIFY_PEER) and its host name (not
  // "insecure"); TLS 1.2 or later.
  if (mosquitto_tls_opts_set(mosq_, 1, "tlsv1.2", nullptr) != MOSQ_ERR_SUCCESS ||
      mosquitto_tls_insecure_set(mosq_, false) != MOSQ_ERR_SUCCESS)
    return InvalidArgument(not_built);
  return Status::Ok();
}

std::string MqttSource::Reason(int rc) {
  std::string text = ErrorText(rc);
  if (!library_errors_.empty()) text.append(" (").append(library_errors_).append(")");
  library_errors_.clear();
  return text;
}

MqttSource::MqttSource(MqttOptions options, Endpoint endpoint, MqttHandler handler)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), handler_(std::move(handler)) {
  client_id_ = options_.client_id;
  if (client_id_.empty()) {
    client_id_ = GeneratedClientId();
    generated_id_ = true;
  }
}

MqttSource::~MqttSource() {
  Stop();
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
}

void MqttSource::Stop() {
  std::call_once(stop_once_, [this] {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    wake_.NotifyAll();
    if (thread_.joinable()) thread_.join();
  });
}

std::string MqttSource::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

void MqttSource::SetError(std::string error) {
  MutexLock lock(mu_);
  last_error_ = std::move(error);
}

bool MqttSource::Stopping() const {
  MutexLock lock(mu_);
  return stopping_;
}

bool MqttSource::Sleep(int ms) {
  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stopping_) {
    if (!wake_.WaitUntil(lock, deadline)) break;
  }
  return !stopping_;
}

void MqttSource::Run() {
  const bool keep_session = !options_.clean_start && options_.session_expiry_seconds > 0;
  int delay_ms = kFirstDelayMs;
  while (!Stopping()) {
    connack_ok_ = false;
    refusing_ = false;
    refused_ = false;
    library_errors_.clear();
    mosquitto_property* props = nullptr;
    if (keep_session)
      mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, options_.session_expiry_seconds);
    // Blocking (DNS and TCP connect): libmosquitto has no asynchronous connect
    // that takes CONNECT properties, and the session expiry must be in each.
    int rc = mosquitto_connect_bind_v5(mosq_, endpoint_.host.c_str(), endpoint_.port, options_.keepalive_seconds,
                                       nullptr, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
      SetError("cannot connect to " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " + Reason(rc));
      if (!Sleep(delay_ms)) break;
      delay_ms = std::min(delay_ms * 2, kMaxDelayMs);
      continue;
    }
    // Serve the connection until it is lost, or until Stop's DISCONNECT has
    // gone out (or had its chance to).
    int stop_turns = -1;
    while (mosquitto_loop(mosq_, kLoopTimeoutMs, 1) == MOSQ_ERR_SUCCESS) {
      if (stop_turns < 0 && Stopping()) {
        stop_turns = kStopTurns;
        mosquitto_property* disconnect_props = nullptr;
        // A generated id's session can never be resumed: end it now.
        if (keep_session && generated_id_)
          mosquitto_property_add_int32(&disconnect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0);
        mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, disconnect_props);
        mosquitto_property_free_all(&disconnect_props);
      }
      if (stop_turns >= 0 && stop_turns-- == 0) break;
    }
    connected_ = false;
    if (stop_turns >= 0) break;
    // A connection that got as far as CONNACK starts the backoff again, unless
    // it was cut because the handler refused a message (that handler may go on
    // refusing, e.g. while the service stops).
    if (connack_ok_ && !refusing_) delay_ms = kFirstDelayMs;
    if (!Sleep(delay_ms)) break;
    delay_ms = std::min(delay_ms * 2, kMaxDelayMs);
  }
  // Whatever state the loop ended in, no socket stays open.
  mosquitto_disconnect(mosq_);
  mosquitto_loop(mosq_, 0, 1);
  connected_ = false;
}

}  // namespace iomt::ingest
