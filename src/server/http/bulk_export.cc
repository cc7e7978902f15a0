#include "server/http/bulk_export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "common/json/document.h"
#include "common/json/writer.h"
#include "common/mutex.h"
#include "common/url.h"
#include "server/http/fhir_api.h"
#include "store/embedded/resource_text.h"

namespace iomt::server {
namespace {

constexpr std::size_t kMaxRunning = 2;   // jobs reading the store at once
constexpr std::chrono::hours kKeep{24};  // how long a finished job's files stay
// The Patient compartment, as far as the types iomt writes go.
const std::vector<std::string> kPatientTypes = {"Patient", "Observation", "Device", "Encounter"};

bool IsTypeName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s.front() >= 'A' && s.front() <= 'Z' &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

std::string NewJobId() {
  std::random_device rd;
  std::string id;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof buf, "%08x", rd());
    id.append(buf);
  }
  return id;
}

// Whether a resource of the compartment's other types refers to a Patient
// (its subject or its patient).
bool RefersToPatient(std::string_view json) {
  thread_local json::Document doc;
  if (!doc.Parse(json).ok()) return false;
  for (std::string_view element : {"subject", "patient"}) {
    json::Value ref, text;
    if (!doc.root().Find(element, &ref) || !ref.Find("reference", &text) || !text.is_string()) continue;
    std::string_view type, id;
    if (store::embedded::SplitReference(text.string_value(), &type, &id) && type == "Patient") return true;
  }
  return false;
}

}  // namespace

struct ExportJob {
  std::string id;
  std::string dir;
  std::string request_url;
  bool requires_token = false;
  std::vector<std::string> types;
  std::optional<std::int64_t> since;
  bool patient_level = false;
  std::atomic<bool> cancel{false};
  std::atomic<std::int64_t> written{0};
  std::thread thread;

  Mutex mu;
  bool done IOMT_GUARDED_BY(mu) = false;
  std::chrono::steady_clock::time_point done_at IOMT_GUARDED_BY(mu);
  std::string error IOMT_GUARDED_BY(mu);  // set when it failed
  std::int64_t at_ms IOMT_GUARDED_BY(mu) = 0;
  std::vector<std::pair<std::string, std::int64_t>> outputs IOMT_GUARDED_BY(mu);  // type, count

  // The job's thread: the snapshot into one NDJSON file per type.
  void Run(store::EmbeddedStore* store) {
    std::map<std::string, std::pair<std::FILE*, std::int64_t>> files;
    std::int64_t at = 0;
    Status st = store->ExportSnapshot(
        types, since,
        [&](std::string_view type, std::string_view json) -> Status {
          if (cancel.load(std::memory_order_relaxed)) return Status(StatusCode::kUnavailable, "cancelled");
          if (patient_level && type != "Patient" && !RefersToPatient(json)) return Status::Ok();
          auto it = files.find(std::string(type));
          if (it == files.end()) {
            const std::string path = dir + "/" + std::string(type) + ".ndjson";
            const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            std::FILE* f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
            if (f == nullptr) {
              if (fd >= 0) ::close(fd);
              return IoError("cannot write " + path);
            }
            it = files.emplace(std::string(type), std::make_pair(f, std::int64_t{0})).first;
          }
          if (std::fwrite(json.data(), 1, json.size(), it->second.first) != json.size() ||
              std::fputc('\n', it->second.first) == EOF) {
            return IoError("cannot write the export of " + std::string(type));
          }
          ++it->second.second;
          written.fetch_add(1, std::memory_order_relaxed);
          return Status::Ok();
        },
        &at);
    for (auto& [type, file] : files) {
      if (std::fclose(file.first) != 0 && st.ok()) st = IoError("cannot write the export of " + type);
    }
    MutexLock lock(mu);
    done = true;
    done_at = std::chrono::steady_clock::now();
    at_ms = at;
    if (!st.ok()) {
      error = st.message();
      return;
    }
    for (const auto& [type, file] : files)
      outputs.emplace_back(type, file.second);
  }
};

class BulkExports::Impl {
 public:
  Impl(store::EmbeddedStore* store, std::string dir) : store_(store), dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // a previous run's jobs are forgotten
    std::filesystem::create_directories(dir_, ec);
    ::chmod(dir_.c_str(), 0700);
  }
  ~Impl() {
    MutexLock lock(mu_);
    for (auto& [id, job] : jobs_)
      job->cancel = true;
    for (auto& [id, job] : jobs_)
      if (job->thread.joinable()) job->thread.join();
  }

  std::optional<HttpResponse> Handle(const HttpRequest& request, const std::vector<std::string>& parts,
                                     std::string_view query, std::string_view base_url) {
    const bool system = parts.size() == 1 && parts[0] == "$export";
    const bool patients = parts.size() == 2 && parts[0] == "Patient" && parts[1] == "$export";
    if (system || patients) return KickOff(request, query, base_url, patients);
    if (parts.size() == 2 && parts[0] == "$export-status") return StatusOf(request, parts[1], base_url);
    if (parts.size() == 3 && parts[0] == "$export-file") return File(request, parts[1], parts[2]);
    return std::nullopt;
  }

 private:
  HttpResponse KickOff(const HttpRequest& request, std::string_view query, std::string_view base_url, bool patients) {
    if (request.method != "GET") return FhirOutcome(405, "not-supported", "$export is a GET (kick-off).");
    auto prefer = request.Header("prefer");
    if (!prefer || prefer->find("respond-async") == std::string_view::npos) {
      return FhirOutcome(400, "invalid", "$export runs asynchronously: send Prefer: respond-async.");
    }
    auto job = std::make_shared<ExportJob>();
    job->patient_level = patients;
    for (const url::QueryPiece& piece : url::SplitQuery(query)) {
      const std::string name = url::PercentDecode(piece.name);
      const std::string value = url::PercentDecode(piece.value);
      if (name == "_outputFormat") {
        if (value != "application/fhir+ndjson" && value != "application/ndjson" && value != "ndjson") {
          return FhirOutcome(400, "not-supported", "_outputFormat: only NDJSON (application/fhir+ndjson).");
        }
      } else if (name == "_type") {
        std::size_t at = 0;
        while (at <= value.size()) {
          const std::size_t comma = value.find(',', at);
          std::string type = value.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
          if (!IsTypeName(type)) return FhirOutcome(400, "invalid", "_type: not a resource type: '" + type + "'.");
          job->types.push_back(std::move(type));
          if (comma == std::string::npos) break;
          at = comma + 1;
        }
      } else if (name == "_since") {
        std::int64_t lo = 0, hi = 0;
        if (!store::embedded::ParseDateRange(value, &lo, &hi)) {
          return FhirOutcome(400, "invalid", "_since: not an instant: '" + value + "'.");
        }
        job->since = lo;
      } else {
        return FhirOutcome(400, "not-supported",
                           "$export parameter '" + name + "' is not supported (_type, _since, _outputFormat).");
      }
    }
    if (patients && job->types.empty()) job->types = kPatientTypes;
    job->id = NewJobId();
    job->dir = dir_ + "/" + job->id;
    job->request_url = std::string(base_url) + (patients ? "/Patient/$export" : "/$export");
    if (!query.empty()) job->request_url.append("?").append(query);
    job->requires_token = request.Header("authorization").has_value() || request.Header("x-api-key").has_value();
    {
      MutexLock lock(mu_);
      Reap();
      std::size_t running = 0;
      for (auto& [id, other] : jobs_) {
        MutexLock job_lock(other->mu);
        running += other->done ? 0 : 1;
      }
      if (running >= kMaxRunning) {
        HttpResponse busy = FhirOutcome(429, "throttled", "Two exports are running: try again when one is done.");
        busy.headers.emplace_back("Retry-After", "10");
        return busy;
      }
      if (::mkdir(job->dir.c_str(), 0700) != 0)
        return FhirOutcome(500, "exception", "cannot create the export's directory");
      jobs_[job->id] = job;
      job->thread = std::thread([job, store = store_] { job->Run(store); });
    }
    HttpResponse r;
    r.status = 202;
    r.content_type.clear();
    r.headers.emplace_back("Content-Location", std::string(base_url) + "/$export-status/" + job->id);
    return r;
  }

  // Jobs finished more than kKeep ago go, with their files: a client had
  // that long to fetch them (the manifest's Expires says until when).
  void Reap() IOMT_REQUIRES(mu_) {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      std::shared_ptr<ExportJob> job = it->second;
      bool expired = false;
      {
        MutexLock job_lock(job->mu);
        expired = job->done && now - job->done_at > kKeep;
      }
      if (!expired) {
        ++it;
        continue;
      }
      if (job->thread.joinable()) job->thread.join();
      std::error_code ec;
      std::filesystem::remove_all(job->dir, ec);
      it = jobs_.erase(it);
    }
  }

  std::shared_ptr<ExportJob> Find(const std::string& id) {
    MutexLock lock(mu_);
    auto it = jobs_.find(id);
    return it == jobs_.end() ? nullptr : it->second;
  }

  HttpResponse StatusOf(const HttpRequest& request, const std::string& id, std::string_view base_url) {
    std::shared_ptr<ExportJob> job = Find(id);
    if (!job) return FhirOutcome(404, "not-found", "No export job '" + id + "' (a restart forgets them).");
    if (request.method == "DELETE") {
      {
        // Taken out first: of two DELETEs, one joins the job's thread.
        MutexLock lock(mu_);
        if (jobs_.erase(id) == 0) return FhirOutcome(404, "not-found", "No export job '" + id + "'.");
      }
      job->cancel = true;
      if (job->thread.joinable()) job->thread.join();
      std::error_code ec;
      std::filesystem::remove_all(job->dir, ec);
      HttpResponse r;
      r.status = 202;
      r.content_type.clear();
      return r;
    }
    if (request.method != "GET") return FhirOutcome(405, "not-supported", "GET or DELETE an export's status.");
    MutexLock lock(job->mu);
    if (!job->done) {
      HttpResponse r;
      r.status = 202;
      r.content_type.clear();
      r.headers.emplace_back("X-Progress", std::to_string(job->written.load()) + " resources written");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    if (!job->error.empty()) return FhirOutcome(500, "exception", "The export failed: " + job->error);
    std::string body = R"({"transactionTime":)";
    json::AppendQuoted(&body, store::embedded::FormatInstant(job->at_ms));
    body.append(R"(,"request":)");
    json::AppendQuoted(&body, job->request_url);
    body.append(R"(,"requiresAccessToken":)").append(job->requires_token ? "true" : "false");
    body.append(R"(,"output":[)");
    for (std::size_t i = 0; i < job->outputs.size(); ++i) {
      body.append(i == 0 ? R"({"type":)" : R"(,{"type":)");
      json::AppendQuoted(&body, job->outputs[i].first);
      body.append(R"(,"url":)");
      json::AppendQuoted(&body,
                         std::string(base_url) + "/$export-file/" + job->id + "/" + job->outputs[i].first + ".ndjson");
      body.append(R"(,"count":)").append(std::to_string(job->outputs[i].second)).push_back('}');
    }
    body.append(R"(],"error":[]})");
    HttpResponse r;
    r.status = 200;
    r.content_type = "application/json";
    r.body = std::move(body);
    const auto left =
        std::chrono::duration_cast<std::chrono::seconds>(kKeep - (std::chrono::steady_clock::now() - job->done_at));
    r.headers.emplace_back("Expires", HttpDate(std::time(nullptr) + left.count()));
    return r;
  }

  HttpResponse File(const HttpRequest& request, const std::string& id, const std::string& file) {
    if (request.method != "GET") return FhirOutcome(405, "not-supported", "An export's file is read with GET.");
    std::shared_ptr<ExportJob> job = Find(id);
    const std::string type = file.ends_with(".ndjson") ? file.substr(0, file.size() - 7) : "";
    if (!job || !IsTypeName(type)) return FhirOutcome(404, "not-found", "No such export file.");
    {
      MutexLock lock(job->mu);
      if (!job->done || !job->error.empty()) return FhirOutcome(404, "not-found", "The export is not complete.");
    }
    HttpResponse r;
    r.status = 200;
    r.content_type = "application/fhir+ndjson";
    r.file = job->dir + "/" + type + ".ndjson";
    return r;
  }

  store::EmbeddedStore* store_;
  std::string dir_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<ExportJob>> jobs_ IOMT_GUARDED_BY(mu_);
};

BulkExports::BulkExports(store::EmbeddedStore* store, std::string dir)
    : impl_(std::make_unique<Impl>(store, std::move(dir))) {}
BulkExports::~BulkExports() = default;

std::optional<HttpResponse> BulkExports::Handle(const HttpRequest& request, const std::vector<std::string>& parts,
                                                std::string_view query, std::string_view base_url) {
  return impl_->Handle(request, parts, query, base_url);
}

}  // namespace iomt::server
