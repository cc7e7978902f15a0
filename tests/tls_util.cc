#include "tls_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#ifndef IOMT_STUNNEL
#define IOMT_STUNNEL "/usr/bin/stunnel4"
#endif

namespace iomt::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string MakeTempDir(const char* name) {
  std::string pattern = (std::filesystem::temp_directory_path() / name).string() + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return {};
  // Readable by all: a broker started as root reads its files after it has
  // dropped to its own user.
  chmod(pattern.c_str(), 0755);
  return pattern;
}

void RemoveDir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs argv[0] with its output appended to `log`; its exit status, or -1.
int Run(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  argv.reserve(copy.size() + 1);
  for (std::string& a : copy)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
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

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

TestPki::TestPki() : dir_(MakeTempDir("iomt-pki")) {}

TestPki::~TestPki() { RemoveDir(dir_); }

Status TestPki::Make() {
  if (dir_.empty()) return Unavailable("no temporary directory for the test PKI");
  const std::string log = dir_ + "/openssl.log";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto self_signed = [&](const std::string& name, const std::string& subject) {
    std::vector<std::string> args = {"openssl", "req", "-x509"};
    args.insert(args.end(), ec.begin(), ec.end());
    args.insert(args.end(), {"-keyout", dir_ + "/" + name + ".key", "-out", dir_ + "/" + name + ".pem", "-days", "2",
                             "-subj", subject});
    return Run(args, log) == 0;
  };
  // A leaf certificate signed by the test CA, with its extensions in a file
  // (`openssl x509 -req` takes them no other way).
  auto leaf = [&](const std::string& name, const std::string& subject, const std::string& extensions) {
    const std::string base = dir_ + "/" + name;
    std::ofstream(base + ".ext") << extensions;
    std::vector<std::string> request = {"openssl", "req"};
    request.insert(request.end(), ec.begin(), ec.end());
    request.insert(request.end(), {"-keyout", base + ".key", "-out", base + ".csr", "-subj", subject});
    return Run(request, log) == 0 &&
           Run({"openssl", "x509", "-req", "-in", base + ".csr", "-CA", ca_cert(), "-CAkey", ca_key(),
                "-CAcreateserial", "-out", base + ".pem", "-days", "2", "-extfile", base + ".ext"},
               log) == 0;
  };
  const bool made =
      self_signed("ca", "/CN=iomt test CA") && self_signed("other-ca", "/CN=iomt other CA") &&
      leaf("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n") &&
      leaf("client", "/CN=iomt-test-client", "extendedKeyUsage=clientAuth\n");
  if (!made) return Unavailable("openssl could not make the test certificates:\n" + ReadAll(log));
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    chmod(entry.path().c_str(), 0644);
  return Status::Ok();
}

Stunnel::Stunnel(StunnelOptions options) : options_(std::move(options)), dir_(MakeTempDir("iomt-stunnel")) {}

Stunnel::~Stunnel() {
  Stop();
  RemoveDir(dir_);
}

Status Stunnel::Start() {
  if (pid_ > 0) return Status::Ok();
  if (dir_.empty() || options_.pki == nullptr) return Unavailable("stunnel: no temporary directory or no PKI");
  const std::string config = dir_ + "/stunnel.conf";
  const std::string log_path = dir_ + "/stunnel.log";
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  // The free port may be taken before stunnel binds it: then it exits, and
  // another port is tried.
  while (Clock::now() < deadline) {
    port_ = FreePort();
    {
      std::ofstream out(config);
      out << "foreground = yes\n"
          << "pid =\n"
          << "debug = 5\n"
          << "output = " << log_path << "\n"
          << "[tls]\n"
          << "accept = 127.0.0.1:" << port_ << "\n"
          << "connect = " << options_.connect << "\n"
          << "cert = " << options_.pki->server_cert() << "\n"
          << "key = " << options_.pki->server_key() << "\n"
          << "sslVersionMin = TLSv1.2\n"
          << "CAfile = " << options_.pki->ca_cert() << "\n"
          << "verify = " << options_.verify << "\n";
    }
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return Unavailable("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
      }
      execl(IOMT_STUNNEL, IOMT_STUNNEL, config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pid_ = pid;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid_ = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
          return Unavailable("cannot run " IOMT_STUNNEL " (install Debian's stunnel4 package)");
        break;
      }
      if (Accepts(port_)) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  return Unavailable("stunnel did not start; its log:\n" + log());
}

void Stunnel::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Stunnel::log() const { return ReadAll(dir_ + "/stunnel.log"); }

}  // namespace iomt::testing
