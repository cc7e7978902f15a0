// Writing resources to the embedded store: validation, the resource and
// history rows, and the token index (new rows into tok_delta, the
// incremental merge into tok). Everything here runs inside the transaction
// the caller opened.
#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>

#include "common/json/document.h"
#include "common/json/patch.h"
#include "common/url.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {

// "3", "W/\"3\"" or "\"3\"" as a version number; -1 when it is none.
std::int64_t ParseVersion(std::string_view v) {
  if (v.substr(0, 2) == "W/") v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 18) return -1;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  // A table, not range tests per character: ids are 64 characters long and
  // checked at every write.
  static constexpr auto kIdChar = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[static_cast<std::size_t>(c)] =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    return t;
  }();
  bool ok = true;
  for (char c : id)
    ok &= kIdChar[static_cast<unsigned char>(c)];
  return ok;
}

bool IsValidType(std::string_view type) {
  if (type.empty() || type.size() > 64 || type[0] < 'A' || type[0] > 'Z') return false;
  return std::all_of(type.begin(), type.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

std::int64_t EmbeddedStore::Impl::NowMs() const {
  if (options.clock_ms) return options.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<WriteResult> EmbeddedStore::Impl::Write(std::string_view type, std::string_view id, std::string_view json,
                                               std::optional<std::string_view> if_match, bool new_id) {
  if (!IsValidType(type)) {
    std::string message = "Not a resource type: '";
    message.append(type).append("'.");
    return InvalidArgument(std::move(message));
  }
  if (!IsValidId(id)) {
    std::string message = "Not a valid resource id: '";
    message.append(id).append("' (FHIR ids are 1 to 64 of A-Z a-z 0-9 - .).");
    return InvalidArgument(std::move(message));
  }
  if (Status st = doc.Parse(json); !st.ok()) {
    std::string message = "The ";
    message.append(type).append(" is not valid JSON: ").append(st.message());
    return InvalidArgument(std::move(message));
  }
  json::Value root = doc.root();
  json::Value member;
  if (!root.is_object()) return InvalidArgument("A resource must be a JSON object.");
  if (!root.Find("resourceType", &member) || !member.is_string() || member.string_value() != type) {
    std::string message = "The resource's resourceType is not '";
    message.append(type).append("'.");
    return InvalidArgument(std::move(message));
  }
  if (!new_id && root.Find("id", &member) && (!member.is_string() || member.string_value() != id)) {
    std::string message = "The resource's id does not match the id of the request ('";
    message.append(id).append("').");
    return InvalidArgument(std::move(message));
  }
  if (!InThisPart(type, id)) {
    // The split store routes every write; anything else is its bug, and
    // would hide the resource from every read of its own part.
    std::string message = "embedded store ";
    message.append(path).append(": ").append(type).append("/").append(id);
    message.append(" belongs to part ").append(std::to_string(embedded::PartOfResource(type, id, part_n)));
    message.append(" of the split store, not to this one (").append(options.split_part).append(")");
    return Internal(std::move(message));
  }
  embedded::ExtractIndex(root, &rows);

  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, true));
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> existing, FindRow(tid, id, true));
  if (if_match) {
    std::int64_t wanted = ParseVersion(*if_match);
    if (!existing || existing->version != wanted) {
      std::string message = "The resource ";
      message.append(type).append("/").append(id).append(" is not at version ").append(*if_match).append(".");
      return Conflict(std::move(message)).WithDetail("precondition");
    }
  }

  IOMT_RETURN_IF_ERROR(NoteUnrouted(type));

  WriteResult out;
  const std::int64_t now = NowMs();
  if (now != instant_ms) {
    instant_text = embedded::FormatInstant(now);
    instant_ms = now;
  }
  out.last_updated = instant_text;
  std::int64_t rid = 0;
  std::int64_t version = 1;
  bool same_tokens = false;
  if (existing) {
    rid = existing->rid;
    version = existing->version + 1;
    // Written earlier in this batch: its index rows must be in the table
    // before they can be compared and replaced.
    if (token_rids.count(rid) != 0) IOMT_RETURN_IF_ERROR(FlushTokens());
    old_rows.tokens.clear();
    if (!existing->deleted && old_doc.Parse(existing->json).ok()) embedded::ExtractIndex(old_doc.root(), &old_rows);
    // Merged Observations keep their identifier, code and references: the
    // index rows stay as they are.
    same_tokens = !existing->deleted && old_rows.tokens == rows.tokens;
    if (!same_tokens) {
      IOMT_RETURN_IF_ERROR(DeleteTokens(tid, rid, old_rows));
    }
    IOMT_RETURN_IF_ERROR(to_history.Bind(1, rid).Run());
    IOMT_RETURN_IF_ERROR(TrimHistory(rid, version));
    embedded::StampResource(json, id, version, out.last_updated, &stamped);
    update_resource.Bind(1, rid).Bind(2, version).Bind(3, now).Bind(4, std::int64_t{0});
    if (rows.date_lo) {
      update_resource.Bind(5, *rows.date_lo).Bind(6, *rows.date_hi);
    } else {
      update_resource.BindNull(5).BindNull(6);
    }
    BindJson(update_resource, 7, stamped);
    IOMT_RETURN_IF_ERROR(update_resource.Run());
  } else {
    embedded::StampResource(json, id, version, out.last_updated, &stamped);
    insert_resource.Bind(1, ResourceKey(tid, id)).Bind(2, tid).Bind(3, id).Bind(4, version).Bind(5, now);
    if (rows.date_lo) {
      insert_resource.Bind(6, *rows.date_lo).Bind(7, *rows.date_hi);
    } else {
      insert_resource.BindNull(6).BindNull(7);
    }
    BindJson(insert_resource, 8, stamped);
    IOMT_RETURN_IF_ERROR(insert_resource.Run());
    rid = sqlite3_last_insert_rowid(db.handle());
    // Now, not with the batch's other token rows: a later write of this
    // resource in the same batch finds it by this row.
    IOMT_RETURN_IF_ERROR(
        insert_key.Bind(1, TokenKey(tid, embedded::TokenParam::kKey)).Bind(2, ResourceKey(tid, id)).Bind(3, rid).Run());
    ++delta_rows;
    out.created = true;
  }
  if (!same_tokens) IOMT_RETURN_IF_ERROR(InsertTokens(tid, rid));
  Changed(type, id, version, false, stamped);
  out.resource.id = std::string(id);
  out.resource.version_id = std::to_string(version);
  out.resource.json = stamped;
  return out;
}

Status EmbeddedStore::Impl::InsertTokens(std::int64_t tid, std::int64_t rid) {
  for (const embedded::TokenRow& t : rows.tokens)
    token_rows.push_back({TokenKey(tid, t.param), t.value_hash, t.system_hash, rid});
  if (defer_tokens) {
    token_rids.insert(rid);
    return Status::Ok();
  }
  return FlushTokens();
}

Status EmbeddedStore::Impl::FlushTokens() {
  // In key order: consecutive inserts then land on the same pages of the
  // index, which a batch's thousands of rows, inserted in arrival order,
  // would not (hashes are random).
  std::sort(token_rows.begin(), token_rows.end());
  // Several rows per statement: the statement's own cost (bind, step,
  // reset) is a good part of a row's.
  std::size_t at = 0;
  Status st;
  while (at < token_rows.size() && st.ok()) {
    const std::size_t n = std::min(token_rows.size() - at, insert_tokens.size());
    sqlite::Stmt& s = insert_tokens[n - 1];
    if (!s.valid()) {
      std::string sql = "INSERT OR IGNORE INTO tok_delta(p, vh, sh, rid) VALUES";
      for (std::size_t i = 0; i < n; ++i)
        sql.append(i == 0 ? "(?,?,?,?)" : ",(?,?,?,?)");
      Result<sqlite::Stmt> prepared = db.Prepare(sql);
      if (!prepared.ok()) {
        st = prepared.status();
        break;
      }
      s = std::move(*prepared);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::array<std::int64_t, 4>& row = token_rows[at + i];
      for (int k = 0; k < 4; ++k)
        s.Bind(static_cast<int>(i) * 4 + k + 1, row[static_cast<std::size_t>(k)]);
    }
    st = s.Run();
    delta_rows += static_cast<std::int64_t>(n);
    at += n;
  }
  token_rows.clear();
  token_rids.clear();
  return st;
}

Status EmbeddedStore::Impl::DeleteTokens(std::int64_t tid, std::int64_t rid, const embedded::IndexRows& old) {
  for (const embedded::TokenRow& t : old.tokens) {
    for (sqlite::Stmt* s : {&delete_token, &delete_token_delta})
      IOMT_RETURN_IF_ERROR(
          s->Bind(1, TokenKey(tid, t.param)).Bind(2, t.value_hash).Bind(3, t.system_hash).Bind(4, rid).Run());
    delta_rows -= sqlite3_changes(db.handle());  // of the tok_delta DELETE
  }
  return Status::Ok();
}

Status EmbeddedStore::Impl::MergeDelta(std::int64_t n) {
  // A slice of the next n rows after the cursor, in key order, moves per
  // call: it covers a contiguous key range, so it dirties only that range's
  // pages of the big index, and over successive batches the cursor sweeps
  // the whole key space (an incremental merge: no batch pays for all of it).
  // Inside the caller's transaction, so a crash leaves each row in one table.
  if (n <= 0) return Status::Ok();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::array<std::int64_t, 4> end = {kMax, kMax, kMax, kMax};
  bool wrap = true;
  merge_end.Bind(1, merge_cursor[0]).Bind(2, merge_cursor[1]).Bind(3, merge_cursor[2]).Bind(4, merge_cursor[3]);
  merge_end.Bind(5, n - 1);
  Result<bool> step = merge_end.Step();
  if (step.ok() && *step) {
    for (int i = 0; i < 4; ++i)
      end[static_cast<std::size_t>(i)] = merge_end.Int(i);
    wrap = false;
  }
  merge_end.Reset();
  if (!step.ok()) return step.status();
  for (sqlite::Stmt* s : {&merge_move, &merge_delete}) {
    for (int i = 0; i < 4; ++i) {
      s->Bind(i + 1, merge_cursor[static_cast<std::size_t>(i)]);
      s->Bind(i + 5, end[static_cast<std::size_t>(i)]);
    }
    IOMT_RETURN_IF_ERROR(s->Run());
  }
  delta_rows -= sqlite3_changes(db.handle());
  merge_cursor = wrap ? std::array<std::int64_t, 4>{kMin, kMin, kMin, kMin} : end;
  return Status::Ok();
}

Result<bool> EmbeddedStore::Impl::Remove(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return false;
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> existing, FindRow(tid, id, true));
  if (!existing || existing->deleted) return false;
  old_rows.tokens.clear();
  if (old_doc.Parse(existing->json).ok()) embedded::ExtractIndex(old_doc.root(), &old_rows);
  IOMT_RETURN_IF_ERROR(DeleteTokens(tid, existing->rid, old_rows));
  IOMT_RETURN_IF_ERROR(to_history.Bind(1, existing->rid).Run());
  IOMT_RETURN_IF_ERROR(TrimHistory(existing->rid, existing->version + 1));
  update_resource.Bind(1, existing->rid).Bind(2, existing->version + 1).Bind(3, NowMs()).Bind(4, std::int64_t{1});
  update_resource.BindNull(5).BindNull(6);
  IOMT_RETURN_IF_ERROR(update_resource.Bind(7, std::string_view()).Run());
  Changed(type, id, existing->version + 1, true, {});
  return true;
}

std::string EmbeddedStore::Impl::NewId(std::string_view type) {
  // A random UUID (version 4) as the id of a POSTed resource; in a part of a
  // split store, one that routes to it (n draws on average for n parts).
  while (true) {
    std::uint64_t a = rng(), b = rng();
    a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(a >> 32),
                  static_cast<unsigned long long>((a >> 16) & 0xffff), static_cast<unsigned long long>(a & 0xffff),
                  static_cast<unsigned long long>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
    if (InThisPart(type, buf)) return buf;
  }
}

Result<std::vector<std::string>> EmbeddedStore::Impl::Matching(std::string_view type, std::string_view condition) {
  // A condition says which resources match; parameters about the answer
  // would change what "one match" means.
  bool any = false;
  for (const url::QueryPiece& piece : url::SplitQuery(condition)) {
    const std::string name = url::PercentDecode(piece.name);
    for (std::string_view answer :
         {"_count", "_offset", "_cursor", "_summary", "_total", "_elements", "_include", "_revinclude", "_sort"}) {
      if (name == answer) {
        return InvalidArgument("The condition's '" + name + "' is about a search's answer, not about resources.");
      }
    }
    any = any || !piece.value.empty();
  }
  if (!any) return InvalidArgument("A conditional interaction needs a condition (a search, e.g. identifier=s|v).");
  std::string query(condition);
  query.append("&_total=none&_count=2");
  IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(type, query));
  std::vector<std::string> ids;
  for (Resource& r : page.resources)
    ids.push_back(std::move(r.id));
  if (page.next_offset) ids.emplace_back();  // a third: more than one is all that counts
  return ids;
}

Status ManyMatch(std::string_view what, std::string_view condition, std::size_t matches) {
  std::string message(what);
  message.append(": ").append(matches > 2 ? "more than 2" : std::to_string(matches));
  message.append(" resources match '").append(condition).append("'.");
  return Conflict(std::move(message)).WithDetail("precondition");
}

std::string IdOfJson(std::string_view json) {
  json::Document doc;
  json::Value id;
  if (!doc.Parse(json).ok() || !doc.root().is_object() || !doc.root().Find("id", &id) || !id.is_string()) return "";
  return std::string(id.string_value());
}

Result<WriteResult> EmbeddedStore::Impl::Create(std::string_view type, std::string_view json,
                                                std::optional<std::string_view> if_none_exist) {
  if (if_none_exist) {
    IOMT_ASSIGN_OR_RETURN(std::vector<std::string> ids, Matching(type, *if_none_exist));
    if (ids.size() > 1) return ManyMatch("If-None-Exist", *if_none_exist, ids.size());
    if (ids.size() == 1) {
      WriteResult out;
      IOMT_ASSIGN_OR_RETURN(out.resource, ReadCurrent(type, ids.front()));
      return out;
    }
  }
  return Write(type, NewId(type), json, std::nullopt, /*new_id=*/true);
}

Result<WriteResult> EmbeddedStore::Impl::UpdateWhere(std::string_view type, std::string_view condition,
                                                     std::string_view json) {
  IOMT_ASSIGN_OR_RETURN(std::vector<std::string> ids, Matching(type, condition));
  if (ids.size() > 1) return ManyMatch("Conditional update", condition, ids.size());
  std::string id = IdOfJson(json);
  if (ids.size() == 1) {
    if (!id.empty() && id != ids.front()) {
      return InvalidArgument("The resource's id '" + id + "' is not that of the resource matching '" +
                             std::string(condition) + "' (" + ids.front() + ").");
    }
    return Write(type, ids.front(), json, std::nullopt, /*new_id=*/false);
  }
  if (!id.empty()) {
    // FHIR: an id given that is another resource's, which the condition
    // did not match, is a conflict (not an update of that resource).
    IOMT_ASSIGN_OR_RETURN(bool taken, Exists(type, id));
    if (taken) {
      return Conflict("No resource matches '" + std::string(condition) + "', and " + std::string(type) + "/" + id +
                      ", the resource's id, is another resource.");
    }
    return Write(type, id, json, std::nullopt, /*new_id=*/false);
  }
  return Write(type, NewId(type), json, std::nullopt, /*new_id=*/true);
}

Result<bool> EmbeddedStore::Impl::RemoveWhere(std::string_view type, std::string_view condition) {
  IOMT_ASSIGN_OR_RETURN(std::vector<std::string> ids, Matching(type, condition));
  if (ids.size() > 1) return ManyMatch("Conditional delete", condition, ids.size());
  if (ids.empty()) return false;
  return Remove(type, ids.front());
}

Result<WriteResult> EmbeddedStore::Impl::Patch(std::string_view type, std::string_view id, std::string_view patch,
                                               std::optional<std::string_view> if_match) {
  IOMT_ASSIGN_OR_RETURN(Resource current, ReadCurrent(type, id));
  IOMT_ASSIGN_OR_RETURN(json::Node node, json::ParseNodeExact(current.json));
  IOMT_RETURN_IF_ERROR(json::ApplyJsonPatch(patch, &node));
  // The version read is the one patched: If-Match, else that version, so a
  // write in between is not lost (the client patches again).
  return Write(type, id, node.ToJson(), if_match ? *if_match : std::string_view{current.version_id}, false);
}

Result<WriteResult> EmbeddedStore::Impl::PatchWhere(std::string_view type, std::string_view condition,
                                                    std::string_view patch) {
  IOMT_ASSIGN_OR_RETURN(std::vector<std::string> ids, Matching(type, condition));
  if (ids.size() > 1) return ManyMatch("Conditional patch", condition, ids.size());
  if (ids.empty()) return NotFound("No " + std::string(type) + " matches '" + std::string(condition) + "'.");
  return Patch(type, ids.front(), patch, std::nullopt);
}

Result<bool> EmbeddedStore::Impl::Exists(std::string_view type, std::string_view id) {
  IOMT_ASSIGN_OR_RETURN(std::int64_t tid, TypeId(type, false));
  if (tid == 0) return false;
  IOMT_ASSIGN_OR_RETURN(std::optional<Row> existing, FindRow(tid, id, false));
  return existing.has_value() && !existing->deleted;
}

}  // namespace iomt::store
