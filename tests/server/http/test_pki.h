// A test certificate authority made with the openssl command line, for the
// HTTP server's TLS tests (http_server_test.cc, websocket_test.cc).
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace iomt::server {

// A CA, and server certificates it signs (P-256, for 127.0.0.1 and
// localhost), made with the openssl command line in a fresh directory that
// goes away with it.
class TestPki {
 public:
  TestPki() {
    std::string dir = (std::filesystem::temp_directory_path() / "iomt-tls-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return;
    dir_ = dir;
    std::ofstream(Path("ext.cnf")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                      "basicConstraints=critical,CA:FALSE\n"
                                      "keyUsage=critical,digitalSignature\n"
                                      "extendedKeyUsage=serverAuth\n";
    ok_ = Openssl(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj /CN=iomt-test-ca");
  }
  ~TestPki() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::string Path(const std::string& file) const { return dir_ + "/" + file; }
  [[nodiscard]] std::string ca() const { return Path("ca.pem"); }
  // NAME.pem and NAME.key (replacing those there): a server certificate
  // with that common name and serial number.
  bool Issue(const std::string& name, const std::string& common_name, int serial) {
    return Openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key -out " + name +
                   ".csr -subj /CN=" + common_name) &&
           Openssl("x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -set_serial " + std::to_string(serial) +
                   " -days 2 -extfile ext.cnf -out " + name + ".pem");
  }
  // NAME.pem and NAME.key as Issue() makes them, but signed by an
  // intermediate CA that the root signed: NAME.pem holds the server's
  // certificate, then the intermediate's.
  bool IssueThroughIntermediate(const std::string& name, const std::string& common_name) {
    std::ofstream(Path("ca-ext.cnf")) << "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
    return Openssl(
               "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr "
               "-subj /CN=iomt-test-intermediate") &&
           Openssl(
               "x509 -req -in int.csr -CA ca.pem -CAkey ca.key -set_serial 100 -days 2 -extfile ca-ext.cnf "
               "-out int.pem") &&
           Openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key -out " + name +
                   ".csr -subj /CN=" + common_name) &&
           Openssl("x509 -req -in " + name + ".csr -CA int.pem -CAkey int.key -set_serial 101 -days 2 " +
                   "-extfile ext.cnf -out " + name + "-leaf.pem") &&
           std::system(("cat '" + Path(name + "-leaf.pem") + "' '" + Path("int.pem") +
                        "' > '" +  // NOLINT(cert-env33-c)
                        Path(name + ".pem") + "'")
                           .c_str()) == 0;
  }

 private:
  [[nodiscard]] bool Openssl(const std::string& args) const {
    const std::string command = "cd '" + dir_ + "' && openssl " + args + " >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;  // NOLINT(cert-env33-c): the test's own fixed command
  }

  std::string dir_;
  bool ok_ = false;
};

}  // namespace iomt::server
