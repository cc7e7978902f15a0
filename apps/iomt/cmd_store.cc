// `iomt store`: import, export, search, check, compact, back up and restore
// the embedded FHIR store (docs/cli.md, "The embedded FHIR store").
#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/json/document.h"
#include "destination.h"
#include "io.h"
#include "store/embedded/embedded_store.h"

namespace iomt::cli {
namespace {

struct StoreFlags {
  std::string store = "./iomt-data";
  std::string import_file;
  std::string export_type;
  std::string search_type;
  std::string search_query;
  std::string backup_dir;   // backup DEST_DIR
  std::string restore_dir;  // restore SRC_DIR
  HistoryFlags history;     // what import and compact apply
};

// Resources written to stdout in large blocks.
class Output {
 public:
  ~Output() { Flush(); }
  Output() = default;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  void Line(std::string_view s) {
    buffer_.append(s).push_back('\n');
    if (buffer_.size() > (1u << 20)) Flush();
  }
  void Flush() {
    std::fwrite(buffer_.data(), 1, buffer_.size(), stdout);
    buffer_.clear();
  }

 private:
  std::string buffer_;
};

std::unique_ptr<store::EmbeddedStore> OpenStore(const std::string& dir, const HistoryFlags& history = {}) {
  auto store = store::EmbeddedStore::Open(dir, StoreOptions(history));
  if (!store.ok()) {
    std::fprintf(stderr, "error: --store %s: %s\n", dir.c_str(), store.status().message().c_str());
    return nullptr;
  }
  return std::move(*store);
}

int Import(const StoreFlags& flags) {
  std::ifstream in;
  std::istream* input = &std::cin;
  if (flags.import_file != "-") {
    in.open(flags.import_file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s\n", flags.import_file.c_str());
      return kExitUsage;
    }
    input = &in;
  }
  auto store = OpenStore(flags.store, flags.history);
  if (store == nullptr) return kExitUsage;
  const std::string name = DisplayName(flags.import_file);

  // Lines are PUT in batches: one transaction (and one sync) per batch.
  constexpr std::size_t kBatch = 5000;
  std::vector<store::PutRequest> batch;
  std::vector<long> lines;
  long imported = 0, failed = 0;
  auto put_batch = [&]() -> bool {
    if (batch.empty()) return true;
    auto results = store->PutMany(std::move(batch));
    batch.clear();
    if (!results.ok()) {
      std::fprintf(stderr, "error: %s\n", results.status().message().c_str());
      return false;
    }
    for (std::size_t i = 0; i < results->size(); ++i) {
      if ((*results)[i].ok()) {
        ++imported;
      } else {
        ++failed;
        std::fprintf(stderr, "%s:%ld: %s\n", name.c_str(), lines[i], (*results)[i].status().message().c_str());
      }
    }
    lines.clear();
    return true;
  };

  json::Document doc;
  std::string line;
  long number = 0;
  while (std::getline(*input, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json::Value root, type, id;
    if (!doc.Parse(line).ok() || !doc.root().is_object()) {
      std::fprintf(stderr, "%s:%ld: not a JSON object\n", name.c_str(), number);
      ++failed;
      continue;
    }
    root = doc.root();
    if (!root.Find("resourceType", &type) || !type.is_string() || !root.Find("id", &id) || !id.is_string()) {
      std::fprintf(stderr, "%s:%ld: not a FHIR resource with a resourceType and an id\n", name.c_str(), number);
      ++failed;
      continue;
    }
    batch.push_back({std::string(type.string_value()), std::string(id.string_value()), line, std::nullopt});
    lines.push_back(number);
    if (batch.size() >= kBatch && !put_batch()) return kExitExternal;
  }
  if (!put_batch()) return kExitExternal;
  std::fprintf(stderr, "imported %ld resource%s into %s", imported, imported == 1 ? "" : "s", flags.store.c_str());
  if (failed > 0) std::fprintf(stderr, ", %ld line%s failed", failed, failed == 1 ? "" : "s");
  std::fprintf(stderr, "\n");
  return failed > 0 ? kExitInvalid : kExitOk;
}

int Export(const StoreFlags& flags) {
  auto store = OpenStore(flags.store);
  if (store == nullptr) return kExitUsage;
  Output out;
  Status st = store->Export(flags.export_type, [&](std::string_view, const store::Resource& r) { out.Line(r.json); });
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return kExitExternal;
  }
  return kExitOk;
}

// Reads every page of the store: SQLite's integrity_check, then the store's
// own rules. Prints "ok" or what is wrong; 1 for anything wrong (a file that
// does not open is the first thing wrong), 2 when DIR holds no store.
int Check(const StoreFlags& flags) {
  const std::string file = flags.store + "/store.db";
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    // Opening would create an empty store: a check must not.
    std::fprintf(stderr, "error: --store %s: there is no store here (no %s)\n", flags.store.c_str(), file.c_str());
    return kExitUsage;
  }
  auto store = store::EmbeddedStore::Open(flags.store);
  std::size_t found = 0;
  if (!store.ok()) {
    // Which pages opening reads depends on where the damage is; whether it
    // is found while opening or while checking, the answer has one shape.
    // The message names the file and says what to do.
    std::printf("%s\n", store.status().message().c_str());
    found = 1;
  } else {
    std::vector<std::string> findings = (*store)->Check();
    if (findings.empty()) {
      std::printf("%s: ok\n", file.c_str());
      return kExitOk;
    }
    for (const std::string& f : findings)
      std::printf("%s: %s\n", file.c_str(), f.c_str());
    found = findings.size();
  }
  std::fprintf(stderr,
               "error: %s is damaged or inconsistent (%zu finding%s above). Stop iomt before anything else; then "
               "restore the file from a backup, or move it aside (with its -wal and -shm files) to start with an "
               "empty store.\n",
               file.c_str(), found, found == 1 ? "" : "s");
  return kExitInvalid;
}

// Whether `dir` holds a store; says so when it does not (opening would
// create an empty one, which compact, backup and restore must not).
bool HasStore(const std::string& dir, const char* flag) {
  const std::string file = dir + "/store.db";
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) return true;
  std::fprintf(stderr, "error: %s %s: there is no store here (no %s)\n", flag, dir.c_str(), file.c_str());
  return false;
}

double Megabytes(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// The history policy over the whole store, then VACUUM. One JSON line on
// stdout (for scripts), a sentence on stderr.
int Compact(const StoreFlags& flags) {
  if (!HasStore(flags.store, "--store")) return kExitUsage;
  auto store = OpenStore(flags.store, flags.history);
  if (store == nullptr) return kExitUsage;
  auto report = store->Compact();
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", report.status().message().c_str());
    return kExitExternal;
  }
  std::printf("{\"removedVersions\":%" PRId64 ",\"bytesBefore\":%" PRId64 ",\"bytesAfter\":%" PRId64
              ",\"pruneSeconds\":%.3f,\"vacuumSeconds\":%.3f}\n",
              report->removed_versions, report->bytes_before, report->bytes_after, report->prune_seconds,
              report->vacuum_seconds);
  std::fprintf(stderr, "compacted %s: removed %" PRId64 " old version%s; %.1f MB -> %.1f MB (%.1f s + %.1f s)\n",
               flags.store.c_str(), report->removed_versions, report->removed_versions == 1 ? "" : "s",
               Megabytes(report->bytes_before), Megabytes(report->bytes_after), report->prune_seconds,
               report->vacuum_seconds);
  return kExitOk;
}

// Copies the store `from` (open) into the new or empty directory `to`, then
// opens the copy (the cheap checks of every open). Prints one JSON line on
// stdout and a sentence on stderr.
int CopyStore(store::EmbeddedStore& from, const std::string& from_dir, const std::string& to, const char* verb) {
  auto report = from.BackupTo(to);
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", report.status().message().c_str());
    return report.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitExternal;
  }
  auto copy = store::EmbeddedStore::Open(to);
  if (!copy.ok()) {
    std::fprintf(stderr, "error: the copy in %s does not open: %s\n", to.c_str(), copy.status().message().c_str());
    return kExitExternal;
  }
  std::printf("{\"bytes\":%" PRId64 ",\"pages\":%" PRId64 ",\"steps\":%d,\"seconds\":%.3f}\n", report->bytes,
              report->pages, report->steps, report->seconds);
  std::fprintf(stderr, "%s %s into %s: %.1f MB in %.1f s\n", verb, from_dir.c_str(), to.c_str(),
               Megabytes(report->bytes), report->seconds);
  return kExitOk;
}

int Backup(const StoreFlags& flags) {
  if (!HasStore(flags.store, "--store")) return kExitUsage;
  auto store = OpenStore(flags.store);
  if (store == nullptr) return kExitUsage;
  return CopyStore(*store, flags.store, flags.backup_dir, "backed up");
}

// A backup is a store directory: restoring copies it (with the backup API,
// so the source is read as a store, not as bytes) into a new or empty
// --store directory, which no process can be using.
int Restore(const StoreFlags& flags) {
  if (!HasStore(flags.restore_dir, "restore")) return kExitUsage;
  auto backup = store::EmbeddedStore::Open(flags.restore_dir);
  if (!backup.ok()) {
    std::fprintf(stderr, "error: the backup %s does not open: %s\n", flags.restore_dir.c_str(),
                 backup.status().message().c_str());
    return kExitInvalid;
  }
  return CopyStore(**backup, flags.restore_dir, flags.store, "restored");
}

int Search(const StoreFlags& flags) {
  auto store = OpenStore(flags.store);
  if (store == nullptr) return kExitUsage;
  Output out;
  std::size_t offset = 0;
  while (true) {
    std::string query = flags.search_query;
    if (!query.empty()) query.push_back('&');
    query.append("_offset=").append(std::to_string(offset));
    auto page = store->Search(flags.search_type, query);
    if (!page.ok()) {
      std::fprintf(stderr, "error: %s\n", page.status().message().c_str());
      return page.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitExternal;
    }
    for (const store::Resource& r : page->resources)
      out.Line(r.json);
    if (!page->next_offset) break;
    offset = *page->next_offset;
  }
  return kExitOk;
}

}  // namespace

Runner RegisterStore(CLI::App& app) {
  auto flags = std::make_shared<StoreFlags>();
  app.add_option("--store", flags->store, "Embedded FHIR store directory (default ./iomt-data)");
  // The policy that import and compact apply; give the values iomt serve
  // has (storeHistory), or compact removes what serve would keep.
  AddHistoryFlags(app, &flags->history);
  app.require_subcommand(1);
  CLI::App* import = app.add_subcommand("import", "PUT every resource of an NDJSON file (by its id)");
  import->add_option("FILE", flags->import_file, "NDJSON, one FHIR resource a line ('-': stdin)")->required();
  CLI::App* export_cmd =
      app.add_subcommand("export", "Print every current resource (of TYPE), one a line, ordered by type then id");
  export_cmd->add_option("TYPE", flags->export_type, "Only resources of this type");
  CLI::App* search = app.add_subcommand("search", "Search resources of TYPE, e.g. 'subject=Patient/p1&code=8867-4'");
  search->add_option("TYPE", flags->search_type, "Resource type")->required();
  search->add_option("QUERY", flags->search_query,
                     "FHIR search: _id, identifier, patient, subject, device, code, date (eq/ne/gt/lt/ge/le), "
                     "_lastUpdated, _count, _sort; ',' is OR, '&' is AND");
  CLI::App* check = app.add_subcommand("check",
                                       "Verify the store: read every page (SQLite's integrity_check) and check "
                                       "every resource's index rows, meta and versions; print 'ok' or what is wrong");
  CLI::App* compact = app.add_subcommand(
      "compact",
      "Apply the history policy (--history-max-versions, --history-max-age-hours) to the whole store now, then "
      "give the free space back (VACUUM); print what it removed and the sizes before and after");
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy the store into DEST_DIR (new or empty) while it may be written (SQLite's online backup)");
  backup->add_option("DEST_DIR", flags->backup_dir, "The backup's directory: a store directory")->required();
  CLI::App* restore =
      app.add_subcommand("restore", "Copy the backup in SRC_DIR into --store DIR, which must be new or empty");
  restore->add_option("SRC_DIR", flags->restore_dir, "A backup's directory")->required();
  app.footer(
      "Exit codes: 0 ok; 1 some lines of an import failed, check found the store damaged or inconsistent, or a "
      "backup to restore does not open; 2 usage (bad flags, unreadable file or store, bad query, no store to check, "
      "compact or back up, a backup directory that is not empty); 3 the store failed.");
  return [flags, import, export_cmd, search, check, compact, backup, restore]() {
    if (import->parsed()) return Import(*flags);
    if (export_cmd->parsed()) return Export(*flags);
    if (search->parsed()) return Search(*flags);
    if (check->parsed()) return Check(*flags);
    if (compact->parsed()) return Compact(*flags);
    if (backup->parsed()) return Backup(*flags);
    if (restore->parsed()) return Restore(*flags);
    return static_cast<int>(kExitUsage);
  };
}

}  // namespace iomt::cli
