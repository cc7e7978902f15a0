#include "server/config.h"

#include <cstdlib>
#include <initializer_list>
#include <set>

#include "common/json/source.h"

namespace iomt::server {

namespace {

// Joins pieces (GCC 12 warns falsely about "literal" + std::string chains).
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

}  // namespace

store::RemoteOptions RemoteOptionsFor(const FhirDestinationConfig& fhir) {
  store::RemoteOptions options;
  options.base_url = fhir.url;
  options.bearer_token = fhir.token;
  options.oauth.token_url = fhir.oauth_token_url;
  options.oauth.client_id = fhir.oauth_client_id;
  options.oauth.client_secret = fhir.oauth_client_secret;
  options.oauth.scope = fhir.oauth_scope;
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

namespace {

using json::SourceMember;
using json::SourceNode;

class ConfigReader {
 public:
  ConfigReader(std::string base_dir, std::vector<MappingError>* errors)
      : base_dir_(std::move(base_dir)), errors_(errors) {}

  void Error(const SourceNode& at, std::string message) { errors_->push_back({std::move(message), at.pos}); }

  // The members of `object` (reporting unknown ones); false when it is not
  // an object.
  bool Members(const SourceNode& node, std::string_view what, std::initializer_list<std::string_view> known) {
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

  bool String(const SourceNode& object, std::string_view key, std::string* out) {
    const SourceMember* m = object.Find(key);
    if (m == nullptr || m->value.kind == json::Kind::kNull) return false;
    if (m->value.kind != json::Kind::kString) {
      Error(m->value, Cat({"'", key, "' must be a string"}));
      return false;
    }
    *out = Expand(m->value);
    return true;
  }

  bool Path(const SourceNode& object, std::string_view key, std::string* out) {
    if (!String(object, key, out)) return false;
    if (!out->empty() && out->front() != '/') *out = base_dir_ + "/" + *out;
    return true;
  }

  template <typename T>
  bool Integer(const SourceNode& object, std::string_view key, std::int64_t min, std::int64_t max, T* out) {
    const SourceMember* m = object.Find(key);
    if (m == nullptr || m->value.kind == json::Kind::kNull) return false;
    if (m->value.kind != json::Kind::kInt || m->value.integer < min || m->value.integer > max) {
      Error(m->value,
            Cat({"'", key, "' must be a whole number from ", std::to_string(min), " to ", std::to_string(max)}));
      return false;
    }
    *out = static_cast<T>(m->value.integer);
    return true;
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

  void Fhir(const SourceNode& node, FhirDestinationConfig* out) {
    if (!Members(node, "fhir", {"url", "token", "oauth"})) return;
    String(node, "url", &out->url);
    String(node, "token", &out->token);
    if (const SourceMember* m = node.Find("oauth")) {
      if (Members(m->value, "fhir.oauth", {"tokenUrl", "clientId", "clientSecret", "scope"})) {
        String(m->value, "tokenUrl", &out->oauth_token_url);
        String(m->value, "clientId", &out->oauth_client_id);
        String(m->value, "clientSecret", &out->oauth_client_secret);
        String(m->value, "scope", &out->oauth_scope);
      }
    }
  }

  void Kafka(const SourceNode& node, KafkaConfig* out) {
    if (!Members(node, "kafka", {"brokers", "topic", "group", "properties"})) return;
    if (!String(node, "brokers", &out->brokers)) Error(node, "kafka needs 'brokers'");
    if (!String(node, "topic", &out->topic)) Error(node, "kafka needs 'topic'");
    if (!String(node, "group", &out->group)) Error(node, "kafka needs 'group' (the consumer group)");
    if (const SourceMember* m = node.Find("properties")) {
      if (m->value.kind != json::Kind::kObject) {
        Error(m->value, "kafka.properties must be an object of librdkafka settings");
      } else {
        for (const SourceMember& p : m->value.members) {
          if (p.value.kind != json::Kind::kString && p.value.kind != json::Kind::kInt &&
              p.value.kind != json::Kind::kBool) {
            Error(p.value, Cat({"kafka.properties.", p.key, " must be a string, number or boolean"}));
            continue;
          }
          std::string value = p.value.kind == json::Kind::kString ? Expand(p.value)
                              : p.value.kind == json::Kind::kBool ? (p.value.boolean ? "true" : "false")
                                                                  : p.value.text;
          out->properties.emplace_back(p.key, std::move(value));
        }
      }
    }
  }

  void Mqtt(const SourceNode& node, MqttConfig* out) {
    if (!Members(node, "mqtt", {"url", "topic", "qos", "clientId", "username", "password"})) return;
    if (!String(node, "url", &out->url)) Error(node, "mqtt needs 'url' (mqtt://host:port)");
    if (!String(node, "topic", &out->topic)) Error(node, "mqtt needs 'topic' (a topic filter)");
    Integer(node, "qos", 0, 1, &out->qos);  // QoS 2: see docs/adr/0013-mqtt-source.md
    String(node, "clientId", &out->client_id);
    String(node, "username", &out->username);
    String(node, "password", &out->password);
  }

  void Connector(const SourceNode& node, ConnectorConfig* out) {
    if (!Members(node, "a connector",
                 {"name", "deviceMapping", "fhirMapping", "resolution", "deviceIdentifierSystem", "fhir", "flush",
                  "queue", "ingestKeys", "kafka", "mqtt"})) {
      return;
    }
    if (!String(node, "name", &out->name)) Error(node, "a connector needs 'name'");
    if (!Path(node, "deviceMapping", &out->device_mapping)) Error(node, "a connector needs 'deviceMapping' (a file)");
    if (!Path(node, "fhirMapping", &out->fhir_mapping)) Error(node, "a connector needs 'fhirMapping' (a file)");
    String(node, "resolution", &out->resolution);
    String(node, "deviceIdentifierSystem", &out->device_system);
    if (const SourceMember* m = node.Find("fhir")) Fhir(m->value, &out->fhir);
    if (const SourceMember* m = node.Find("flush")) {
      if (Members(m->value, "flush", {"windowMs", "maxEvents"})) {
        Integer(m->value, "windowMs", 0, 60'000, &out->flush.window_ms);
        Integer(m->value, "maxEvents", 1, 1'000'000, &out->flush.max_events);
      }
    }
    if (const SourceMember* m = node.Find("queue")) {
      if (Members(m->value, "queue", {"maxEvents", "maxBytes"})) {
        Integer(m->value, "maxEvents", 1, 1'000'000'000, &out->queue.max_events);
        Integer(m->value, "maxBytes", 1 << 20, std::int64_t{1} << 40, &out->queue.max_bytes);
      }
    }
    if (const SourceMember* m = node.Find("ingestKeys")) {
      if (m->value.kind != json::Kind::kArray) {
        Error(m->value, "ingestKeys must be an array of strings");
      } else {
        for (const SourceNode& key : m->value.items) {
          if (key.kind != json::Kind::kString || key.text.empty()) {
            Error(key, "ingestKeys must hold non-empty strings");
          } else {
            out->ingest_keys.push_back(Expand(key));
          }
        }
      }
    }
    if (const SourceMember* m = node.Find("kafka")) Kafka(m->value, &out->kafka.emplace());
    if (const SourceMember* m = node.Find("mqtt")) Mqtt(m->value, &out->mqtt.emplace());
  }

 private:
  std::string base_dir_;
  std::vector<MappingError>* errors_;
};

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
  if (!reader.Members(root, "the configuration", {"listen", "store", "maxBodyBytes", "connectors"})) return result;
  std::string listen;
  if (reader.String(root, "listen", &listen)) {
    if (Status st = ParseListen(listen, &result.config.host, &result.config.port); !st.ok()) {
      reader.Error(root.Find("listen")->value, st.message());
    }
  }
  reader.Path(root, "store", &result.config.store);
  reader.Integer(root, "maxBodyBytes", 1024, std::int64_t{1} << 30, &result.config.max_body_bytes);
  if (const SourceMember* m = root.Find("connectors")) {
    if (m->value.kind != json::Kind::kArray) {
      reader.Error(m->value, "connectors must be an array");
    } else {
      for (const SourceNode& c : m->value.items)
        reader.Connector(c, &result.config.connectors.emplace_back());
    }
  }
  return result;
}

std::vector<std::string> CheckServeConfig(const ServeConfig& config) {
  std::vector<std::string> problems;
  std::set<std::string> names;
  for (const ConnectorConfig& c : config.connectors) {
    if (!ValidConnectorName(c.name)) {
      problems.push_back(Cat(
          {"connector name '", c.name, "': use 1 to 64 letters, digits, '-', '_' or '.' (part of URLs and paths)"}));
    } else if (!names.insert(c.name).second) {
      problems.push_back(Cat({"connector name '", c.name, "' is used twice"}));
    }
    if (c.resolution != "Create" && c.resolution != "Lookup" && c.resolution != "LookupWithEncounter") {
      problems.push_back(Cat(
          {"connector '", c.name, "': resolution '", c.resolution, "' is not Create, Lookup or LookupWithEncounter"}));
    }
    if (c.kafka && (c.kafka->brokers.empty() || c.kafka->topic.empty() || c.kafka->group.empty())) {
      problems.push_back(Cat({"connector '", c.name, "': kafka needs brokers, topic and group"}));
    }
    if (c.mqtt && (c.mqtt->url.empty() || c.mqtt->topic.empty())) {
      problems.push_back(Cat({"connector '", c.name, "': mqtt needs url and topic"}));
    }
    if (!c.fhir.token.empty() && !c.fhir.oauth_token_url.empty()) {
      problems.push_back(Cat({"connector '", c.name, "': give fhir.token or fhir.oauth, not both"}));
    }
  }
  return problems;
}

}  // namespace iomt::server
