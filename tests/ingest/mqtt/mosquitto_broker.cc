#include "mosquitto_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef IOMT_MOSQUITTO
#define IOMT_MOSQUITTO "/usr/sbin/mosquitto"
#endif

namespace iomt::ingest::testing {

namespace {

using Clock = std::chrono::steady_clock;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

MosquittoBroker::MosquittoBroker(BrokerOptions options) : options_(std::move(options)) {
  std::string pattern = (std::filesystem::temp_directory_path() / "iomt-mosquitto-XXXXXX").string();
  if (mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  port_ = FreePort();
  if (options_.tls) plain_port_ = FreePort();
}

MosquittoBroker::~MosquittoBroker() {
  Kill();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

Status MosquittoBroker::Start() {
  if (running()) return Status::Ok();
  if (dir_.empty() || port_ == 0) return Unavailable("no temporary directory or free port for mosquitto");
  const std::string config = dir_ + "/mosquitto.conf";
  const std::string log_path = dir_ + "/mosquitto.log";  // built before fork: the child may not allocate
  if (options_.tls && !options_.tls->users.empty()) {
    // mosquitto_passwd -b adds a user to an existing file, the password
    // taken from the command line (test passwords only).
    const std::string passwords = dir_ + "/passwords";
    std::ofstream(passwords, std::ios::trunc).close();
    for (const auto& [user, password] : options_.tls->users) {
      std::string command = "mosquitto_passwd -b ";
      command.append(passwords).append(" '").append(user).append("' '").append(password).append("'");
      if (std::system(command.c_str()) != 0) return Unavailable("mosquitto_passwd failed for user " + user);
    }
    // The broker, started as root, reads it after dropping to its own user.
    chmod(dir_.c_str(), 0755);
    chmod(passwords.c_str(), 0644);
  }
  {
    std::ofstream out(config);
    if (options_.tls) {
      // Each listener its own security settings: anonymous on the
      // publisher's, certificates (and passwords) on the TLS one.
      out << "per_listener_settings true\n"
          << "listener " << plain_port_ << " 127.0.0.1\n"
          << "allow_anonymous true\n"
          << "listener " << port_ << " 127.0.0.1\n"
          << "cafile " << options_.tls->cafile << "\n"
          << "certfile " << options_.tls->certfile << "\n"
          << "keyfile " << options_.tls->keyfile << "\n"
          << "tls_version tlsv1.2\n"
          << "require_certificate " << (options_.tls->require_certificate ? "true" : "false") << "\n";
      if (options_.tls->users.empty()) {
        out << "allow_anonymous true\n";
      } else {
        out << "allow_anonymous false\npassword_file " << dir_ << "/passwords\n";
      }
    } else {
      out << "listener " << port_ << " 127.0.0.1\n"
          << "allow_anonymous true\n";
    }
    out << "max_queued_messages " << options_.max_queued_messages << "\n"
        << "log_dest stderr\n"
        << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    if (options_.persistence) out << "persistence true\npersistence_location " << dir_ << "/\n";
    out << options_.extra_config;
  }
  // Either the broker's first attempt at the port or a restart of a killed
  // one, whose port may still be held for a moment: retry while it exits early.
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return Unavailable("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
      }
      execl(IOMT_MOSQUITTO, IOMT_MOSQUITTO, "-c", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pid_ = pid;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid_ = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
          return Unavailable("cannot run " IOMT_MOSQUITTO " (install Debian's mosquitto package)");
        break;
      }
      if (Accepts(port_) && (!options_.tls || Accepts(plain_port_))) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Kill();
  return Unavailable("mosquitto did not start on port " + std::to_string(port_) + "; its log:\n" + log());
}

void MosquittoBroker::Signal(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void MosquittoBroker::Stop() { Signal(SIGTERM); }

void MosquittoBroker::Kill() { Signal(SIGKILL); }

std::string MosquittoBroker::log() const {
  std::ifstream in(dir_ + "/mosquitto.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

struct PublishState {
  int acknowledged = 0;
  int failed = 0;
  int last_failure = 0;
  bool connected = false;
  int connack = -1;
};

}  // namespace

Status PublishMessages(int port, const std::vector<TestMessage>& messages) {
  static const int kInit = mosquitto_lib_init();
  (void)kInit;
  PublishState state;
  mosquitto* mosq = mosquitto_new(nullptr, true, &state);
  if (mosq == nullptr) return Internal("mosquitto_new failed");
  struct Destroy {
    mosquitto* m;
    ~Destroy() { mosquitto_destroy(m); }
  } destroy{mosq};
  mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_connect_v5_callback_set(mosq, [](mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
    auto* s = static_cast<PublishState*>(obj);
    s->connack = rc;
    s->connected = rc == 0;
  });
  mosquitto_publish_v5_callback_set(mosq, [](mosquitto*, void* obj, int, int reason, const mosquitto_property*) {
    auto* s = static_cast<PublishState*>(obj);
    ++s->acknowledged;
    // Below 0x80 is success (0x10: nobody subscribed, which tests may mean).
    if (reason >= 0x80) {
      ++s->failed;
      s->last_failure = reason;
    }
  });
  int rc = mosquitto_connect_bind_v5(mosq, "127.0.0.1", port, 30, nullptr, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("publisher cannot connect: ") + mosquitto_strerror(rc));
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (state.connack < 0 && Clock::now() < deadline) {
    rc = mosquitto_loop(mosq, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("publisher lost the broker: ") + mosquitto_strerror(rc));
  }
  if (!state.connected) return Unavailable("publisher: the broker refused the connection");
  for (const TestMessage& m : messages) {
    mosquitto_property* props = nullptr;
    for (const auto& [name, value] : m.user_properties)
      mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, name.c_str(), value.c_str());
    rc = mosquitto_publish_v5(mosq, nullptr, m.topic.c_str(), static_cast<int>(m.payload.size()), m.payload.data(),
                              m.qos, m.retain, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("publish failed: ") + mosquitto_strerror(rc));
    // Keep the socket moving so that the outgoing queue does not grow
    // without bound on a large batch.
    mosquitto_loop(mosq, 0, 1);
  }
  while (state.acknowledged < static_cast<int>(messages.size()) && Clock::now() < deadline) {
    rc = mosquitto_loop(mosq, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("publisher lost the broker: ") + mosquitto_strerror(rc));
  }
  mosquitto_disconnect(mosq);
  mosquitto_loop(mosq, 100, 1);
  if (state.acknowledged < static_cast<int>(messages.size()))
    return Unavailable("publisher: only " + std::to_string(state.acknowledged) + " of " +
                       std::to_string(messages.size()) + " messages acknowledged in 60 s");
  if (state.failed > 0)
    return Unavailable("publisher: " + std::to_string(state.failed) +
                       " messages refused by the broker: " + mosquitto_reason_string(state.last_failure));
  return Status::Ok();
}

}  // namespace iomt::ingest::testing
