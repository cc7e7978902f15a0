// The history policy of the embedded store (EmbeddedStoreOptions::history_*):
// superseded versions beyond the newest history_max_versions of a resource,
// or older than history_max_age_ms, are removed, always the oldest first, so
// that what is kept is contiguous up to the current version.
//
// Everything here runs inside the writer's open transaction, in bounded
// pieces: an update trims what it pushed beyond the limit (at most two
// rows), and each transaction may take one slice of the sweep over the
// whole history (about history_sweep_rows rows). A crash therefore leaves
// either the write and its pruning or neither, and no writer ever waits for
// a pruning of its own.
#include <algorithm>
#include <limits>

#include "store/embedded/store_impl.h"

namespace iomt::store {

Status EmbeddedStore::Impl::RemoveVersions(std::int64_t rid, std::int64_t first, std::int64_t last) {
  IOMT_RETURN_IF_ERROR(remove_versions.Bind(1, rid).Bind(2, first).Bind(3, last).Run());
  return Removed(sqlite3_changes(db.handle()));
}

Status EmbeddedStore::Impl::Removed(int count) {
  if (count > 0 && !pruned) {
    // From now on a resource may lack its oldest versions: the check must
    // know that this is the policy, not damage.
    IOMT_RETURN_IF_ERROR(mark_pruned.Run());
    pruned = true;
  }
  removed_versions += count;
  return Status::Ok();
}

Status EmbeddedStore::Impl::TrimHistory(std::int64_t rid, std::int64_t version) {
  // Superseded versions are 1 .. version-1; the newest N of them stay.
  if (options.history_max_versions <= 0) return Status::Ok();
  const std::int64_t cut = version - 1 - options.history_max_versions;
  if (cut < 1) return Status::Ok();
  // Two at most: one for the version this write superseded, one more to
  // wear down what an earlier policy kept (the sweep removes the rest).
  IOMT_RETURN_IF_ERROR(trim_history.Bind(1, rid).Bind(2, cut).Run());
  return Removed(sqlite3_changes(db.handle()));
}

bool EmbeddedStore::Impl::SweepDue() {
  if (!HasHistoryPolicy()) return false;
  if (sweeping) return true;
  // Without an age limit, versions only go beyond the count limit by
  // updates, which trim them: one pass after open is enough.
  if (options.history_max_age_ms <= 0 || std::chrono::steady_clock::now() < next_sweep) return false;
  sweeping = true;
  sweep_cursor = 0;
  return true;
}

Status EmbeddedStore::Impl::SweepHistory(std::int64_t slice_rows, bool* done) {
  *done = false;
  const std::int64_t rows_wanted = std::max<std::int64_t>(slice_rows, 1);
  // The slice: the resources of the next `rows_wanted` history rows after the
  // cursor (read from the index history_rid alone).
  std::int64_t end = std::numeric_limits<std::int64_t>::max();
  {
    sweep_end.Bind(1, sweep_cursor).Bind(2, rows_wanted - 1);
    Result<bool> row = sweep_end.Step();
    if (row.ok() && *row) end = sweep_end.Int(0);
    sweep_end.Reset();
    if (!row.ok()) return row.status();
    *done = !*row;
  }
  const bool aged = options.history_max_age_ms > 0;
  sqlite::Stmt& groups = aged ? sweep_groups_aged : sweep_groups;
  groups.Bind(1, sweep_cursor).Bind(2, end);
  if (aged) groups.Bind(3, NowMs() - options.history_max_age_ms);
  // What to remove, per resource: [first, last] (its oldest versions).
  struct Cut {
    std::int64_t rid, first, last;
  };
  std::vector<Cut> cuts;
  std::int64_t budget = rows_wanted;
  std::int64_t next_cursor = end;
  while (true) {
    IOMT_ASSIGN_OR_RETURN(bool row, groups.NextRow());
    if (!row) break;
    if (groups.IsNull(3)) continue;  // history without its resource: the check reports it
    const std::int64_t rid = groups.Int(0), first = groups.Int(1), current = groups.Int(3);
    std::int64_t last = 0;
    if (options.history_max_versions > 0) last = current - 1 - options.history_max_versions;
    // Every version up to the newest old one, so that what stays is
    // contiguous even if the clock went back between versions.
    if (aged && !groups.IsNull(4)) last = std::max(last, groups.Int(4));
    last = std::min(last, current - 1);
    if (last < first) continue;
    if (last - first + 1 > budget) {
      // A resource with more to remove than the slice may: part of it now,
      // the rest in the next slice, which starts at it again.
      if (budget > 0) cuts.push_back({rid, first, first + budget - 1});
      next_cursor = rid - 1;
      *done = false;
      break;
    }
    cuts.push_back({rid, first, last});
    budget -= last - first + 1;
  }
  groups.Reset();
  for (const Cut& c : cuts)
    IOMT_RETURN_IF_ERROR(RemoveVersions(c.rid, c.first, c.last));
  if (*done) {
    sweeping = false;
    sweep_cursor = 0;
    next_sweep = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.history_sweep_interval_ms);
  } else {
    sweep_cursor = next_cursor;
  }
  return Status::Ok();
}

}  // namespace iomt::store
