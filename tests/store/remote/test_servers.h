// The real FHIR server and the fault-injecting proxy of the remote client's
// tests (tests/fhir_server/server.js and proxy.js, on free ports of
// 127.0.0.1), started once per test binary by a gtest Environment and
// stopped at its end. They run as child processes that the kernel kills if
// the test binary dies (PR_SET_PDEATHSIG), so a crashed test leaves no
// server behind.
//
// Why not ctest fixtures: each ctest process would otherwise have to find a
// server started by another one, and a server left behind by an interrupted
// run would hold its port; a child of the test process cannot outlive it.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/remote/remote_client.h"

namespace iomt::store::testing {

class TestServers : public ::testing::Environment {
 public:
  // `server_args`: more arguments for server.js (e.g. --max-page-size).
  explicit TestServers(std::vector<std::string> server_args = {}) : server_args_(std::move(server_args)) {}
  void SetUp() override;
  void TearDown() override;

  // http://127.0.0.1:PORT (the server) and its open FHIR base.
  static const std::string& origin();
  static std::string fhir_base() { return origin() + "/fhir/R4"; }
  // http://127.0.0.1:PORT of the proxy.
  static const std::string& proxy();

  struct Session {
    std::string id;
    std::string fhir_base;  // the open FHIR base through the proxy, in this session
  };
  // A proxy session with its fault schedule (proxy.js).
  static Session NewSession(const std::vector<std::string>& schedule, bool cycle = false);
  struct SessionInfo {
    int requests = 0;
    std::map<std::string, int> faults;
    std::vector<std::string> log;
  };
  static SessionInfo Info(const std::string& session_id);

  // Plain HTTP for the tests' own requests (not counted by any client).
  static std::string Get(const std::string& url);
  static std::string Post(const std::string& url, const std::string& body);

 private:
  std::vector<std::string> server_args_;
};

// Options for a client of the test server: short backoffs so that retry
// tests stay fast.
RemoteOptions TestOptions(const std::string& base_url);
// Connects or fails the test.
std::unique_ptr<RemoteFhirClient> ConnectOrDie(const RemoteOptions& options);

}  // namespace iomt::store::testing
