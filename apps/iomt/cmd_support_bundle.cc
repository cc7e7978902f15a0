// `iomt support-bundle RESOURCE_URL --out FILE.tar.gz`: what a support
// engineer needs about one provisioned connector, in one file the operator
// can send (docs/cli.md, "Mappings and support"): its mappings, its settings
// without secrets, its status (counters, recent errors, errors by name), its
// metrics and the version. Never a message body and never a dead letter:
// the dead letters are not fetched, and members that could carry a body or
// a secret are removed from every JSON file, whatever the server sent.
// The archive is private to its owner (0600, members 0600), and appears
// whole or not at all (written beside, then renamed).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "common/json/writer.h"
#include "common/strings.h"
#include "management_client.h"
#include "version.h"

namespace iomt::cli {
namespace {

struct BundleFlags {
  std::string url;
  std::string out;
  std::string token;
  std::string ca_file;
};

struct Member {
  std::string name;
  std::string content;
};

// A member name that may hold a secret (the API never returns one, but a
// bundle leaves the building) or a device message (status answers carry
// none; dead-letter records would, under "event"). Compared without case.
bool Sensitive(std::string_view name) {
  const std::string lower = AsciiLower(name);
  static constexpr std::array<std::string_view, 5> kSecret = {"secret", "token", "password", "connectionstring", "key"};
  for (std::string_view word : kSecret) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return lower == "body" || lower == "messagebody" || lower == "message body" || lower == "event";
}

// `node` pretty-printed (two spaces), without its sensitive members (their
// paths added to `removed`). Scalars keep their text as sent (numbers are
// not re-formatted).
void AppendRedacted(std::string* out, std::string_view text, const json::SourceNode& node, int depth,
                    std::vector<std::string>* removed) {
  auto newline = [&](int level) {
    out->push_back('\n');
    out->append(static_cast<std::size_t>(level) * 2, ' ');
  };
  if (node.kind == json::Kind::kObject) {
    bool first = true;
    out->push_back('{');
    for (const json::SourceMember& member : node.members) {
      if (Sensitive(member.key)) {
        removed->push_back(member.value.path);
        continue;
      }
      if (!first) out->push_back(',');
      first = false;
      newline(depth + 1);
      json::AppendQuoted(out, member.key);
      out->append(": ");
      AppendRedacted(out, text, member.value, depth + 1, removed);
    }
    if (!first) newline(depth);
    out->push_back('}');
  } else if (node.kind == json::Kind::kArray) {
    out->push_back('[');
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      if (i > 0) out->push_back(',');
      newline(depth + 1);
      AppendRedacted(out, text, node.items[i], depth + 1, removed);
    }
    if (!node.items.empty()) newline(depth);
    out->push_back(']');
  } else {
    out->append(json::RawText(text, node));
  }
}

std::string Redacted(const JsonAnswer& answer, const std::string& file, std::vector<std::string>* removed) {
  std::vector<std::string> paths;
  std::string out;
  AppendRedacted(&out, answer.text, answer.doc.root, 0, &paths);
  out.push_back('\n');
  for (const std::string& path : paths)
    removed->push_back(Cat({file, ": ", path.empty() ? "(root)" : path}));
  return out;
}

// The value of label `name` in a Prometheus sample line, or nullopt when
// the sample has no such label (or the line cannot be read as a sample).
std::optional<std::string> LabelValue(std::string_view line, std::string_view name) {
  std::size_t open = line.find_first_of("{ ");
  if (open == std::string_view::npos || line[open] != '{') return std::nullopt;
  std::size_t i = open + 1;
  while (i < line.size() && line[i] != '}') {
    std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return std::nullopt;
    std::string_view label = line.substr(i, eq - i);
    std::string value;
    i = eq + 2;
    for (; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        ++i;
        value.push_back(line[i] == 'n' ? '\n' : line[i]);
      } else {
        value.push_back(line[i]);
      }
    }
    if (i >= line.size()) return std::nullopt;
    ++i;  // the closing quote
    if (label == name) return value;
    if (i < line.size() && line[i] == ',') ++i;
  }
  return std::nullopt;
}

// The samples of this connector and those of the process (no connector
// label), each family's # HELP and # TYPE kept before its first sample
// kept; other connectors' samples left out.
std::string FilterMetrics(std::string_view text, const std::string& connector) {
  std::string out, header;
  bool in_samples = false;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (in_samples) header.clear();
      in_samples = false;
      header.append(line).push_back('\n');
      continue;
    }
    in_samples = true;
    std::optional<std::string> label = LabelValue(line, "connector");
    if (label && *label != connector) continue;
    out.append(header);
    header.clear();
    out.append(line).push_back('\n');
  }
  return out;
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// Writes the members as FILE (gzipped ustar), the file and every member
// 0600. Written beside FILE and renamed over it: FILE is whole or absent.
Status WriteBundle(const std::string& path, const std::vector<Member>& members) {
  std::string temp = path + ".XXXXXX";
  int fd = ::mkstemp(temp.data());  // 0600
  if (fd < 0) return IoError(Cat({"cannot create a file beside ", path, ": ", std::strerror(errno)}));
  auto fail = [&](const std::string& why) {
    ::close(fd);
    ::unlink(temp.c_str());
    return IoError(Cat({"cannot write ", path, ": ", why}));
  };
  if (::fchmod(fd, 0600) != 0) return fail(std::strerror(errno));
  std::unique_ptr<archive, int (*)(archive*)> tar(archive_write_new(), &archive_write_free);
  if (tar == nullptr) return fail("out of memory");
  if (archive_write_add_filter_gzip(tar.get()) != ARCHIVE_OK ||
      archive_write_set_format_ustar(tar.get()) != ARCHIVE_OK || archive_write_open_fd(tar.get(), fd) != ARCHIVE_OK) {
    return fail(archive_error_string(tar.get()));
  }
  const std::time_t now = std::time(nullptr);
  for (const Member& member : members) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), &archive_entry_free);
    archive_entry_set_pathname(entry.get(), member.name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0600);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(member.content.size()));
    archive_entry_set_mtime(entry.get(), now, 0);
    if (archive_write_header(tar.get(), entry.get()) != ARCHIVE_OK) return fail(archive_error_string(tar.get()));
    if (archive_write_data(tar.get(), member.content.data(), member.content.size()) !=
        static_cast<la_ssize_t>(member.content.size())) {
      return fail(archive_error_string(tar.get()));
    }
  }
  if (archive_write_close(tar.get()) != ARCHIVE_OK) return fail(archive_error_string(tar.get()));
  if (::fsync(fd) != 0) return fail(std::strerror(errno));
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    return IoError(Cat({"cannot write ", path, ": ", std::strerror(errno)}));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status st = IoError(Cat({"cannot write ", path, ": ", std::strerror(errno)}));
    ::unlink(temp.c_str());
    return st;
  }
  return Status::Ok();
}

int Bundle(const BundleFlags& flags) {
  auto url = ParseConnectorUrl(flags.url);
  if (!url.ok()) {
    std::fprintf(stderr, "error: %s\n", url.status().message().c_str());
    return kExitUsage;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(flags.out, ec)) {
    std::fprintf(stderr, "error: --out %s is a directory; give the archive's file name\n", flags.out.c_str());
    return kExitUsage;
  }

  ManagementClient client(flags.token, flags.ca_file);
  std::string warning;
  int fetch_exit = 0;
  std::optional<ConnectorSnapshot> snapshot = FetchConnectorForCommand(client, *url, &warning, &fetch_exit);
  if (!snapshot) return fetch_exit;

  std::vector<Member> members;
  std::vector<std::string> left_out;  // "member: why"
  std::vector<std::string> removed;   // "member: path" of members taken out
  int exit_code = kExitOk;
  auto leave_out = [&](const std::string& name, const std::string& why, int code) {
    left_out.push_back(Cat({name, ": ", why}));
    exit_code = std::max(exit_code, code);
  };
  auto add_json = [&](const std::string& name, const std::string& get_url) {
    FetchError fetch_error;
    std::optional<JsonAnswer> answer = client.GetJson(get_url, &fetch_error);
    if (!answer) return leave_out(name, fetch_error.message, fetch_error.exit_code);
    members.push_back({name, Redacted(*answer, name, &removed)});
  };

  members.push_back({"devicecontent.json", snapshot->device_mapping + "\n"});
  if (snapshot->destination) members.push_back({"fhirmapping.json", snapshot->fhir_mapping + "\n"});
  members.push_back({"connector.json", Redacted(snapshot->connector, "connector.json", &removed)});
  if (!snapshot->destination) {
    for (const char* name : {"fhirmapping.json", "destination.json", "fhirservice.json"}) {
      leave_out(name, warning, kExitInvalid);
    }
  } else {
    const json::SourceNode& destination = snapshot->destination->doc.root;
    const json::SourceNode* id = FindPath(destination, {"id"});
    if (id != nullptr && id->kind == json::Kind::kString && !id->text.empty() && id->text.front() == '/') {
      add_json("destination.json", url->ArmId(id->text));
    } else {  // no id to GET it by: as the list gave it
      members.push_back({"destination.json", Redacted(*snapshot->destination, "destination.json", &removed)});
    }
    const json::SourceNode* fhir_id = FindPath(destination, {"properties", "fhirServiceResourceId"});
    if (fhir_id == nullptr || fhir_id->kind != json::Kind::kString) {
      leave_out("fhirservice.json", "the destination has no properties.fhirServiceResourceId", kExitInvalid);
    } else if (!IsWorkspaceFhirServiceId(fhir_id->text)) {
      leave_out("fhirservice.json",
                Cat({"the destination's fhirServiceResourceId is not a workspace's FHIR service on this server: ",
                     fhir_id->text}),
                kExitInvalid);
    } else {
      add_json("fhirservice.json", url->ArmId(fhir_id->text));
    }
  }
  add_json("status.json", Cat({url->server, "/connectors/", store::http::PercentEncode(snapshot->service_name)}));
  {
    FetchError fetch_error;
    const std::string metrics_url = url->server + "/metrics";
    if (std::optional<std::string> metrics = client.Get(metrics_url, &fetch_error)) {
      members.push_back({"metrics.txt", FilterMetrics(*metrics, snapshot->service_name)});
    } else {
      leave_out("metrics.txt", fetch_error.message, fetch_error.exit_code);
    }
  }
  std::string version = Cat(
      {VersionLine(), "\ndate: ", UtcNow(), "\nresource: ", flags.url, "\nconnector: ", snapshot->service_name, "\n"});
  for (const std::string& line : left_out)
    version.append("left out: ").append(line).push_back('\n');
  for (const std::string& line : removed)
    version.append("removed: ").append(line).push_back('\n');
  members.push_back({"version.txt", std::move(version)});

  if (Status st = WriteBundle(flags.out, members); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitUsage;
  }
  for (const std::string& line : left_out)
    std::fprintf(stderr, "warning: left out %s\n", line.c_str());
  std::printf("%s\n", flags.out.c_str());
  for (const Member& member : members)
    std::printf("  %s (%zu bytes)\n", member.name.c_str(), member.content.size());
  return exit_code;
}

}  // namespace

Runner RegisterSupportBundle(CLI::App& app) {
  auto flags = std::make_shared<BundleFlags>();
  app.add_option("RESOURCE_URL", flags->url,
                 "The connector's URL on iomt serve: "
                 "http://HOST:PORT/subscriptions/S/resourceGroups/RG/providers/Microsoft.HealthcareApis/"
                 "workspaces/WS/iotconnectors/NAME[?api-version=...]")
      ->required();
  app.add_option("--out", flags->out, "The archive to write (FILE.tar.gz, created 0600)")->required();
  app.add_option("--token", flags->token,
                 "Bearer token for a server that wants one (or the environment's IOMT_TOKEN); never printed")
      ->envname("IOMT_TOKEN");
  app.add_option("--ca", flags->ca_file, "CA bundle (PEM) for an https server with a private CA");
  app.footer(
      "The archive holds devicecontent.json, fhirmapping.json, connector.json, destination.json, fhirservice.json "
      "(secrets removed), status.json (counters, recent errors, errors by name), metrics.txt (this connector's "
      "and the process's) and version.txt; no message bodies, no dead letters.\n"
      "Exit codes: 0 written whole; 1 the server refused (no such connector, credentials), or written with some "
      "files left out (listed in version.txt and on stderr); 2 usage (bad URL, --out not writable); 3 the server "
      "could not be reached or failed.");
  return [flags]() { return Bundle(*flags); };
}

}  // namespace iomt::cli
