// Checking a store against itself: SQLite's integrity_check (the file's
// b-trees) and the store's own rules (every resource's index rows are those
// of its JSON, meta matches the row, the versions kept are contiguous up to
// the current one, and all of them while the store was never pruned). For tests, and
// for `iomt store check`; both read the whole store, in memory that does not
// grow with it.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

// One token row as a well-mixed 64-bit number (murmur3's finalizer over each
// field). Rows are compared as a multiset through the sum of these, so the
// check needs no memory per row; two different multisets with the same sum
// and count are a 2^-64 chance.
std::uint64_t RowHash(std::int64_t p, std::int64_t vh, std::int64_t sh, std::int64_t rid) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (std::int64_t field : {p, vh, sh, rid}) {
    h ^= static_cast<std::uint64_t>(field);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
  }
  return h;
}

}  // namespace

Status EmbeddedStore::Impl::CheckIndexes() {
  auto fail = [](const std::string& message) { return Internal("store inconsistent: " + message); };
  std::unordered_map<std::int64_t, std::string> type_names;
  for (const auto& [name, tid] : types)
    type_names[tid] = name;
  ReadScope scope(this);
  // Another process may have pruned since this one looked.
  IOMT_RETURN_IF_ERROR(ReloadPruned());
  std::uint64_t expected_sum = 0, expected_rows = 0;
  std::int64_t with_versions = 0;  // resources that should have history
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db.Prepare("SELECT rid, key, tid, id, version, deleted, dlo, dhi, json FROM resources"));
    json::Document document;
    embedded::IndexRows index;
    std::vector<std::array<std::int64_t, 3>> tokens;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.NextRow());
      if (!row) break;
      const std::int64_t rid = s.Int(0), tid = s.Int(2), version = s.Int(4);
      const std::string id(s.Text(3));
      if (version > 1) ++with_versions;
      if (s.Int(1) != ResourceKey(tid, id)) return fail("key of " + id);
      if (!InThisPart(type_names[tid], id)) {
        return fail(type_names[tid] + "/" + id + " is in part " + options.split_part +
                    ", not in the part it routes to (" +
                    std::to_string(embedded::PartOfResource(type_names[tid], id, part_n)) + ")");
      }
      // Its key row, deleted or not.
      expected_sum += RowHash(TokenKey(tid, embedded::TokenParam::kKey), s.Int(1), 0, rid);
      ++expected_rows;
      if (s.Int(5) != 0) continue;
      Result<std::string_view> text = StoredJson(s, 8);
      if (!text.ok() || !document.Parse(*text).ok()) return fail("JSON of " + id);
      json::Value v, meta;
      if (!document.root().Find("id", &v) || v.string_value() != id) return fail("id in JSON of " + id);
      if (!document.root().Find("resourceType", &v) || v.string_value() != type_names[tid]) {
        return fail("type of " + id);
      }
      if (!document.root().Find("meta", &meta) || !meta.Find("versionId", &v) ||
          v.string_value() != std::to_string(version)) {
        return fail("meta.versionId of " + id);
      }
      embedded::ExtractIndex(document.root(), &index);
      // A resource's repeated token is one row (INSERT OR IGNORE).
      tokens.clear();
      for (const embedded::TokenRow& t : index.tokens)
        tokens.push_back({TokenKey(tid, t.param), t.value_hash, t.system_hash});
      std::sort(tokens.begin(), tokens.end());
      tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
      for (const auto& t : tokens)
        expected_sum += RowHash(t[0], t[1], t[2], rid);
      expected_rows += tokens.size();
      const bool has_date = !s.IsNull(6);
      if (has_date != index.date_lo.has_value() ||
          (has_date && (s.Int(6) != *index.date_lo || s.Int(7) != *index.date_hi))) {
        return fail("date of " + id);
      }
    }
  }
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db.Prepare("SELECT p, vh, sh, rid FROM tok UNION ALL SELECT p, vh, sh, rid FROM tok_delta"));
    std::uint64_t sum = 0, found = 0;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.NextRow());
      if (!row) break;
      sum += RowHash(s.Int(0), s.Int(1), s.Int(2), s.Int(3));
      ++found;
    }
    if (found != expected_rows || sum != expected_sum) {
      return fail("the token index does not match the resources' JSON (" + std::to_string(found) + " rows, " +
                  std::to_string(expected_rows) + " expected" + (found == expected_rows ? ", other rows" : "") + ")");
    }
  }
  {
    // history_rid gives the groups in rid order; each joins its resource by
    // its primary key.
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, db.Prepare("SELECT h.rid, count(*), min(h.version), max(h.version), "
                                                     "(SELECT version FROM resources r WHERE r.rid = h.rid) "
                                                     "FROM history h GROUP BY h.rid"));
    std::int64_t with_history = 0;
    while (true) {
      IOMT_ASSIGN_OR_RETURN(bool row, s.NextRow());
      if (!row) break;
      if (s.IsNull(4)) return fail("history of a resource that does not exist (rid " + std::to_string(s.Int(0)) + ")");
      // The versions kept are the newest: contiguous up to the current
      // one; all of them while the history policy never removed any.
      const std::int64_t version = s.Int(4), count = s.Int(1), first = s.Int(2), last = s.Int(3);
      if (last != version - 1 || count != last - first + 1 || first < 1 || (!pruned && first != 1)) {
        return fail("versions not contiguous (rid " + std::to_string(s.Int(0)) + ")");
      }
      ++with_history;
    }
    // With pruning, a resource may have lost every superseded version to
    // the age limit.
    if (pruned ? with_history > with_versions : with_history != with_versions) return fail("history missing");
  }
  return Status::Ok();
}

Status EmbeddedStore::CheckConsistency() {
  MutexLock lock(mu_);
  {
    IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, impl_->db.Prepare("PRAGMA integrity_check"));
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.Text(0) != "ok") {
      return Internal("store inconsistent: integrity_check: " + std::string(row ? s.Text(0) : ""));
    }
  }
  return impl_->CheckIndexes();
}

std::vector<std::string> EmbeddedStore::Check(std::size_t max_findings) {
  MutexLock lock(mu_);
  std::vector<std::string> findings;
  max_findings = std::max<std::size_t>(max_findings, 1);
  {
    // integrity_check reads every page: b-tree structure, free list, and
    // every index entry against its table row.
    Result<sqlite::Stmt> s = impl_->db.Prepare("PRAGMA integrity_check(" + std::to_string(max_findings) + ")");
    if (!s.ok()) return {s.status().message()};
    while (true) {
      Result<bool> row = s->NextRow();
      if (!row.ok()) {
        findings.push_back(row.status().message());
        break;
      }
      if (!*row) break;
      if (s->Text(0) != "ok") findings.emplace_back(s->Text(0));
    }
  }
  // The store's own rules assume sound b-trees: with damage they would only
  // report its echoes.
  if (!findings.empty()) return findings;
  if (Status st = impl_->CheckIndexes(); !st.ok()) findings.push_back(st.message());
  return findings;
}

}  // namespace iomt::store
