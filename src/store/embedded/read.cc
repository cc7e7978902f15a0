// Reading the embedded store: a resource's row, its current version, its
// other versions (vread, history), and the identifier lookup that the FHIR
// client's searches use.
#include <algorithm>
#include <utility>

#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

using embedded::Hash64;

Status Gone(std::string_view type, std::string_view id) {
  std::string message = "The resource ";
  message.append(type).append("/").append(id).append(" was deleted.");
  return NotFound(std::move(message)).WithDetail("deleted");
}

Status Missing(std::string_view type, std::string_view id) {
  std::string message = "The resource ";
  message.append(type).append("/").append(id).append(" does not exist.");
  return NotFound(std::move(message));
}

}  // namespace

Result<std::optional<EmbeddedStore::Impl::Row>> EmbeddedStore::Impl::FindRow(std::int64_t tid, std::string_view id,
                                                                             bool with_json) {
  find.Bind(1, TokenKey(tid, embedded::TokenParam::kKey)).Bind(2, ResourceKey(tid, id));
  std::optional<Row> found;
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool has_row, find.NextRow());
    if (!has_row) break;
    // The key is a hash: check that the row is this resource.
    if (find.Int(1) != tid || find.Text(2) != id) continue;
    Row row;
    row.rid = find.Int(0);
    row.version = find.Int(3);
    row.updated = find.Int(4);
    row.deleted = find.Int(5) != 0;
    found = std::move(row);
    break;
  }
  find.Reset();
  if (found && with_json) {
    find_json.Bind(1, found->rid);
    Result<bool> step = find_json.Step();
    Result<std::string_view> text = step.ok() && *step ? StoredJson(find_json, 0) : std::string_view();
    if (text.ok()) found->json.assign(*text);
    find_json.Reset();
    if (!step.ok()) return step.status();
    if (!text.ok()) return text.status();
  }
  return found;
}

Result<EmbeddedStore::Impl::Row> EmbeddedStore::Impl::ExistingRow(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return Missing(type, id);
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> row, FindRow(tid, id, true));
  if (!row) return Missing(type, id);
  return std::move(*row);
}

Result<Resource> EmbeddedStore::Impl::ReadCurrent(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(Row row, ExistingRow(type, id));
  if (row.deleted) return Gone(type, id);
  return Resource{std::string(id), std::to_string(row.version), std::move(row.json)};
}

Result<Resource> EmbeddedStore::Impl::VRead(std::string_view type, std::string_view id, std::string_view version) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return Missing(type, id);
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> row, FindRow(tid, id, true));
  const std::int64_t v = ParseVersion(version);
  if (!row || v <= 0 || v > row->version) {
    std::string message = "The resource ";
    message.append(type).append("/").append(id).append(" has no version ").append(version).append(".");
    return NotFound(std::move(message));
  }
  if (v == row->version) {
    if (row->deleted) return Gone(type, id);
    return Resource{std::string(id), std::to_string(v), std::move(row->json)};
  }
  history_version.Bind(1, row->rid).Bind(2, v);
  Result<bool> step = history_version.Step();
  Resource out{std::string(id), std::to_string(v), {}};
  bool deleted = false;
  Result<std::string_view> text = std::string_view();
  if (step.ok() && *step) {
    deleted = history_version.Int(2) != 0;
    text = StoredJson(history_version, 3);
    if (text.ok()) out.json.assign(*text);
  }
  history_version.Reset();
  if (!step.ok()) return step.status();
  if (!text.ok()) return text.status();
  if (!*step) {
    // A version the history policy removed: not found (404), saying which
    // versions the store still has.
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * oldest, CachedStatement("SELECT min(version) FROM history WHERE rid=?1"));
    oldest->Bind(1, row->rid);
    Result<bool> found = oldest->Step();
    const std::int64_t first = found.ok() && *found && !oldest->IsNull(0) ? oldest->Int(0) : row->version;
    oldest->Reset();
    if (!found.ok()) return found.status();
    std::string message = "The resource ";
    message.append(type).append("/").append(id).append(" no longer has version ").append(version);
    message.append(": the store's history policy keeps versions ").append(std::to_string(first));
    message.append(" to ").append(std::to_string(row->version)).append(".");
    return NotFound(std::move(message));
  }
  if (deleted) return Gone(type, id);
  return out;
}

Result<std::vector<HistoryEntry>> EmbeddedStore::Impl::History(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(Row row, ExistingRow(type, id));
  std::vector<HistoryEntry> out;
  out.push_back({std::to_string(row.version), embedded::FormatInstant(row.updated), row.deleted, std::move(row.json)});
  sqlite::Stmt& s = history_of;
  s.Bind(1, row.rid);
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool has_row, s.NextRow());
    if (!has_row) break;
    Result<std::string_view> text = StoredJson(s, 3);
    if (!text.ok()) {
      s.Reset();
      return text.status();
    }
    out.push_back({std::to_string(s.Int(0)), embedded::FormatInstant(s.Int(1)), s.Int(2) != 0, std::string(*text)});
  }
  s.Reset();
  return out;
}

Result<std::vector<Resource>> EmbeddedStore::Impl::ByIdentifier(std::string_view type, std::string_view system,
                                                                const std::vector<std::string_view>& values,
                                                                std::size_t limit) {
  std::vector<Resource> out;
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return out;
  const std::int64_t p = TokenKey(tid, embedded::TokenParam::kIdentifier);
  const std::int64_t sh = Hash64(system);
  // One read transaction for all the lookups, not one per statement.
  ReadScope scope(this);
  sqlite::Stmt& s = system.empty() ? by_identifier : by_identifier_system;
  std::vector<std::int64_t> seen;
  for (std::string_view value : values) {
    s.Bind(1, p).Bind(2, Hash64(value));
    if (!system.empty()) s.Bind(3, sh);
    // Matches in the order they were first written (rid), as the memory
    // store answers; sorted here rather than by SQL, which would build a
    // temporary B-tree for every one of a batch's thousands of lookups.
    std::vector<std::pair<std::int64_t, Resource>> hits;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool has_row, s.NextRow());
      if (!has_row) break;
      std::int64_t rid = s.Int(0);
      if (std::find(seen.begin(), seen.end(), rid) != seen.end()) continue;
      // The index holds hashes: confirm the identifier in the resource, so
      // that a collision can never make the writer merge into a stranger.
      Result<std::string_view> stored = StoredJson(s, 3);
      if (!stored.ok()) {
        s.Reset();
        return stored.status();
      }
      std::string_view text = *stored;
      if (!old_doc.Parse(text).ok()) continue;
      json::Value list;
      bool match = false;
      if (old_doc.root().Find("identifier", &list)) {
        for (json::Value i : list.elements()) {
          json::Value v, sys;
          if (!i.Find("value", &v) || !v.is_string() || v.string_value() != value) continue;
          std::string_view sys_text = i.Find("system", &sys) && sys.is_string() ? sys.string_value() : "";
          if (system.empty() || sys_text == system) match = true;
        }
      }
      if (!match) continue;
      seen.push_back(rid);
      hits.emplace_back(rid, Resource{std::string(s.Text(1)), std::to_string(s.Int(2)), std::string(text)});
    }
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < hits.size() && i < limit; ++i)
      out.push_back(std::move(hits[i].second));
    s.Reset();
  }
  return out;
}

}  // namespace iomt::store
