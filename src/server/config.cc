#include "server/config.h"

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <set>
#include <span>

#include "common/json/source.h"
#include "common/strings.h"
#include "server/settings.h"

namespace iomt::server {

Result<std::string> ReadSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(Cat({"cannot read the secret file ", path}));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!contents.empty() && (contents.back() == '\n' || contents.back() == '\r'))
    contents.pop_back();
  return contents;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8: four dotted numbers, the first 127.
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

Result<auth::AuthOptions> AuthOptionsFor(const AuthConfig& config) {
  auth::AuthOptions options;
  std::vector<std::string> problems;
  for (const auto& [name, value] : config.api_keys) {
    // "ROLE[,ROLE...] HASH": the hash has no spaces, so the last space splits.
    const std::size_t space = value.rfind(' ');
    auth::ApiKey key;
    key.name = name;
    if (space == std::string::npos) {
      problems.push_back(Cat({"auth.apiKeys.", name, ": write \"ROLE[,ROLE...] HASH\" (iomt auth new-key prints it)"}));
      continue;
    }
    key.hash = value.substr(space + 1);
    if (Status st = auth::CheckApiKeyHash(key.hash); !st.ok()) {
      problems.push_back(Cat({"auth.apiKeys.", name, ": ", st.message()}));
    }
    const std::string_view text = value;
    std::string_view roles = text.substr(0, space);
    while (!roles.empty()) {
      const std::size_t comma = roles.find(',');
      std::string_view one = roles.substr(0, comma);
      while (!one.empty() && one.front() == ' ')
        one.remove_prefix(1);
      while (!one.empty() && one.back() == ' ')
        one.remove_suffix(1);
      roles = comma == std::string_view::npos ? std::string_view() : roles.substr(comma + 1);
      if (one.empty()) continue;
      auto grant = auth::ParseGrant(one);
      if (!grant.ok()) {
        problems.push_back(Cat({"auth.apiKeys.", name, ": ", grant.status().message()}));
      } else {
        key.grants.push_back(*grant);
      }
    }
    if (key.grants.empty()) problems.push_back(Cat({"auth.apiKeys.", name, ": no role"}));
    options.api_keys.push_back(std::move(key));
  }
  const bool jwt = !config.jwt_issuer.empty() || !config.jwt_audience.empty() || !config.jwt_jwks_file.empty() ||
                   !config.jwt_jwks_url.empty();
  if (jwt) {
    if (config.jwt_issuer.empty() || config.jwt_audience.empty()) {
      problems.emplace_back("auth.jwt needs issuer and audience");
    }
    if (config.jwt_jwks_file.empty() == config.jwt_jwks_url.empty()) {
      problems.emplace_back("auth.jwt needs one of jwksFile and jwksUrl");
    }
    for (const auto& [claim, roles] : config.jwt_role_map) {
      if (!auth::ParseGrant(roles).ok()) {
        problems.push_back(Cat({"auth.jwt.roleMap.", claim, ": '", roles, "' is not a role"}));
      }
    }
    auth::JwtOptions& j = options.jwt.emplace();
    j.issuer = config.jwt_issuer;
    j.audience = config.jwt_audience;
    j.jwks_file = config.jwt_jwks_file;
    j.jwks_url = config.jwt_jwks_url;
    j.ca_file = config.jwt_ca_file;
    j.roles_claim = config.jwt_roles_claim;
    j.role_map = config.jwt_role_map;
    j.clock_skew_seconds = config.jwt_clock_skew_seconds;
  }
  if (!problems.empty()) {
    std::string message;
    for (const std::string& p : problems)
      message.append(message.empty() ? "" : "; ").append(p);
    return InvalidArgument(message);
  }
  return options;
}

store::RemoteOptions RemoteOptionsFor(const FhirDestinationConfig& fhir) {
  store::RemoteOptions options;
  options.base_url = fhir.url;
  options.bearer_token = fhir.token;
  options.oauth.token_url = fhir.oauth_token_url;
  options.oauth.client_id = fhir.oauth_client_id;
  options.oauth.client_secret = fhir.oauth_client_secret;
  options.oauth.scope = fhir.oauth_scope;
  options.ca_file = fhir.ca_file;
  options.client_cert_file = fhir.client_cert_file;
  options.client_key_file = fhir.client_key_file;
  return options;
}

Status ParseListen(std::string_view listen, std::string* host, int* port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == listen.size()) {
    return InvalidArgument(Cat({"listen address '", listen, "' is not HOST:PORT (e.g. 127.0.0.1:8080)"}));
  }
  std::string_view digits = listen.substr(colon + 1);
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9' || value > 65535) {
      return InvalidArgument(Cat({"listen address '", listen, "': the port is not a number"}));
    }
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return InvalidArgument(Cat({"listen address '", listen, "': port out of range"}));
  *host = std::string(listen.substr(0, colon));
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  *port = value;
  return Status::Ok();
}

bool ValidConnectorName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool ValidEventHubNamespace(std::string_view fqdn) {
  static constexpr std::string_view kSuffix = ".servicebus.windows.net";
  if (fqdn.size() <= kSuffix.size() || AsciiLower(fqdn.substr(fqdn.size() - kSuffix.size())) != kSuffix) return false;
  // Event Hubs namespace names: 6 to 50 letters, digits and hyphens, starting
  // with a letter and ending with a letter or digit.
  const std::string_view name = fqdn.substr(0, fqdn.size() - kSuffix.size());
  if (name.size() < 6 || name.size() > 50) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!((name.front() >= 'a' && name.front() <= 'z') || (name.front() >= 'A' && name.front() <= 'Z'))) return false;
  if (!alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

namespace {

using json::SourceMember;
using json::SourceNode;

// Reads objects of settings as the tables of server/settings.h describe
// them, collecting every problem with its position.
class ConfigReader {
 public:
  ConfigReader(std::string base_dir, std::vector<MappingError>* errors)
      : base_dir_(std::move(base_dir)), errors_(errors) {}

  void Error(const SourceNode& at, std::string message) { errors_->push_back({std::move(message), at.pos}); }

  // Reads `node`, the object of `specs` at `group` ("" for the top; `what`
  // names it in messages): unknown members (listing the known ones, which
  // are the group's and `more_known`), then each setting in table order,
  // each group where its first setting is. False when it is not an object.
  template <typename Config>
  bool Settings(const SourceNode& node, std::span<const SettingSpec<Config>> specs, std::string_view group,
                std::string_view what, std::span<const std::string_view> more_known, Config* out) {
    const std::vector<SettingMember<Config>> members = MembersOf(specs, group);
    std::vector<std::string_view> known;
    known.reserve(members.size() + more_known.size());
    for (const SettingMember<Config>& m : members)
      known.push_back(m.name);
    known.insert(known.end(), more_known.begin(), more_known.end());
    if (!Members(node, what, known)) return false;
    for (const SettingMember<Config>& m : members) {
      if (m.setting != nullptr) {
        Setting(node, *m.setting, what, out);
      } else if (const SourceMember* sub = node.Find(m.name)) {
        Settings(sub->value, specs, m.group, m.group, {}, out);
      }
    }
    return true;
  }

 private:
  // The members of `object` (reporting unknown ones); false when it is not
  // an object.
  bool Members(const SourceNode& node, std::string_view what, std::span<const std::string_view> known) {
    if (node.kind != json::Kind::kObject) {
      Error(node, Cat({what, " must be a JSON object"}));
      return false;
    }
    for (const SourceMember& m : node.members) {
      bool found = false;
      for (std::string_view k : known)
        found = found || k == m.key;
      if (!found) {
        std::string list;
        for (std::string_view k : known)
          list.append(list.empty() ? "" : ", ").append(k);
        errors_->push_back({Cat({"unknown member '", m.key, "' in ", what, " (known: ", list, ")"}), m.key_pos});
      }
    }
    return true;
  }

  // One setting of `object`: absent (or null) is its default, or an error
  // when it is required (a group's required ones are, since the group is
  // here).
  template <typename Config>
  void Setting(const SourceNode& object, const SettingSpec<Config>& spec, std::string_view what, Config* out) {
    const std::string_view key = spec.name();
    const SourceMember* m = object.Find(key);
    if (m == nullptr || m->value.kind == json::Kind::kNull) {
      if (spec.requirement != Requirement::kOptional) {
        Error(object, Cat({what, " needs '", key, "'", spec.type == SettingType::kPath ? " (a file)" : ""}));
      }
      return;
    }
    std::optional<SettingValue> value = Value(m->value, spec);
    if (!value) return;
    if (Status st = spec.access.set(*out, std::move(*value)); !st.ok()) Error(m->value, st.message());
  }

  // The value of `node` for `spec`, or nullopt (reported) when it has
  // another type or is out of bounds.
  template <typename Config>
  std::optional<SettingValue> Value(const SourceNode& node, const SettingSpec<Config>& spec) {
    const std::string_view key = spec.name();
    switch (spec.type) {
      case SettingType::kString:
      case SettingType::kSecret:
      case SettingType::kPath:
      case SettingType::kEnum: {
        if (node.kind != json::Kind::kString) {
          Error(node, Cat({"'", key, "' must be a string"}));
          return std::nullopt;
        }
        std::string text = Expand(node);
        if (spec.type == SettingType::kSecret && !text.empty() && text.front() == '@')
          text = ReadSecretFile(node, text);
        if (spec.type == SettingType::kPath && !text.empty() && text.front() != '/') text = base_dir_ + "/" + text;
        if (spec.type == SettingType::kEnum) {
          bool found = false;
          for (std::string_view choice : spec.choices)
            found = found || choice == text;
          if (!found) {
            Error(node, Cat({"'", key, "' must be ", JoinList(spec.choices, " or "), ", not '", text, "'"}));
            return std::nullopt;
          }
        }
        return text;
      }
      case SettingType::kInteger:
        if (node.kind != json::Kind::kInt || node.integer < spec.min || node.integer > spec.max) {
          Error(node, Cat({"'", key, "' must be a whole number from ", std::to_string(spec.min), " to ",
                           std::to_string(spec.max)}));
          return std::nullopt;
        }
        return node.integer;
      case SettingType::kStringList: {
        if (node.kind != json::Kind::kArray) {
          Error(node, Cat({spec.key, " must be an array of strings"}));
          return std::nullopt;
        }
        std::vector<std::string> items;
        for (const SourceNode& item : node.items) {
          if (item.kind != json::Kind::kString || item.text.empty()) {
            Error(item, Cat({spec.key, " must hold non-empty strings"}));
          } else {
            items.push_back(Expand(item));
          }
        }
        return items;
      }
      case SettingType::kStringMap: {
        if (node.kind != json::Kind::kObject) {
          Error(node, Cat({spec.key, " must be an object of NAME: string, number or boolean"}));
          return std::nullopt;
        }
        StringPairs pairs;
        for (const SourceMember& p : node.members) {
          const SourceNode& v = p.value;
          if (v.kind != json::Kind::kString && v.kind != json::Kind::kInt && v.kind != json::Kind::kBool) {
            Error(v, Cat({spec.key, ".", p.key, " must be a string, number or boolean"}));
            continue;
          }
          pairs.emplace_back(p.key, v.kind == json::Kind::kString ? Expand(v)
                                    : v.kind == json::Kind::kBool ? (v.boolean ? "true" : "false")
                                                                  : v.text);
        }
        return pairs;
      }
    }
    return std::nullopt;
  }

  // `${NAME}` becomes the environment variable NAME (an unset one is an
  // error: a missing secret should not become an empty password).
  std::string Expand(const SourceNode& node) {
    const std::string& s = node.text;
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      if (s.compare(i, 2, "${") == 0) {
        const std::size_t end = s.find('}', i + 2);
        if (end != std::string::npos) {
          const std::string name = s.substr(i + 2, end - i - 2);
          const char* value = std::getenv(name.c_str());
          if (value == nullptr) {
            Error(node, Cat({"the environment variable ", name, " is not set"}));
          } else {
            out.append(value);
          }
          i = end + 1;
          continue;
        }
      }
      out.push_back(s[i++]);
    }
    return out;
  }

  // A secret written as "@FILE" is that file's contents (a mounted
  // Kubernetes or systemd credential), without the final line break;
  // relative to the configuration's directory.
  std::string ReadSecretFile(const SourceNode& node, const std::string& text) {
    std::string path = text.substr(1);
    if (!path.empty() && path.front() != '/') path = base_dir_ + "/" + path;
    auto contents = ReadSecret(path);
    if (!contents.ok()) {
      Error(node, contents.status().message());
      return {};
    }
    return std::move(*contents);
  }

  std::string base_dir_;
  std::vector<MappingError>* errors_;
};

// The problems of values set in code or by flags that the file's reader
// would have reported: bounds and choices. `where` prefixes each.
template <typename Config>
void CheckValues(const Config& config, std::span<const SettingSpec<Config>> specs, std::string_view where,
                 std::vector<std::string>* problems) {
  for (const SettingSpec<Config>& spec : specs) {
    const SettingValue value = spec.access.get(config);
    if (spec.type == SettingType::kEnum) {
      const std::string text = SettingText(value);
      bool found = false;
      for (std::string_view choice : spec.choices)
        found = found || choice == text;
      if (!found) {
        problems->push_back(Cat({where, spec.key, " '", text, "' is not ", JoinList(spec.choices, " or ")}));
      }
    } else if (spec.type == SettingType::kInteger) {
      const std::int64_t* n = std::get_if<std::int64_t>(&value);
      if (n != nullptr && (*n < spec.min || *n > spec.max)) {
        problems->push_back(Cat({where, spec.key, " ", std::to_string(*n), " is not from ", std::to_string(spec.min),
                                 " to ", std::to_string(spec.max)}));
      }
    }
  }
}

}  // namespace

ConfigLoadResult LoadServeConfig(std::string_view text, const std::string& base_dir) {
  ConfigLoadResult result;
  auto doc = json::ParseSource(text);
  if (!doc.ok()) {
    result.errors.push_back({doc.status().message(), json::PositionOf(text, doc.status().position())});
    return result;
  }
  ConfigReader reader(base_dir.empty() ? "." : base_dir, &result.errors);
  const SourceNode& root = doc->root;
  // The list of connectors is the one member of the top level that is not a
  // setting.
  static constexpr std::string_view kLists[] = {"connectors", "eventHubNamespaces"};
  if (!reader.Settings(root, ServeSettings(), "", "the configuration", kLists, &result.config)) return result;
  if (const SourceMember* m = root.Find("connectors")) {
    if (m->value.kind != json::Kind::kArray) {
      reader.Error(m->value, "connectors must be an array");
    } else {
      for (const SourceNode& c : m->value.items)
        reader.Settings(c, ConnectorSettings(), "", "a connector", {}, &result.config.connectors.emplace_back());
    }
  }
  if (const SourceMember* m = root.Find("eventHubNamespaces")) {
    if (m->value.kind != json::Kind::kArray) {
      reader.Error(m->value, "eventHubNamespaces must be an array");
    } else {
      for (const SourceNode& n : m->value.items) {
        reader.Settings(n, EventHubSettings(), "", "an event hub namespace", {},
                        &result.config.event_hub_namespaces.emplace_back());
      }
    }
  }
  return result;
}

KafkaConfig KafkaConfigFor(const EventHubNamespaceConfig& ns, std::string topic, std::string group) {
  KafkaConfig kafka;
  kafka.brokers = ns.brokers.empty() ? ns.name + ":9093" : ns.brokers;
  kafka.topic = std::move(topic);
  kafka.group = std::move(group);
  if (!ns.connection_string.empty()) {
    // Event Hubs' Kafka endpoint takes the connection string as a SASL PLAIN
    // password, with the literal user name $ConnectionString.
    kafka.properties = {{"security.protocol", "SASL_SSL"},
                        {"sasl.mechanism", "PLAIN"},
                        {"sasl.username", "$ConnectionString"},
                        {"sasl.password", ns.connection_string}};
  }
  kafka.properties.insert(kafka.properties.end(), ns.properties.begin(), ns.properties.end());
  return kafka;
}

std::vector<std::string> CheckServeConfig(const ServeConfig& config) {
  std::vector<std::string> problems;
  CheckValues(config, ServeSettings(), "", &problems);
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    problems.emplace_back("tls needs certFile and keyFile");
  }
  if (auto options = AuthOptionsFor(config.auth); !options.ok()) {
    problems.push_back(options.status().message());
  } else if (!options->configured() && !IsLoopbackHost(config.host) &&
             config.auth.unauthenticated != "allow-any-address") {
    // Every route (the FHIR data, the dead letters) would be open to the
    // network: refused unless the operator says the network is trusted.
    problems.push_back(
        Cat({"listening on ", config.host,
             " without credentials would open every route (FHIR data, dead letters, provisioning) to that network: "
             "configure auth.apiKeys or auth.jwt (docs/security.md), listen on 127.0.0.1, or pass --unauthenticated "
             "allow-any-address if the network is trusted"}));
  }
  std::set<std::string> namespaces;
  for (const EventHubNamespaceConfig& ns : config.event_hub_namespaces) {
    if (!ValidEventHubNamespace(ns.name)) {
      problems.push_back(Cat({"event hub namespace '", ns.name, "': use NAME.servicebus.windows.net"}));
    } else if (!namespaces.insert(AsciiLower(ns.name)).second) {
      problems.push_back(Cat({"event hub namespace '", ns.name, "' is listed twice"}));
    }
  }
  std::set<std::string> names;
  for (const ConnectorConfig& c : config.connectors) {
    if (!ValidConnectorName(c.name)) {
      problems.push_back(Cat(
          {"connector name '", c.name, "': use 1 to 64 letters, digits, '-', '_' or '.' (part of URLs and paths)"}));
    } else if (!names.insert(c.name).second) {
      problems.push_back(Cat({"connector name '", c.name, "' is used twice"}));
    }
    const std::string where = Cat({"connector '", c.name, "': "});
    CheckValues(c, ConnectorSettings(), where, &problems);
    // A group that is there needs its required settings ("kafka needs
    // brokers, topic and group"), all named whichever is missing.
    for (const SettingGroup<ConnectorConfig>& group : ConnectorGroups()) {
      if (!GroupPresent(c, group.key)) continue;
      std::vector<std::string_view> required;
      bool missing = false;
      for (const SettingSpec<ConnectorConfig>& spec : ConnectorSettings()) {
        if (spec.requirement != Requirement::kRequiredInGroup || spec.group() != group.key) continue;
        required.push_back(spec.name());
        missing = missing || SettingText(spec.access.get(c)).empty();
      }
      if (missing) problems.push_back(Cat({where, group.key, " needs ", JoinList(required)}));
    }
    const bool oauth = GroupPresent(c, "fhir.oauth");
    if (!c.fhir.token.empty() && oauth) problems.push_back(Cat({where, "give fhir.token or fhir.oauth, not both"}));
    // Without a URL the connector writes to the embedded store, and
    // credentials meant for a server would be dropped without a word.
    if (c.fhir.url.empty() && (!c.fhir.token.empty() || oauth)) {
      problems.push_back(Cat({where, "fhir.token and fhir.oauth go with fhir.url"}));
    }
  }
  return problems;
}

}  // namespace iomt::server
