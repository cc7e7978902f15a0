// EmbeddedStore's own methods: opening a store, the background committer,
// and the public operations, each of which holds the store's mutex while it
// runs on the Impl (store_impl.h; database.cc, read.cc, write.cc, search.cc,
// bundle.cc). The checks of a store are in check.cc.
#include "store/embedded/embedded_store.h"

#include <filesystem>
#include <utility>

#include "common/mutex.h"
#include "store/embedded/store_impl.h"

namespace iomt::store {
namespace {

bool IsTransient(const Status& st) {
  return st.code() != StatusCode::kInvalidArgument && st.code() != StatusCode::kConflict &&
         st.code() != StatusCode::kNotFound;
}

}  // namespace

EmbeddedStore::EmbeddedStore(std::unique_ptr<Impl> impl)
    : path_(impl->path), unrouted_(&impl->unrouted), impl_(std::move(impl)) {
  if (impl_->options.commit_interval_ms > 0) committer_ = std::thread([this] { CommitterLoop(); });
}

EmbeddedStore::~EmbeddedStore() {
  // A destructor must not throw; what could (a lock, an allocation) would
  // only lose the last uncommitted writes, as a crash would.
  try {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    wake_.NotifyAll();
    if (committer_.joinable()) committer_.join();
    MutexLock lock(mu_);
    (void)impl_->Commit();
    impl_->search_cache.clear();
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to tell
  }
}

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const std::string& dir, EmbeddedStoreOptions options) {
  std::error_code ec;
  // The store holds patient data: a directory it creates is its user's
  // alone (SQLite's files follow the process umask, 077 in iomt).
  if (std::filesystem::create_directories(dir, ec) && !ec) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    std::string message = "cannot use ";
    message.append(dir).append(" as a store directory: ").append(ec ? ec.message() : "not a directory");
    return IoError(std::move(message));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->path = (std::filesystem::path(dir) / "store.db").string();
  IOMT_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<EmbeddedStore>(new EmbeddedStore(std::move(impl)));
}

void EmbeddedStore::CommitterLoop() {
  MutexLock lock(mu_);
  const auto interval = std::chrono::milliseconds(impl_->options.commit_interval_ms);
  while (!stopping_) {
    if (impl_->pending == 0) {
      wake_.Wait(lock);
      continue;
    }
    const auto deadline = impl_->first_pending + interval;
    if (std::chrono::steady_clock::now() < deadline) {
      wake_.WaitUntil(lock, deadline);
      continue;
    }
    // There is no caller to tell here: Commit remembers the loss for the
    // threads whose writes it held (their next Flush or PutMany says so),
    // so that nobody takes the lost writes for durable.
    (void)impl_->Commit();
  }
}

Result<std::vector<Resource>> EmbeddedStore::SearchByIdentifier(std::string_view type, std::string_view system,
                                                                std::string_view value, std::size_t limit) {
  MutexLock lock(mu_);
  return impl_->ByIdentifier(type, system, {value}, limit);
}

void EmbeddedStore::WatchChanges(std::vector<std::string> types,
                                 std::function<void(std::vector<StoreChange>&&)> observer) {
  MutexLock lock(mu_);
  impl_->watched.clear();
  if (observer) impl_->watched.insert(types.begin(), types.end());
  impl_->on_commit = std::move(observer);
}

std::vector<double> EmbeddedStore::CommitMillis() {
  MutexLock lock(mu_);
  return impl_->commit_ms;
}

std::int64_t EmbeddedStore::WalRestarts() {
  MutexLock lock(mu_);
  return impl_->wal_restarts;
}

Result<std::vector<Resource>> EmbeddedStore::SearchByIdentifiers(std::string_view type, std::string_view system,
                                                                 const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  MutexLock lock(mu_);
  return impl_->ByIdentifier(type, system, views, static_cast<std::size_t>(-1));
}

Result<std::optional<Resource>> EmbeddedStore::Read(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  Result<Resource> r = impl_->ReadCurrent(type, id);
  if (r.ok()) return std::optional<Resource>(std::move(r).value());
  if (r.status().code() == StatusCode::kNotFound) return std::optional<Resource>();
  return r.status();
}

Result<Resource> EmbeddedStore::Put(std::string_view type, std::string_view id, std::string json,
                                    std::optional<std::string_view> if_match) {
  IOMT_ASSIGN_OR_RETURN(WriteResult w, Update(type, id, json, if_match));
  return std::move(w.resource);
}

template <typename T, typename Write, typename Wrote>
Result<T> EmbeddedStore::SingleWrite(const Write& write, const Wrote& wrote) {
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  IOMT_RETURN_IF_ERROR(impl_->Savepoint("w"));
  Result<T> r = write(*impl_);
  if (!r.ok()) {
    impl_->RollbackTo("w");
    return impl_->RolledBack(r.status(), "the write");
  }
  IOMT_RETURN_IF_ERROR(impl_->Release("w"));
  if (wrote(*r)) {
    if (impl_->pending == 0) wake_.NotifyAll();
    if (Status st = impl_->AfterSingleWrite(); !st.ok()) {
      (void)impl_->TakeLost();  // told here, not again at the next Flush
      return st;
    }
  }
  return r;
}

Result<WriteResult> EmbeddedStore::WriteHeld(const std::function<Result<WriteResult>(Impl&)>& write,
                                             bool created_only) {
  return SingleWrite<WriteResult>(write, [created_only](const WriteResult& w) { return w.created || !created_only; });
}

Result<bool> EmbeddedStore::RemoveWhereHeld(std::string_view type, std::string_view condition) {
  return SingleWrite<bool>([&](Impl& impl) { return impl.RemoveWhere(type, condition); },
                           [](bool deleted) { return deleted; });
}

Result<WriteResult> EmbeddedStore::Update(std::string_view type, std::string_view id, std::string_view json,
                                          std::optional<std::string_view> if_match) {
  MutexLock lock(mu_);
  return SingleWrite<WriteResult>([&](Impl& impl) { return impl.Write(type, id, json, if_match, false); },
                                  [](const WriteResult&) { return true; });
}

Result<WriteResult> EmbeddedStore::Create(std::string_view type, std::string_view json,
                                          std::optional<std::string_view> if_none_exist) {
  MutexLock lock(mu_);
  // An If-None-Exist that matched wrote nothing.
  return SingleWrite<WriteResult>([&](Impl& impl) { return impl.Create(type, json, if_none_exist); },
                                  [](const WriteResult& w) { return w.created; });
}

Result<bool> EmbeddedStore::Delete(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  return SingleWrite<bool>([&](Impl& impl) { return impl.Remove(type, id); }, [](bool deleted) { return deleted; });
}

Result<WriteResult> EmbeddedStore::CreateAt(std::string_view type, std::string_view id, std::string_view json) {
  MutexLock lock(mu_);
  return SingleWrite<WriteResult>(
      [&](Impl& impl) -> Result<WriteResult> {
        IOMT_ASSIGN_OR_RETURN(bool exists, impl.Exists(type, id));
        if (exists) {
          return Conflict("If-None-Match: " + std::string(type) + "/" + std::string(id) + " exists.")
              .WithDetail("precondition");
        }
        return impl.Write(type, id, json, std::nullopt, false);
      },
      [](const WriteResult&) { return true; });
}

Result<WriteResult> EmbeddedStore::UpdateWhere(std::string_view type, std::string_view condition,
                                               std::string_view json) {
  MutexLock lock(mu_);
  return SingleWrite<WriteResult>([&](Impl& impl) { return impl.UpdateWhere(type, condition, json); },
                                  [](const WriteResult&) { return true; });
}

Result<bool> EmbeddedStore::DeleteWhere(std::string_view type, std::string_view condition) {
  MutexLock lock(mu_);
  return SingleWrite<bool>([&](Impl& impl) { return impl.RemoveWhere(type, condition); },
                           [](bool deleted) { return deleted; });
}

Result<WriteResult> EmbeddedStore::Patch(std::string_view type, std::string_view id, std::string_view patch,
                                         std::optional<std::string_view> if_match) {
  MutexLock lock(mu_);
  return SingleWrite<WriteResult>([&](Impl& impl) { return impl.Patch(type, id, patch, if_match); },
                                  [](const WriteResult&) { return true; });
}

Result<WriteResult> EmbeddedStore::PatchWhere(std::string_view type, std::string_view condition,
                                              std::string_view patch) {
  MutexLock lock(mu_);
  return SingleWrite<WriteResult>([&](Impl& impl) { return impl.PatchWhere(type, condition, patch); },
                                  [](const WriteResult&) { return true; });
}

bool EmbeddedStore::MayHoldUnrouted(std::string_view type) const { return unrouted_->May(type); }

Result<Resource> EmbeddedStore::PutPlaced(std::string_view type, std::string_view id, std::string json,
                                          std::optional<std::string_view> if_match, Placement placement) {
  MutexLock lock(mu_);
  IOMT_ASSIGN_OR_RETURN(WriteResult w, SingleWrite<WriteResult>(
                                           [&](Impl& impl) {
                                             impl.placed_by_identifier = placement == Placement::kByIdentifier;
                                             Result<WriteResult> r = impl.Write(type, id, json, if_match, false);
                                             impl.placed_by_identifier = false;
                                             return r;
                                           },
                                           [](const WriteResult&) { return true; }));
  return std::move(w.resource);
}

Result<std::vector<Result<Resource>>> EmbeddedStore::PutMany(std::vector<PutRequest> requests) {
  return PutManyPlaced(std::move(requests), Placement::kAny);
}

Result<std::vector<Result<Resource>>> EmbeddedStore::PutManyPlaced(std::vector<PutRequest> requests,
                                                                   Placement placement) {
  MutexLock lock(mu_);
  // Single writes still pending are committed first, so that the batch can
  // run without a savepoint (which would copy every page it touches) and
  // still be undone alone if it fails half-way.
  Status committed = impl_->Commit();
  // Nor is a batch written after this thread's single writes were lost
  // (a background commit failed): its caller tries it again whole.
  Status lost = impl_->TakeLost();
  IOMT_RETURN_IF_ERROR(committed);
  IOMT_RETURN_IF_ERROR(lost);
  IOMT_RETURN_IF_ERROR(impl_->Begin());
  // The batch's index rows are inserted together, sorted, at its end.
  impl_->defer_tokens = true;
  std::vector<Result<Resource>> out;
  out.reserve(requests.size());
  for (PutRequest& r : requests) {
    impl_->placed_by_identifier = placement == Placement::kByIdentifier;
    Result<WriteResult> w = impl_->Write(r.type, r.id, r.json, r.IfMatch(), false);
    impl_->placed_by_identifier = false;
    // The text is in the store (or refused): let it go now, not with the
    // batch, since the returned copies are growing beside the batch's texts
    // (hourly SampledData: ~10 KB each, thousands a batch).
    std::string().swap(r.json);
    if (w.ok()) {
      out.emplace_back(std::move(w->resource));
      continue;
    }
    // A bad resource or a lost If-Match fails before anything is written;
    // anything else (I/O) may have written half a resource: undo the batch.
    if (IsTransient(w.status())) {
      impl_->defer_tokens = false;
      impl_->token_rows.clear();
      impl_->token_rids.clear();
      impl_->Rollback();
      return impl_->RolledBack(w.status(), "the batch");
    }
    out.emplace_back(w.status());
  }
  impl_->defer_tokens = false;
  if (Status st = impl_->FlushTokens(); !st.ok()) {
    impl_->Rollback();
    return impl_->RolledBack(st, "the batch");
  }
  IOMT_RETURN_IF_ERROR(impl_->Commit());
  return out;
}

Status EmbeddedStore::Flush() {
  MutexLock lock(mu_);
  Status committed = impl_->Commit();
  Status lost = impl_->TakeLost();  // said once, even when the commit says it too
  return committed.ok() ? lost : committed;
}

Result<Resource> EmbeddedStore::ReadCurrent(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  return impl_->ReadCurrent(type, id);
}

Result<Resource> EmbeddedStore::VRead(std::string_view type, std::string_view id, std::string_view version) {
  MutexLock lock(mu_);
  return impl_->VRead(type, id, version);
}

Result<std::vector<HistoryEntry>> EmbeddedStore::History(std::string_view type, std::string_view id) {
  MutexLock lock(mu_);
  return impl_->History(type, id);
}

Result<HistoryPage> EmbeddedStore::TypeHistory(std::string_view type, std::string_view query,
                                               std::optional<std::size_t> count) {
  MutexLock lock(mu_);
  return impl_->TypeHistory(type, query, count);
}

Result<SearchPage> EmbeddedStore::Search(std::string_view type, std::string_view query, SearchOptions options) {
  MutexLock lock(mu_);
  return impl_->Search(type, query, options);
}

Result<std::string> EmbeddedStore::SearchBundle(std::string_view type, std::string_view query,
                                                std::string_view base_url, SearchOptions options) {
  IOMT_ASSIGN_OR_RETURN(SearchPage page, Search(type, query, options));
  return RenderSearchBundle(type, page, base_url);
}

Result<std::string> EmbeddedStore::ProcessBundle(std::string_view bundle_json, std::string_view base_url) {
  MutexLock lock(mu_);
  return impl_->ProcessBundle(bundle_json, base_url);
}

Status EmbeddedStore::Export(std::string_view type,
                             const std::function<void(std::string_view type, const Resource&)>& f) {
  MutexLock lock(mu_);
  std::string sql =
      "SELECT t.name, r.id, r.version, r.json FROM resources r JOIN types t ON t.tid=r.tid WHERE r.deleted=0";
  if (!type.empty()) sql.append(" AND t.name=?1");
  sql.append(" ORDER BY t.name, r.id");
  IOMT_ASSIGN_OR_RETURN(sqlite::Stmt s, impl_->db.Prepare(sql));
  if (!type.empty()) s.Bind(1, type);
  Resource r;
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    r.id.assign(s.Text(1));
    r.version_id = std::to_string(s.Int(2));
    IOMT_ASSIGN_OR_RETURN(std::string_view text, impl_->StoredJson(s, 3));
    r.json.assign(text);
    f(s.Text(0), r);
  }
  return Status::Ok();
}

}  // namespace iomt::store
