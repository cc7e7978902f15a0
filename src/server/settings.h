// The settings of `iomt serve`, each declared once, in a table: its key in
// the configuration file ("flush.windowMs"), its flag ("--flush-window-ms"),
// its type and bounds, whether it is required, a one-line doc, and the
// field of ServeConfig / ConnectorConfig (config.h) it fills. A setting's
// default is that field's initializer, which the table reads through the
// field, so it is not written a second time here.
//
// Everything else comes from these tables, so nothing can disagree with
// them: the configuration file's parser (LoadServeConfig), the flags of
// `iomt serve` and their --help (ApplyServeFlags, FlagHelp), the settings
// table of docs/configuration.md (`iomt serve --settings-table`, checked by
// tests/server/settings_doc_test.sh) and the JSON schema of a connector
// that provisioning tools use (SettingsJsonSchema).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "server/config.h"

namespace iomt::server {

enum class SettingType {
  kString,      // a JSON string; `${NAME}` reads an environment variable
  kSecret,      // a string never to be shown (tokens, passwords); `${NAME}` too
  kPath,        // a file or directory; in a file, relative to the file's directory
  kInteger,     // a whole number from min to max
  kEnum,        // one of choices
  kStringList,  // an array of non-empty strings; no flag takes one
  kStringMap,   // an object NAME: string, number or boolean; its flag NAME=VALUE, repeatable
};

enum class Requirement {
  kOptional,
  kRequired,         // the object it is in (the file, a connector) must have it
  kRequiredInGroup,  // its group (e.g. "kafka"), when present, must have it
};

// A setting's value on its way between the file or a flag and its field:
// strings (of every string type), integers, lists and maps.
using StringPairs = std::vector<std::pair<std::string, std::string>>;
using SettingValue = std::variant<std::string, std::int64_t, std::vector<std::string>, StringPairs>;

// Where a setting's value lives in a `Config` (ServeConfig or
// ConnectorConfig). `set` creates the setting's optional group (kafka,
// mqtt) when needed; it fails only for values its field cannot take (a
// listen address that is not HOST:PORT).
template <typename Config>
struct SettingAccess {
  SettingValue (*get)(const Config& config) = nullptr;
  Status (*set)(Config& config, SettingValue value) = nullptr;
};

template <typename Config>
struct SettingSpec {
  std::string_view key;   // where it is in the file's object, '.' between levels: "fhir.oauth.clientId"
  std::string_view flag;  // "--oauth-client-id"; empty: only in the file
  SettingType type = SettingType::kString;
  Requirement requirement = Requirement::kOptional;
  std::int64_t min = 0;  // kInteger
  std::int64_t max = 0;
  std::span<const std::string_view> choices;  // kEnum
  // A default that only the flag has, where the file requires the setting
  // (--kafka-group: iomt; a file names its consumer group).
  std::string_view flag_default;
  std::string_view doc;  // one line, lower case, no Markdown
  SettingAccess<Config> access;

  // "clientId" of "fhir.oauth.clientId".
  [[nodiscard]] std::string_view name() const {
    const std::size_t dot = key.rfind('.');
    return dot == std::string_view::npos ? key : key.substr(dot + 1);
  }
  // "fhir.oauth" of "fhir.oauth.clientId"; empty at the top of the object.
  [[nodiscard]] std::string_view group() const {
    const std::size_t dot = key.rfind('.');
    return dot == std::string_view::npos ? std::string_view() : key.substr(0, dot);
  }
};

// An object of settings, such as "kafka": its settings are those whose key
// starts with "kafka.".
template <typename Config>
struct SettingGroup {
  std::string_view key;
  std::string_view doc;
  // Whether `config` has the group; null: when one of its settings is not
  // at its default (groups that are not std::optional fields).
  bool (*present)(const Config& config) = nullptr;
};

// A member of an object of settings: a setting, or a group of them.
template <typename Config>
struct SettingMember {
  std::string_view name;                         // the JSON member's name
  const SettingSpec<Config>* setting = nullptr;  // null: a group
  std::string_view group;                        // a group's key ("fhir.oauth")
};

// The members of the object at `group` ("" for the top, "fhir" for the
// object "fhir"), in the order of the table.
template <typename Config>
std::vector<SettingMember<Config>> MembersOf(std::span<const SettingSpec<Config>> specs, std::string_view group) {
  std::vector<SettingMember<Config>> members;
  const std::size_t skip = group.empty() ? 0 : group.size() + 1;
  for (const SettingSpec<Config>& spec : specs) {
    if (!group.empty() &&
        (spec.key.size() <= skip || spec.key.substr(0, group.size()) != group || spec.key[group.size()] != '.')) {
      continue;
    }
    const std::string_view rest = spec.key.substr(skip);
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) {
      members.push_back({rest, &spec, {}});
      continue;
    }
    const std::string_view name = rest.substr(0, dot);
    bool seen = false;
    for (const SettingMember<Config>& m : members)
      seen = seen || (m.setting == nullptr && m.name == name);
    if (!seen) members.push_back({name, nullptr, spec.key.substr(0, skip + dot)});
  }
  return members;
}

// The top level of the configuration file (next to `connectors`).
std::span<const SettingSpec<ServeConfig>> ServeSettings();
// A connector: an element of `connectors`, or the --connector flags.
std::span<const SettingSpec<ConnectorConfig>> ConnectorSettings();
// An element of `eventHubNamespaces` (file only: no flags).
std::span<const SettingSpec<EventHubNamespaceConfig>> EventHubSettings();
// The groups of ConnectorSettings(), in the order of their first setting.
std::span<const SettingGroup<ConnectorConfig>> ConnectorGroups();

// The setting's value in a default-constructed Config: its default.
template <typename Config>
SettingValue DefaultValue(const SettingSpec<Config>& spec);
// A value as text: an integer's digits, a list's items joined with ", ",
// a map's NAME=VALUE pairs joined with ", ".
std::string SettingText(const SettingValue& value);
// Whether `config` has `group` (see SettingGroup::present).
bool GroupPresent(const ConnectorConfig& config, std::string_view group);

// The default shown in docs and --help: "" for a required setting or a
// secret.
template <typename Config>
std::string DefaultText(const SettingSpec<Config>& spec);

// The --help of a setting's flag: its doc, bounds or choices, and default.
template <typename Config>
std::string FlagHelp(const SettingSpec<Config>& spec);
// The flag's value placeholder in --help: TEXT, PATH, INT, NAME=VALUE, ...
template <typename Config>
std::string FlagTypeName(const SettingSpec<Config>& spec);

// A flag given to `iomt serve`, with one of its values (a repeatable flag
// is given once per value, in command-line order).
struct FlagValue {
  std::string_view flag;
  std::string value;
};

// Applies the settings' flags over `config` (the file's, or the defaults):
// the top-level ones replace the file's values, and --connector NAME with
// the connector flags adds one connector. Flags take strings as they are
// (no `${NAME}`; paths relative to the working directory). Returns the first
// problem, a usage error whose message names the flag.
Status ApplyServeFlags(std::span<const FlagValue> flags, ServeConfig* config);

// A Markdown table of every setting (key, flag, type, default, doc): the
// top level, then a connector. docs/configuration.md holds a copy.
std::string SettingsMarkdownTable();

// A JSON Schema (draft 2020-12) of a connector object: its settings, nested
// as in the file, each with type, description, default, enum or
// minimum/maximum, and the extensions "x-iomt-key" (the dotted key),
// "x-iomt-type" (string, secret, path, ...) and "x-iomt-flag"; secrets are
// "writeOnly". For provisioning tools and the web console.
std::string SettingsJsonSchema();

}  // namespace iomt::server
