#include "test_servers.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "common/json/document.h"
#include "store/remote/http.h"
#include "test_util.h"

#ifndef IOMT_NODE
#define IOMT_NODE "node"
#endif

namespace iomt::store::testing {

namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // the read end of its stdout, kept open so it never gets EPIPE
  std::string url;
};

Child server_process, proxy_process;
// server.js prints its open base; the origin is what precedes /fhir/R4.
std::string server_origin;

// Starts `node script args...` and waits for "listening on URL" on its
// first line of output.
Child StartNode(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv_text = {IOMT_NODE};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_text.size() + 1);
  for (std::string& a : argv_text)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) {
    *error = "pipe failed";
    return {};
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  Child child;
  child.pid = pid;
  child.out = fds[0];
  std::string line;
  while (line.find('\n') == std::string::npos) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 60'000) <= 0) break;
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  const std::string prefix = "listening on ";
  if (!line.starts_with(prefix) || line.find('\n') == std::string::npos) {
    *error = "`" + argv_text[0] + " " + args.front() +
             "` did not start (is node installed, and are the packages? run "
             "./scripts/install-deps.sh node && ./scripts/npm-install.sh tests/fhir_server); it printed: " +
             line;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(fds[0]);
    return {};
  }
  child.url = line.substr(prefix.size(), line.find('\n') - prefix.size());
  return child;
}

void Stop(Child* child) {
  if (child->pid > 0) {
    kill(child->pid, SIGTERM);
    waitpid(child->pid, nullptr, 0);
  }
  if (child->out >= 0) close(child->out);
  *child = Child{};
}

http::Pool& TestPool() {
  static http::Pool pool(http::PoolOptions{});
  return pool;
}

}  // namespace

void TestServers::SetUp() {
  std::string error;
  const std::string dir = iomt::testing::SourcePath("tests/fhir_server/");
  std::vector<std::string> args = {dir + "server.js"};
  args.insert(args.end(), server_args_.begin(), server_args_.end());
  server_process = StartNode(args, &error);
  ASSERT_GT(server_process.pid, 0) << error;
  server_origin = server_process.url.substr(0, server_process.url.find("/fhir/R4"));
  proxy_process = StartNode({dir + "proxy.js", "--target", origin()}, &error);
  ASSERT_GT(proxy_process.pid, 0) << error;
}

void TestServers::TearDown() {
  Stop(&proxy_process);
  Stop(&server_process);
}

const std::string& TestServers::origin() { return server_origin; }

const std::string& TestServers::proxy() { return proxy_process.url; }

TestServers::Session TestServers::NewSession(const std::vector<std::string>& schedule, bool cycle) {
  std::string body = R"({"schedule":[)";
  for (std::size_t i = 0; i < schedule.size(); ++i) {
    if (i > 0) body.push_back(',');
    body.append("\"").append(schedule[i]).append("\"");
  }
  body.append(cycle ? "],\"cycle\":true}" : "],\"cycle\":false}");
  std::string answer = Post(proxy() + "/__sessions", body);
  json::Document doc;
  Session s;
  json::Value v;
  if (doc.Parse(answer).ok() && doc.root().Find("id", &v) && v.is_string()) s.id = std::string(v.string_value());
  EXPECT_FALSE(s.id.empty()) << answer;
  s.fhir_base = proxy() + "/s/" + s.id + "/fhir/R4";
  return s;
}

TestServers::SessionInfo TestServers::Info(const std::string& session_id) {
  std::string answer = Get(proxy() + "/__sessions/" + session_id);
  json::Document doc;
  SessionInfo info;
  if (!doc.Parse(answer).ok()) {
    ADD_FAILURE() << answer;
    return info;
  }
  json::Value v;
  if (doc.root().Find("requests", &v)) info.requests = static_cast<int>(v.AsDouble());
  if (doc.root().Find("faults", &v)) {
    for (const auto& m : v.members())
      info.faults[std::string(m.key)] = static_cast<int>(m.value.AsDouble());
  }
  if (doc.root().Find("log", &v)) {
    for (json::Value line : v.elements())
      info.log.emplace_back(line.string_value());
  }
  return info;
}

std::string TestServers::Get(const std::string& url) {
  http::Outcome o = TestPool().Perform({"GET", url, {}, {}});
  EXPECT_EQ(o.error, http::TransportError::kNone) << url << ": " << o.error_text;
  return o.response.body;
}

std::string TestServers::Post(const std::string& url, const std::string& body) {
  http::Outcome o = TestPool().Perform({"POST", url, {"Content-Type: application/json"}, body});
  EXPECT_EQ(o.error, http::TransportError::kNone) << url << ": " << o.error_text;
  return o.response.body;
}

RemoteOptions TestOptions(const std::string& base_url) {
  RemoteOptions o;
  o.base_url = base_url;
  o.initial_backoff = std::chrono::milliseconds(20);
  o.max_backoff = std::chrono::milliseconds(200);
  o.max_retry_after = std::chrono::milliseconds(3'000);
  o.connect_timeout = std::chrono::milliseconds(3'000);
  o.request_timeout = std::chrono::milliseconds(10'000);
  return o;
}

std::unique_ptr<RemoteFhirClient> ConnectOrDie(const RemoteOptions& options) {
  auto client = RemoteFhirClient::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString() << " [" << client.status().detail() << "]";
  return client.ok() ? std::move(*client) : nullptr;
}

}  // namespace iomt::store::testing
