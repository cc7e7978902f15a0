#include "store/embedded/split_store.h"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "common/mutex.h"
#include "common/parallel.h"
#include "common/url.h"
#include "store/embedded/resource_text.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {

// Lane k of a split store: writes routed as the store routes them (its own
// part, for what the caller dealt to it), its identifier searches in its own
// part and in what the other parts committed.
class SplitStore::LaneClient : public FhirClient {
 public:
  LaneClient(SplitStore* split, std::size_t k) : split_(split), k_(k) {}

  Result<std::vector<Resource>> SearchByIdentifier(std::string_view type, std::string_view system,
                                                   std::string_view value, std::size_t limit) override {
    IOMT_ASSIGN_OR_RETURN(std::vector<Resource> out, Own().SearchByIdentifier(type, system, value, limit));
    const std::vector<std::string> values{std::string(value)};
    for (std::size_t j = 0; j < split_->parts_.size() && out.size() < limit; ++j) {
      if (j == k_ || !split_->parts_[j]->MayHoldUnrouted(type)) continue;
      IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found,
                            split_->parts_[j]->SearchCommittedByIdentifiers(type, system, values));
      for (std::size_t i = 0; i < found.size() && out.size() < limit; ++i)
        out.push_back(std::move(found[i]));
    }
    return out;
  }
  Result<std::vector<Resource>> SearchByIdentifiers(std::string_view type, std::string_view system,
                                                    const std::vector<std::string>& values) override {
    IOMT_ASSIGN_OR_RETURN(std::vector<Resource> out, Own().SearchByIdentifiers(type, system, values));
    for (std::size_t j = 0; j < split_->parts_.size(); ++j) {
      if (j == k_ || !split_->parts_[j]->MayHoldUnrouted(type)) continue;
      IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found,
                            split_->parts_[j]->SearchCommittedByIdentifiers(type, system, values));
      for (Resource& r : found)
        out.push_back(std::move(r));
    }
    return out;
  }
  Result<std::optional<Resource>> Read(std::string_view type, std::string_view id) override {
    return split_->Read(type, id);
  }
  // Placed by identifier (split_store.h, lanes()).
  Result<Resource> Put(std::string_view type, std::string_view id, std::string json,
                       std::optional<std::string_view> if_match) override {
    return split_->parts_[split_->PartOf(type, id)]->PutPlaced(type, id, std::move(json), if_match,
                                                               EmbeddedStore::Placement::kByIdentifier);
  }
  Result<std::vector<Result<Resource>>> PutMany(std::vector<PutRequest> requests) override {
    return split_->PutManyPlaced(std::move(requests), EmbeddedStore::Placement::kByIdentifier);
  }
  Status Flush() override { return split_->Flush(); }

 private:
  EmbeddedStore& Own() { return *split_->parts_[k_]; }
  SplitStore* split_;
  std::size_t k_;
};

SplitStore::SplitStore(std::string dir, std::vector<std::unique_ptr<EmbeddedStore>> parts)
    : dir_(std::move(dir)), parts_(std::move(parts)) {
  for (std::size_t k = 0; k < parts_.size(); ++k)
    lanes_.push_back(std::make_unique<LaneClient>(this, k));
}

std::string SplitStore::PartDir(const std::string& dir, std::size_t k) {
  return k == 0 ? dir : dir + "/part-" + std::to_string(k);
}

Result<std::unique_ptr<SplitStore>> SplitStore::Open(const std::string& dir, std::size_t parts,
                                                     const EmbeddedStoreOptions& options) {
  if (parts == 0) return InvalidArgument("a split store has at least one part");
  std::vector<std::unique_ptr<EmbeddedStore>> opened;
  opened.reserve(parts);
  for (std::size_t k = 0; k < parts; ++k) {
    EmbeddedStoreOptions part_options = options;
    // One part is a store of one file, as it always was.
    if (parts > 1) part_options.split_part = std::to_string(k) + "/" + std::to_string(parts);
    IOMT_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(PartDir(dir, k), part_options));
    opened.push_back(std::move(store));
  }
  std::unique_ptr<SplitStore> split(new SplitStore(dir, std::move(opened)));
  split->default_count_ = options.default_count;
  split->max_count_ = options.max_count;
  split->max_offset_ = options.max_offset;
  return split;
}

std::size_t SplitStore::PartOf(std::string_view type, std::string_view id) const {
  return embedded::PartOfResource(type, id, parts_.size());
}

Result<std::vector<Resource>> SplitStore::SearchByIdentifier(std::string_view type, std::string_view system,
                                                             std::string_view value, std::size_t limit) {
  std::vector<Resource> out;
  for (auto& part : parts_) {
    if (out.size() >= limit) break;
    IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found,
                          part->SearchByIdentifier(type, system, value, limit - out.size()));
    for (Resource& r : found)
      out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Resource>> SplitStore::SearchByIdentifiers(std::string_view type, std::string_view system,
                                                              const std::vector<std::string>& values) {
  std::vector<Resource> out;
  for (auto& part : parts_) {
    IOMT_ASSIGN_OR_RETURN(std::vector<Resource> found, part->SearchByIdentifiers(type, system, values));
    if (out.empty()) {
      out = std::move(found);
      continue;
    }
    for (Resource& r : found)
      out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<Resource>> SplitStore::Read(std::string_view type, std::string_view id) {
  return parts_[PartOf(type, id)]->Read(type, id);
}

Result<Resource> SplitStore::Put(std::string_view type, std::string_view id, std::string json,
                                 std::optional<std::string_view> if_match) {
  return parts_[PartOf(type, id)]->Put(type, id, std::move(json), if_match);
}

Result<std::vector<Result<Resource>>> SplitStore::PutMany(std::vector<PutRequest> requests) {
  return PutManyPlaced(std::move(requests), EmbeddedStore::Placement::kAny);
}

Result<std::vector<Result<Resource>>> SplitStore::PutManyPlaced(std::vector<PutRequest> requests,
                                                                EmbeddedStore::Placement placement) {
  if (parts_.size() == 1) return parts_[0]->PutManyPlaced(std::move(requests), placement);
  // Each part's share, in the batch's order (a resource written twice in a
  // batch is written twice in its part, in order), and where each request
  // came from.
  std::vector<std::vector<PutRequest>> shares(parts_.size());
  std::vector<std::vector<std::size_t>> origin(parts_.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::size_t k = PartOf(requests[i].type, requests[i].id);
    origin[k].push_back(i);
    shares[k].push_back(std::move(requests[i]));
  }
  // Every part's share at once (common/parallel.h): a thread a share is
  // cheap beside its commit (an fsync).
  std::vector<std::optional<Result<std::vector<Result<Resource>>>>> answers(parts_.size());
  RunShares(
      parts_.size(), [&](std::size_t k) { return !shares[k].empty(); },
      [&](std::size_t k) { answers[k] = parts_[k]->PutManyPlaced(std::move(shares[k]), placement); });
  std::vector<Result<Resource>> out(requests.size(), Result<Resource>(Resource{}));
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    if (!answers[k]) continue;  // no share in this part
    if (!answers[k]->ok()) return answers[k]->status();
    std::vector<Result<Resource>>& results = **answers[k];
    const std::vector<std::size_t>& from = origin[k];
    if (results.size() != from.size()) return Internal("a part answered a share of the batch with another length");
    for (std::size_t i = 0; i < from.size(); ++i)
      out[from[i]] = std::move(results[i]);
  }
  return out;
}

Status SplitStore::Flush() {
  Status first = Status::Ok();
  for (auto& part : parts_) {
    Status st = part->Flush();
    if (first.ok() && !st.ok()) first = std::move(st);
  }
  return first;
}

Result<Resource> SplitStore::ReadCurrent(std::string_view type, std::string_view id) {
  return PartFor(type, id).ReadCurrent(type, id);
}

Result<Resource> SplitStore::VRead(std::string_view type, std::string_view id, std::string_view version) {
  return PartFor(type, id).VRead(type, id, version);
}

Result<std::vector<HistoryEntry>> SplitStore::History(std::string_view type, std::string_view id) {
  return PartFor(type, id).History(type, id);
}

Result<WriteResult> SplitStore::Update(std::string_view type, std::string_view id, std::string_view json,
                                       std::optional<std::string_view> if_match) {
  return PartFor(type, id).Update(type, id, json, if_match);
}

Result<WriteResult> SplitStore::Create(std::string_view type, std::string_view json) {
  // The part makes an id that routes to it (EmbeddedStore's NewId).
  return parts_[NextPart()]->Create(type, json);
}

// Every part's lock, taken in part order and given back in reverse. The
// analysis cannot follow a lock a part: it is turned off here alone.
class SplitStore::AllParts {
 public:
  explicit AllParts(SplitStore* split) IOMT_NO_THREAD_SAFETY_ANALYSIS : split_(split) {
    for (auto& part : split_->parts_)
      part->mu_.Lock();
  }
  ~AllParts() IOMT_NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = split_->parts_.rbegin(); it != split_->parts_.rend(); ++it)
      (*it)->mu_.Unlock();
  }
  AllParts(const AllParts&) = delete;
  AllParts& operator=(const AllParts&) = delete;

 private:
  SplitStore* split_;
};

Result<std::optional<std::size_t>> SplitStore::MatchOne(std::string_view what, std::string_view type,
                                                        std::string_view condition) IOMT_NO_THREAD_SAFETY_ANALYSIS {
  std::optional<std::size_t> part;
  std::size_t matches = 0;
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    IOMT_ASSIGN_OR_RETURN(std::vector<std::string> ids, parts_[k]->impl_->Matching(type, condition));
    if (!ids.empty()) part = k;
    matches += ids.size();
  }
  if (matches > 1) return ManyMatch(what, condition, std::min<std::size_t>(matches, 3));
  return matches == 1 ? part : std::nullopt;
}

Result<WriteResult> SplitStore::CreateWhereNone(std::string_view type, std::string_view json,
                                                std::string_view if_none_exist) IOMT_NO_THREAD_SAFETY_ANALYSIS {
  AllParts held(this);
  IOMT_ASSIGN_OR_RETURN(std::optional<std::size_t> match, MatchOne("If-None-Exist", type, if_none_exist));
  // The match's part answers with it; with none, a part creates.
  EmbeddedStore& part = *parts_[match ? *match : NextPart()];
  return part.WriteHeld([&](EmbeddedStore::Impl& impl) { return impl.Create(type, json, if_none_exist); },
                        /*created_only=*/true);
}

Result<WriteResult> SplitStore::UpdateWhere(std::string_view type, std::string_view condition,
                                            std::string_view json) IOMT_NO_THREAD_SAFETY_ANALYSIS {
  AllParts held(this);
  IOMT_ASSIGN_OR_RETURN(std::optional<std::size_t> match, MatchOne("Conditional update", type, condition));
  std::size_t k = 0;
  if (match) {
    k = *match;
  } else {
    const std::string id = IdOfJson(json);
    k = id.empty() ? NextPart() : PartOf(type, id);
  }
  return parts_[k]->WriteHeld([&](EmbeddedStore::Impl& impl) { return impl.UpdateWhere(type, condition, json); },
                              /*created_only=*/false);
}

Result<bool> SplitStore::DeleteWhere(std::string_view type, std::string_view condition) IOMT_NO_THREAD_SAFETY_ANALYSIS {
  AllParts held(this);
  IOMT_ASSIGN_OR_RETURN(std::optional<std::size_t> match, MatchOne("Conditional delete", type, condition));
  if (!match) return false;
  return parts_[*match]->RemoveWhereHeld(type, condition);
}

Result<WriteResult> SplitStore::PatchWhere(std::string_view type, std::string_view condition,
                                           std::string_view patch) IOMT_NO_THREAD_SAFETY_ANALYSIS {
  AllParts held(this);
  IOMT_ASSIGN_OR_RETURN(std::optional<std::size_t> match, MatchOne("Conditional patch", type, condition));
  // With no match, part 0 says so as a store of one file does.
  return parts_[match ? *match : 0]->WriteHeld(
      [&](EmbeddedStore::Impl& impl) { return impl.PatchWhere(type, condition, patch); }, /*created_only=*/false);
}

Result<bool> SplitStore::Delete(std::string_view type, std::string_view id) {
  return PartFor(type, id).Delete(type, id);
}

Result<WriteResult> SplitStore::CreateAt(std::string_view type, std::string_view id, std::string_view json) {
  return PartFor(type, id).CreateAt(type, id, json);
}

Result<WriteResult> SplitStore::Patch(std::string_view type, std::string_view id, std::string_view patch,
                                      std::optional<std::string_view> if_match) {
  return PartFor(type, id).Patch(type, id, patch, if_match);
}

namespace {

// A key of the sort, as the parts' positions carry them ("rid~key~key").
struct MergeKey {
  bool text = false;  // an id; else a number (date, _lastUpdated)
  bool desc = false;
};

// The order of two positions of different parts by their keys: <0, 0, >0.
// As SQLite orders them, key by key: an empty key (NULL) before any other,
// each key's order reversed when it is descending.
int CompareKeys(std::string_view a, std::string_view b, const std::vector<MergeKey>& keys) {
  for (const MergeKey& key : keys) {
    // The next key of each: past the '~' before it.
    a = a.substr(std::min(a.find('~'), a.size()));
    b = b.substr(std::min(b.find('~'), b.size()));
    a.remove_prefix(a.empty() ? 0 : 1);
    b.remove_prefix(b.empty() ? 0 : 1);
    const std::string_view x = a.substr(0, a.find('~'));
    const std::string_view y = b.substr(0, b.find('~'));
    int c = 0;
    if (x.empty() || y.empty()) {
      c = x.empty() == y.empty() ? 0 : (x.empty() ? -1 : 1);
    } else if (!key.text) {
      std::int64_t m = 0, n = 0;
      std::from_chars(x.data(), x.data() + x.size(), m);
      std::from_chars(y.data(), y.data() + y.size(), n);
      c = m < n ? -1 : (m > n ? 1 : 0);
    } else {
      const int t = x.compare(y);
      c = t < 0 ? -1 : (t > 0 ? 1 : 0);
    }
    if (c != 0) return key.desc ? -c : c;
  }
  return 0;
}

// The k-way merge of the parts' pages, each already in the wanted order:
// `items[k]` part k's, `before(k, i, j, m)` whether item i of part k comes
// strictly before item m of part j (on a tie the lower part comes first).
// Passes over `skip` items, then moves up to `take` into `out`. Returns how
// many items of each part it went through.
template <typename Item, typename Before>
std::vector<std::size_t> MergeParts(const std::vector<std::vector<Item>*>& items, std::size_t skip, std::size_t take,
                                    const Before& before, std::vector<Item>* out) {
  std::vector<std::size_t> at(items.size(), 0);
  while (out->size() < take) {
    std::optional<std::size_t> best;
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (at[k] >= items[k]->size()) continue;
      if (!best || before(k, at[k], *best, at[*best])) best = k;
    }
    if (!best) break;
    if (skip > 0) {
      --skip;
    } else {
      out->push_back(std::move((*items[*best])[at[*best]]));
    }
    ++at[*best];
  }
  return at;
}

// _count and _offset of a query for a merged page, and the query without
// them. False when either is not a number (the parts say why).
bool TakePaging(std::string_view query, std::size_t* count, std::size_t* offset, std::string* rest) {
  bool parsed = true;
  for (const url::QueryPiece& piece : url::SplitQuery(query)) {
    const std::string name = url::PercentDecode(piece.name);
    if (name == "_count" || name == "_offset") {
      const std::string value = url::PercentDecode(piece.value);
      if (value.empty()) continue;
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      parsed = parsed && ec == std::errc() && end == value.data() + value.size();
      *(name == "_count" ? count : offset) = n;
      continue;
    }
    rest->append(rest->empty() ? "" : "&").append(piece.text);
  }
  return parsed;
}

}  // namespace

Result<SearchPage> SplitStore::Search(std::string_view type, std::string_view query, SearchOptions options) {
  if (parts_.size() == 1) return parts_[0]->Search(type, query, options);
  // What the merge does itself: the page's size and start, and the sort.
  // The other parameters go to every part as they are.
  std::size_t count = default_count_, offset = 0;
  std::string rest, cursor, sort, part_query;
  const bool parsed = TakePaging(query, &count, &offset, &rest);
  for (const url::QueryPiece& piece : url::SplitQuery(rest)) {
    const std::string name = url::PercentDecode(piece.name);
    const std::string value = url::PercentDecode(piece.value);
    if (name == "_cursor") {
      cursor = value;
      continue;
    }
    if (name == "_sort") sort = value;
    part_query.append(part_query.empty() ? "" : "&").append(piece.text);
  }
  // A value the parts refuse: part 0 says why, as a store of one file would.
  if (!parsed || (cursor.empty() && offset > max_offset_)) {
    Result<SearchPage> refused = parts_[0]->Search(type, query, options);
    if (!refused.ok()) return refused.status();
    return Internal("a split store's search took a _count or _offset its parts accept");
  }
  count = std::min(count, max_count_);
  std::vector<MergeKey> keys;
  for (std::string_view left = sort; !left.empty();) {
    const std::size_t comma = left.find(',');
    std::string_view k = left.substr(0, comma);
    left = comma == std::string_view::npos ? std::string_view() : left.substr(comma + 1);
    if (k.empty()) continue;
    MergeKey key;
    key.desc = k[0] == '-';
    k.remove_prefix(key.desc ? 1 : 0);
    key.text = k == "_id";
    keys.push_back(key);
  }
  // A cursor is each part's place, '_' between them ('_' is in no id).
  std::vector<std::string> places(parts_.size());
  if (!cursor.empty()) {
    std::size_t k = 0;
    std::size_t from = 0;
    for (;; ++k) {
      const std::size_t bar = cursor.find('_', from);
      if (k < places.size()) places[k] = cursor.substr(from, bar == std::string::npos ? bar : bar - from);
      if (bar == std::string::npos) break;
      from = bar + 1;
    }
    // Each place is what a part gave: digits, '~' and an id's characters.
    const bool well_formed = std::all_of(cursor.begin(), cursor.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '~' || c == '-' || c == '.' || c == '_';
    });
    if (k + 1 != places.size() || !well_formed) {
      return InvalidArgument("_cursor '" + cursor + "' is not one this search gave (take the next link as it is).");
    }
  }
  const bool by_cursor = !cursor.empty();
  SearchOptions part_options = options;
  part_options.positions = true;
  part_options.whole_matches = true;
  part_options.count = by_cursor ? count : offset + count;
  std::vector<std::optional<Result<SearchPage>>> pages(parts_.size());
  RunShares(
      parts_.size(), [](std::size_t) { return true; },
      [&](std::size_t k) {
        std::string q = part_query;
        if (!places[k].empty()) q.append(q.empty() ? "" : "&").append("_cursor=").append(places[k]);
        pages[k] = parts_[k]->Search(type, q, part_options);
      });
  for (auto& page : pages)
    if (!page->ok()) return page->status();

  SearchPage out;
  const SearchPage& first = **pages[0];
  out.count = count;
  out.offset = offset;
  out.cursor = cursor;
  out.query = first.query;
  out.count_only = first.count_only;
  out.keyset = first.keyset;
  out.warnings = first.warnings;
  out.total_known = true;
  for (auto& page : pages) {
    out.total_known = out.total_known && (*page)->total_known;
    out.total += (*page)->total;
  }
  if (!out.total_known) out.total = 0;
  if (out.total_known && count > 0 && out.total > 0) {
    const std::size_t last = (static_cast<std::size_t>(out.total) - 1) / count * count;
    if (last <= max_offset_) out.last_offset = last;
  }
  if (out.count_only) return out;
  // The merge, by the sort's key.
  std::vector<std::vector<Resource>*> matches;
  matches.reserve(pages.size());
  for (auto& page : pages)
    matches.push_back(&(*page)->resources);
  const std::vector<std::size_t> at = MergeParts(
      matches, by_cursor ? 0 : offset, count,
      [&](std::size_t k, std::size_t i, std::size_t j, std::size_t m) {
        return CompareKeys((*pages[k])->positions[i], (*pages[j])->positions[m], keys) < 0;
      },
      &out.resources);
  // What the page's matches bring along, from every part, then the
  // matches cut down as _summary/_elements ask.
  const auto read = [this](std::string_view t, std::string_view id) { return ReadCurrent(t, id); };
  const auto search = [this](std::string_view t, const std::string& q) { return Search(t, q); };
  IOMT_RETURN_IF_ERROR(IncludeInto(type, first.includes, false, max_count_, read, search, &out));
  IOMT_RETURN_IF_ERROR(IncludeInto(type, first.revincludes, true, max_count_, read, search, &out));
  if (first.shape) {
    for (Resource& r : out.resources)
      r.json = first.shape(r.json);
  }
  bool more = false;
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    const SearchPage& page = **pages[k];
    more = more || at[k] < page.resources.size() || page.next_offset.has_value();
  }
  if (more) {
    out.next_offset = offset + count;
    if (out.keyset) {
      // Each part's place after what this page took of it.
      for (std::size_t k = 0; k < parts_.size(); ++k) {
        if (k > 0) out.next_cursor.push_back('_');
        out.next_cursor.append(at[k] > 0 ? (*pages[k])->positions[at[k] - 1] : places[k]);
      }
    }
  }
  return out;
}

Result<HistoryPage> SplitStore::TypeHistory(std::string_view type, std::string_view query) {
  if (parts_.size() == 1) return parts_[0]->TypeHistory(type, query);
  std::size_t count = default_count_, offset = 0;
  std::string rest;
  // A value the parts refuse: part 0 says why, as a store of one file would.
  if (!TakePaging(query, &count, &offset, &rest) || offset > max_offset_) {
    Result<HistoryPage> refused = parts_[0]->TypeHistory(type, query);
    if (!refused.ok()) return refused.status();
    return Internal("a split store's history took a _count or _offset its parts accept");
  }
  count = std::min(count, max_count_);
  std::vector<std::optional<Result<HistoryPage>>> pages(parts_.size());
  RunShares(
      parts_.size(), [](std::size_t) { return true; },
      [&](std::size_t k) { pages[k] = parts_[k]->TypeHistory(type, rest, offset + count); });
  for (auto& page : pages)
    if (!page->ok()) return page->status();
  HistoryPage out;
  out.count = count;
  out.offset = offset;
  out.query = (*pages[0])->query;
  if (count == 0) return out;
  // Newest first; at the same millisecond, the lower part first.
  std::vector<std::vector<HistoryEntry>*> entries;
  entries.reserve(pages.size());
  for (auto& page : pages)
    entries.push_back(&(*page)->entries);
  const std::vector<std::size_t> at = MergeParts(
      entries, offset, count,
      [&](std::size_t k, std::size_t i, std::size_t j, std::size_t m) {
        return (*entries[k])[i].updated_ms > (*entries[j])[m].updated_ms;
      },
      &out.entries);
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    if (at[k] < entries[k]->size() || (*pages[k])->next_offset) out.next_offset = offset + count;
  }
  return out;
}

Result<std::string> SplitStore::SearchBundle(std::string_view type, std::string_view query, std::string_view base_url,
                                             SearchOptions options) {
  IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(type, query, options));
  return RenderSearchBundle(type, page, base_url);
}

Status SplitStore::CheckConsistency() {
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    if (Status st = parts_[k]->CheckConsistency(); !st.ok()) {
      return Status(st.code(), PartDir(dir_, k) + ": " + st.message());
    }
  }
  return Status::Ok();
}

std::vector<std::string> SplitStore::Check(std::size_t max_findings) {
  std::vector<std::string> findings;
  for (std::size_t k = 0; k < parts_.size() && findings.size() < max_findings; ++k) {
    for (std::string& finding : parts_[k]->Check(max_findings - findings.size()))
      findings.push_back(PartDir(dir_, k) + ": " + finding);
  }
  return findings;
}

Result<CompactReport> SplitStore::Compact() {
  CompactReport sum;
  for (auto& part : parts_) {
    IOMT_ASSIGN_OR_RETURN(CompactReport r, part->Compact());
    sum.removed_versions += r.removed_versions;
    sum.bytes_before += r.bytes_before;
    sum.bytes_after += r.bytes_after;
    sum.prune_seconds += r.prune_seconds;
    sum.vacuum_seconds += r.vacuum_seconds;
  }
  return sum;
}

Result<BackupReport> SplitStore::BackupTo(const std::string& dest_dir, int pages_per_step) {
  if (parts_.size() == 1) return parts_[0]->BackupTo(dest_dir, pages_per_step);
  namespace fs = std::filesystem;
  IOMT_RETURN_IF_ERROR(embedded::EmptyDirectory(dest_dir));
  // dest_dir was empty: on failure, whatever is in it is this call's.
  auto fail = [&](const Status& st) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(dest_dir, ec))
      fs::remove_all(entry.path(), ec);
    return st;
  };
  BackupReport sum;
  auto add = [&sum](const BackupReport& r) {
    sum.pages += r.pages;
    sum.bytes += r.bytes;
    sum.steps += r.steps;
    sum.seconds += r.seconds;
  };
  for (std::size_t k = 1; k < parts_.size(); ++k) {
    Result<BackupReport> r = parts_[k]->BackupTo(PartDir(dest_dir, k), pages_per_step);
    if (!r.ok()) return fail(r.status());
    add(*r);
  }
  const std::string staging = (fs::path(dest_dir) / ".part-0").string();
  Result<BackupReport> r = parts_[0]->BackupTo(staging, pages_per_step);
  if (!r.ok()) return fail(r.status());
  add(*r);
  const std::string from = (fs::path(staging) / "store.db").string();
  const std::string to = (fs::path(dest_dir) / "store.db").string();
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return fail(IoError("cannot rename " + from + " to " + to + ": " + std::strerror(errno)));
  }
  std::error_code ec;
  fs::remove(staging, ec);
  if (Status st = embedded::SyncPath(dest_dir, O_RDONLY | O_DIRECTORY); !st.ok()) return fail(st);
  return sum;
}

void SplitStore::WatchChanges(const std::vector<std::string>& types,
                              std::function<void(std::vector<StoreChange>&&)> observer) {
  if (!observer) {
    for (auto& part : parts_)
      part->WatchChanges({}, {});
    return;
  }
  // One call at a time, whichever part's commit makes it.
  struct Serialized {
    Mutex mu;
    std::function<void(std::vector<StoreChange>&&)> observer;
  };
  auto shared = std::make_shared<Serialized>();
  shared->observer = std::move(observer);
  for (auto& part : parts_) {
    part->WatchChanges(types, [shared](std::vector<StoreChange>&& changes) {
      MutexLock lock(shared->mu);
      shared->observer(std::move(changes));
    });
  }
}

Status SplitStore::ExportSnapshot(const std::vector<std::string>& types, std::optional<std::int64_t> since_ms,
                                  const std::function<Status(std::string_view type, std::string_view json)>& f,
                                  std::int64_t* at_ms) {
  std::optional<std::int64_t> earliest;
  for (auto& part : parts_) {
    std::int64_t at = 0;
    IOMT_RETURN_IF_ERROR(part->ExportSnapshot(types, since_ms, f, &at));
    if (!earliest || at < *earliest) earliest = at;
  }
  if (at_ms != nullptr) *at_ms = earliest.value_or(0);
  return Status::Ok();
}

}  // namespace iomt::store
