// Reading the embedded store: a resource's row, its current version, its
// other versions (vread, history), and the identifier lookup that the FHIR
// client's searches use.
#include <algorithm>
#include <charconv>
#include <utility>

#include "common/url.h"
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

Status IdentifierMatches(sqlite::Stmt& s, std::string_view system, std::string_view value, std::size_t limit,
                         json::Document& doc, const std::function<Result<std::string_view>(int col)>& stored_json,
                         std::vector<std::int64_t>* seen, std::vector<Resource>* out) {
  // Matches in the order they were first written (rid), as the memory
  // store answers; sorted here rather than by SQL, which would build a
  // temporary B-tree for every one of a batch's thousands of lookups.
  std::vector<std::pair<std::int64_t, Resource>> hits;
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool has_row, s.NextRow());
    if (!has_row) break;
    std::int64_t rid = s.Int(0);
    if (std::find(seen->begin(), seen->end(), rid) != seen->end()) continue;
    // The index holds hashes: confirm the identifier in the resource, so
    // that a collision can never make the writer merge into a stranger.
    Result<std::string_view> stored = stored_json(3);
    if (!stored.ok()) {
      s.Reset();
      return stored.status();
    }
    std::string_view text = *stored;
    if (!doc.Parse(text).ok()) continue;
    json::Value list;
    bool match = false;
    if (doc.root().Find("identifier", &list)) {
      for (json::Value i : list.elements()) {
        json::Value v, sys;
        if (!i.Find("value", &v) || !v.is_string() || v.string_value() != value) continue;
        std::string_view sys_text = i.Find("system", &sys) && sys.is_string() ? sys.string_value() : "";
        if (system.empty() || sys_text == system) match = true;
      }
    }
    if (!match) continue;
    seen->push_back(rid);
    hits.emplace_back(rid, Resource{std::string(s.Text(1)), std::to_string(s.Int(2)), std::string(text)});
  }
  std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < hits.size() && i < limit; ++i)
    out->push_back(std::move(hits[i].second));
  s.Reset();
  return Status::Ok();
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
  const auto stored_json = [&](int col) { return StoredJson(s, col); };
  for (std::string_view value : values) {
    s.Bind(1, p).Bind(2, Hash64(value));
    if (!system.empty()) s.Bind(3, sh);
    IOMT_RETURN_IF_ERROR(IdentifierMatches(s, system, value, limit, old_doc, stored_json, &seen, &out));
  }
  return out;
}

Result<HistoryPage> EmbeddedStore::Impl::TypeHistory(std::string_view type, std::string_view query,
                                                     std::optional<std::size_t> count) {
  HistoryPage page;
  page.count = options.default_count;
  std::optional<std::int64_t> since;
  std::vector<std::string> kept;
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    const std::string name = url::PercentDecode(piece.name);
    const std::string value = url::PercentDecode(piece.value);
    auto number = [&](std::size_t* out) -> Status {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
      if (ec != std::errc() || p != value.data() + value.size())
        return InvalidArgument(std::string(name).append(": not a number: '").append(value).append("'."));
      return Status::Ok();
    };
    if (value.empty()) continue;
    if (name == "_count") {
      IOMT_RETURN_IF_ERROR(number(&page.count));
      page.count = std::min(page.count, options.max_count);
    } else if (name == "_offset") {
      IOMT_RETURN_IF_ERROR(number(&page.offset));
      if (page.offset > options.max_offset) {
        return OutOfRange("_offset " + value + " is deeper than this server pages (" +
                          std::to_string(options.max_offset) + "): narrow the history with _since");
      }
    } else if (name == "_since") {
      std::int64_t lo = 0, hi = 0;
      if (!embedded::ParseDateRange(value, &lo, &hi))
        return InvalidArgument("_since: not an instant: '" + value + "'.");
      since = lo;
      kept.emplace_back(piece.text);
    } else {
      return InvalidArgument("Unknown history parameter '" + name + "' (supported: _count, _since, _offset).");
    }
  }
  if (count) page.count = *count;
  for (std::size_t i = 0; i < kept.size(); ++i)
    page.query.append(i == 0 ? "" : "&").append(kept[i]);
  std::int64_t tid = 0;
  if (!type.empty()) {
    if (!IsValidType(type)) return InvalidArgument("Not a resource type: '" + std::string(type) + "'.");
    IOMT_ASSIGN_OR_RETURN(tid, TypeId(type, false));
    if (tid == 0) return page;  // never written
  }
  if (page.count == 0) return page;
  // Current versions and superseded ones, newest first. No index on time:
  // SQLite reads the type's rows and keeps the newest page's worth. The
  // sort reads no JSON (a resource's row would be read whole, overflow pages
  // and all); the page's texts are read after it, each by its key.
  std::string current = "SELECT rid, version, updated, deleted, 1 AS cur FROM resources WHERE 1";
  std::string older = "SELECT h.rid, h.version, h.updated, h.deleted, 0 FROM history h WHERE 1";
  if (tid != 0) {
    current.append(" AND tid=?1");
    older.append(" AND h.rid IN (SELECT rid FROM resources WHERE tid=?1)");
  }
  if (since) {
    current.append(" AND updated>=?2");
    older.append(" AND h.updated>=?2");
  }
  const std::string sql = "SELECT t.name, r.id, x.version, x.updated, x.deleted, x.cur, x.rid FROM (" + current +
                          " UNION ALL " + older +
                          ") x JOIN resources r ON r.rid=x.rid JOIN types t ON t.tid=r.tid "
                          "ORDER BY x.updated DESC, x.rid DESC, x.version DESC LIMIT ?3 OFFSET ?4";
  ReadScope read(this);
  struct Found {
    std::int64_t rid;
    std::int64_t version;
    bool current;
  };
  std::vector<Found> found;
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s, CachedStatement(sql));
    if (tid != 0) s->Bind(1, tid);
    if (since) s->Bind(2, *since);
    // One more than the page: whether there is a next one.
    s->Bind(3, static_cast<std::int64_t>(page.count + 1)).Bind(4, static_cast<std::int64_t>(page.offset));
    while (true) {
      Result<bool> has_row = s->NextRow();
      if (!has_row.ok()) {
        s->Reset();
        return has_row.status();
      }
      if (!*has_row) break;
      if (page.entries.size() == page.count) {
        page.next_offset = page.offset + page.count;
        break;
      }
      HistoryEntry e;
      e.type = std::string(s->Text(0));
      e.id = std::string(s->Text(1));
      e.version_id = std::to_string(s->Int(2));
      e.updated_ms = s->Int(3);
      e.last_updated = embedded::FormatInstant(e.updated_ms);
      e.deleted = s->Int(4) != 0;
      found.push_back({s->Int(6), s->Int(2), s->Int(5) != 0});
      page.entries.push_back(std::move(e));
    }
    s->Reset();
  }
  for (std::size_t i = 0; i < page.entries.size(); ++i) {
    if (page.entries[i].deleted) continue;
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt * s,
                          CachedStatement(found[i].current ? "SELECT json FROM resources WHERE rid=?1"
                                                           : "SELECT json FROM history WHERE rid=?1 AND version=?2"));
    s->Bind(1, found[i].rid);
    if (!found[i].current) s->Bind(2, found[i].version);
    Result<bool> has_row = s->NextRow();
    Result<std::string_view> text = has_row.ok() && *has_row ? StoredJson(*s, 0) : Result<std::string_view>("");
    if (has_row.ok() && text.ok()) page.entries[i].json = std::string(*text);
    s->Reset();
    if (!has_row.ok()) return has_row.status();
    if (!text.ok()) return text.status();
  }
  return page;
}

}  // namespace iomt::store

namespace iomt::store {

Result<std::vector<Resource>> EmbeddedStore::SearchCommittedByIdentifiers(std::string_view type,
                                                                          std::string_view system,
                                                                          const std::vector<std::string>& values) {
  MutexLock lock(reader_mu_);
  if (!reader_) {
    auto reader = std::make_unique<CommittedReader>();
    IOMT_RETURN_IF_ERROR(reader->db.OpenReadOnly(path_));
    IOMT_ASSIGN_OR_RETURN(reader->type_id, reader->db.Prepare("SELECT tid FROM types WHERE name=?1"));
    IOMT_ASSIGN_OR_RETURN(reader->by_identifier, reader->db.Prepare(kByIdentifierSql));
    IOMT_ASSIGN_OR_RETURN(reader->by_identifier_system, reader->db.Prepare(kByIdentifierSystemSql));
    reader_ = std::move(reader);
  }
  CommittedReader& r = *reader_;
  // One snapshot for every lookup; ended whatever happens.
  IOMT_RETURN_IF_ERROR(r.db.Exec("BEGIN"));
  struct End {
    sqlite::Db* db;
    ~End() { (void)db->Exec("COMMIT"); }
  } end{&r.db};
  std::vector<Resource> out;
  r.type_id.Bind(1, type);
  IOMT_ASSIGN_OR_RETURN(bool known, r.type_id.NextRow());
  const std::int64_t tid = known ? r.type_id.Int(0) : 0;
  r.type_id.Reset();
  if (!known) return out;  // no resource of the type was ever committed
  const std::int64_t p = TokenKey(tid, embedded::TokenParam::kIdentifier);
  const std::int64_t sh = embedded::Hash64(system);
  sqlite::Stmt& s = system.empty() ? r.by_identifier : r.by_identifier_system;
  const auto stored_json = [&](int col) -> Result<std::string_view> {
    if (!s.IsBlob(col)) return s.Text(col);
    Result<std::string_view> json = r.packer.Unpack(s.Blob(col), true);
    if (json.ok()) return json;
    return IoError(path_ + " is damaged: " + json.status().message() + ". " + sqlite::DamagedAdvice(path_))
        .WithDetail(sqlite::kDamaged);
  };
  std::vector<std::int64_t> seen;
  for (const std::string& value : values) {
    s.Bind(1, p).Bind(2, embedded::Hash64(value));
    if (!system.empty()) s.Bind(3, sh);
    IOMT_RETURN_IF_ERROR(
        IdentifierMatches(s, system, value, static_cast<std::size_t>(-1), r.doc, stored_json, &seen, &out));
  }
  return out;
}

}  // namespace iomt::store
