#include "control/registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/json/source.h"
#include "common/json/writer.h"
#include "common/strings.h"

namespace iomt::control {

namespace {

constexpr int kFormatVersion = 1;

// The id up to its last two segments (type and name).
std::string ParentOf(std::string_view id) {
  std::size_t slash = id.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "";
  slash = id.rfind('/', slash - 1);
  return slash == std::string_view::npos ? "" : std::string(id.substr(0, slash));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(Cat({"cannot write ", path, ": ", std::strerror(errno)}));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

std::string Damaged(const std::string& path, std::string_view why) {
  static constexpr std::string_view kWhatToDo =
      "): restore it from a backup, or move it away to start with no provisioned resources (the connectors' "
      "queues stay in the store directory)";
  return Cat({"the provisioning state ", path, " cannot be read (", why, kWhatToDo});
}

}  // namespace

std::string ResourceRecord::key() const { return AsciiLower(id); }
std::string ResourceRecord::parent_key() const {
  return type == ResourceType::kWorkspace ? "" : AsciiLower(ParentOf(id));
}
std::string_view ResourceRecord::Secret(std::string_view secret) const {
  for (const auto& [k, v] : secrets) {
    if (k == secret) return v;
  }
  return {};
}

Result<std::unique_ptr<Registry>> Registry::Open(std::string path) {
  std::unique_ptr<Registry> registry(new Registry(std::move(path)));
  std::ifstream in(registry->path_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return registry;
    return IoError(Cat({"cannot open ", registry->path_, ": ", std::strerror(errno)}));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  auto doc = json::ParseSource(text);
  if (!doc.ok()) return IoError(Damaged(registry->path_, doc.status().message()));
  const json::SourceNode& root = doc->root;
  const json::SourceMember* version = root.Find("version");
  const json::SourceMember* resources = root.Find("resources");
  if (version == nullptr || version->value.kind != json::Kind::kInt || resources == nullptr ||
      resources->value.kind != json::Kind::kArray) {
    return IoError(Damaged(registry->path_, "not a provisioning state file"));
  }
  if (version->value.integer != kFormatVersion) {
    return IoError(Damaged(registry->path_, Cat({"format version ", version->value.text, ", this iomt reads ",
                                                 std::to_string(kFormatVersion)})));
  }
  for (const json::SourceNode& r : resources->value.items) {
    ResourceRecord record;
    auto text_of = [&](std::string_view name) -> std::string {
      const json::SourceMember* m = r.Find(name);
      return m != nullptr && m->value.kind == json::Kind::kString ? m->value.text : std::string();
    };
    auto raw_of = [&](std::string_view name) -> std::string {
      const json::SourceMember* m = r.Find(name);
      return m != nullptr && m->value.kind != json::Kind::kNull ? std::string(json::RawText(text, m->value))
                                                                : std::string();
    };
    record.id = text_of("id");
    const std::optional<ResourceType> type = TypeOfSegment(text_of("type"));
    if (record.id.empty() || !type) return IoError(Damaged(registry->path_, "a resource without id or type"));
    record.type = *type;
    record.name = text_of("name");
    record.location = text_of("location");
    record.etag = text_of("etag");
    record.kind = text_of("kind");
    record.tags = raw_of("tags");
    record.identity = raw_of("identity");
    record.properties = raw_of("properties");
    if (record.properties.empty()) record.properties = "{}";
    if (const json::SourceMember* s = r.Find("secrets"); s != nullptr && s->value.kind == json::Kind::kObject) {
      for (const json::SourceMember& m : s->value.members)
        record.secrets.emplace_back(m.key, m.value.text);
    }
    record.state = text_of("state");
    record.error_code = text_of("errorCode");
    record.error_message = text_of("errorMessage");
    record.created_at = text_of("createdAt");
    record.modified_at = text_of("lastModifiedAt");
    registry->records_[record.key()] = std::move(record);
  }
  return registry;
}

const ResourceRecord* Registry::Find(std::string_view id) const {
  auto it = records_.find(AsciiLower(id));
  return it == records_.end() ? nullptr : &it->second;
}

std::vector<const ResourceRecord*> Registry::Children(std::string_view parent_id, ResourceType type) const {
  const std::string parent = AsciiLower(parent_id);
  std::vector<const ResourceRecord*> out;
  for (const auto& [key, record] : records_) {
    if (record.type != type) continue;
    if (type == ResourceType::kWorkspace) {
      // Under a subscription or a resource group: the id starts with it.
      if (key.compare(0, parent.size(), parent) == 0 && key.size() > parent.size() && key[parent.size()] == '/') {
        out.push_back(&record);
      }
    } else if (record.parent_key() == parent) {
      out.push_back(&record);
    }
  }
  return out;
}

std::vector<const ResourceRecord*> Registry::All(ResourceType type) const {
  std::vector<const ResourceRecord*> out;
  for (const auto& [key, record] : records_) {
    if (record.type == type) out.push_back(&record);
  }
  return out;
}

Status Registry::Put(ResourceRecord record) {
  const std::string key = record.key();
  std::optional<ResourceRecord> old;
  if (auto it = records_.find(key); it != records_.end()) old = it->second;
  records_[key] = std::move(record);
  Status st = Save();
  if (!st.ok()) {
    if (old) {
      records_[key] = std::move(*old);
    } else {
      records_.erase(key);
    }
  }
  return st;
}

Status Registry::Erase(const std::vector<std::string>& ids) {
  std::vector<ResourceRecord> removed;
  for (const std::string& id : ids) {
    auto it = records_.find(AsciiLower(id));
    if (it == records_.end()) continue;
    removed.push_back(std::move(it->second));
    records_.erase(it);
  }
  Status st = Save();
  if (!st.ok()) {
    for (ResourceRecord& r : removed)
      records_[r.key()] = std::move(r);
  }
  return st;
}

Status Registry::Save() const {
  std::string out = Cat({"{\"version\":", std::to_string(kFormatVersion), ",\"resources\":["});
  bool first = true;
  auto field = [&out](std::string_view name, std::string_view value) {
    out.append(",");
    json::AppendQuoted(&out, name);
    out.push_back(':');
    json::AppendQuoted(&out, value);
  };
  for (const auto& [key, r] : records_) {
    out.append(first ? "\n{" : ",\n{");
    first = false;
    out.append("\"id\":");
    json::AppendQuoted(&out, r.id);
    field("type", Segment(r.type));
    field("name", r.name);
    field("location", r.location);
    field("etag", r.etag);
    if (!r.kind.empty()) field("kind", r.kind);
    if (!r.tags.empty()) out.append(",\"tags\":").append(r.tags);
    if (!r.identity.empty()) out.append(",\"identity\":").append(r.identity);
    out.append(",\"properties\":").append(r.properties.empty() ? "{}" : r.properties);
    out.append(",\"secrets\":{");
    for (std::size_t i = 0; i < r.secrets.size(); ++i) {
      if (i > 0) out.push_back(',');
      json::AppendQuoted(&out, r.secrets[i].first);
      out.push_back(':');
      json::AppendQuoted(&out, r.secrets[i].second);
    }
    out.push_back('}');
    field("state", r.state);
    if (!r.error_code.empty()) {
      field("errorCode", r.error_code);
      field("errorMessage", r.error_message);
    }
    field("createdAt", r.created_at);
    field("lastModifiedAt", r.modified_at);
    out.push_back('}');
  }
  out.append("\n]}\n");

  const std::string tmp = path_ + ".tmp";
  // 0600: the file holds secrets (and nothing of patients).
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(Cat({"cannot write ", tmp, ": ", std::strerror(errno)}));
  Status st = WriteAll(fd, out, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = IoError(Cat({"cannot sync ", tmp, ": ", std::strerror(errno)}));
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    st = IoError(Cat({"cannot replace ", path_, ": ", std::strerror(errno)}));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename is durable once the directory is.
  const std::size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace iomt::control
