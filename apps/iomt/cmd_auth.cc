// `iomt auth`: making the credentials of `iomt serve` (docs/security.md).
//   iomt auth new-key --name NAME --roles ROLE[,ROLE...]
//     prints a new random API key (give it to the client) and the line of
//     the configuration that admits it (only the key's salted hash: the
//     configuration never holds the key itself).
//   iomt auth hash-key --name NAME --roles ... < KEYFILE
//     the same for a key chosen elsewhere, read from standard input (never
//     from a flag: flags show in `ps` and in shell histories).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "auth/auth.h"
#include "commands.h"
#include "common/json/writer.h"

namespace iomt::cli {
namespace {

struct AuthFlags {
  std::string name;
  std::string roles;
};

// The roles given, checked: a typo would make a key that opens nothing.
bool CheckRoles(const std::string& roles) {
  std::size_t start = 0;
  bool any = false;
  while (start <= roles.size()) {
    const std::size_t comma = roles.find(',', start);
    const std::string one = roles.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? roles.size() + 1 : comma + 1;
    if (one.empty()) continue;
    if (auto grant = auth::ParseGrant(one); !grant.ok()) {
      std::fprintf(stderr, "error: %s\n", grant.status().message().c_str());
      return false;
    }
    any = true;
  }
  if (!any) std::fprintf(stderr, "error: --roles names no role\n");
  return any;
}

void PrintConfigLine(const AuthFlags& flags, const std::string& key) {
  std::string line = "\"auth\": {\"apiKeys\": {";
  json::AppendQuoted(&line, flags.name);
  line.append(": ");
  json::AppendQuoted(&line, flags.roles + " " + auth::HashApiKey(key));
  line.append("}}");
  std::printf("configuration (docs/security.md):\n  %s\n", line.c_str());
}

int NewKey(const AuthFlags& flags) {
  if (!CheckRoles(flags.roles)) return kExitUsage;
  const std::string key = auth::NewApiKey();
  std::printf("key (give it to the client; it is not kept anywhere):\n  %s\n", key.c_str());
  PrintConfigLine(flags, key);
  return kExitOk;
}

int HashKey(const AuthFlags& flags) {
  if (!CheckRoles(flags.roles)) return kExitUsage;
  std::string key((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
    key.pop_back();
  if (key.size() < 16) {
    std::fprintf(stderr, "error: the key on standard input is shorter than 16 characters\n");
    return kExitUsage;
  }
  PrintConfigLine(flags, key);
  return kExitOk;
}

}  // namespace

Runner RegisterAuth(CLI::App& app) {
  auto flags = std::make_shared<AuthFlags>();
  app.require_subcommand(1);
  CLI::App* new_key = app.add_subcommand("new-key", "Make a random API key and the configuration line that admits it");
  CLI::App* hash_key = app.add_subcommand("hash-key", "The configuration line for an API key read from standard input");
  for (CLI::App* sub : {new_key, hash_key}) {
    sub->add_option("--name", flags->name, "The key's name (who uses it; in the audit log)")->required();
    sub->add_option("--roles", flags->roles,
                    "Its roles, comma-separated: admin, ingest, ingest:CONNECTOR, fhir-read, fhir-write, metrics")
        ->required();
  }
  return [flags, new_key] { return new_key->parsed() ? NewKey(*flags) : HashKey(*flags); };
}

}  // namespace iomt::cli
