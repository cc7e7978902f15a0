// FHIR search speed on a store that iomt wrote: "this patient's readings
// of this code in this time window" (patient + code + date), the query a
// chart or an app polling for new data makes. Issue 19's target on this
// 2-core machine: p99 under 10 ms over 1 M Observations.
//
// Baselines in the same run: a read by id (one key lookup: the floor), and
// the same search with _total=none (no count), with _sort=-date&_count=1
// ("the latest reading") and with value-quantity=gt100 (evaluated on the
// candidates' JSON). Each query is SearchBundle, as /fhir answers it (the
// Bundle rendered), without the HTTP server. Patients, codes and the time
// range are sampled from the store itself. A walk through every
// Observation, 1,000 pages of 100 by keyset and by offset. Then the bulk export's read of
// every Observation (target: at least 50 MB/s), into a file and counted only.
//
//   search_bench --store DIR [--queries N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/json/document.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/resource_text.h"

namespace {

using namespace iomt;  // NOLINT(google-build-using-namespace): a benchmark file
using Clock = std::chrono::steady_clock;

struct Stats {
  std::string name;
  std::vector<double> ms;
  std::size_t matches = 0;
};

void Print(const Stats& s, double floor_p50) {
  std::vector<double> v = s.ms;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]; };
  std::printf("%-44s %7zu %9.3f %9.3f %9.3f %9.1f %7.1fx\n", s.name.c_str(), v.size(), at(0.5), at(0.99),
              v.empty() ? 0 : v.back(), v.empty() ? 0 : static_cast<double>(s.matches) / v.size(),
              floor_p50 > 0 ? at(0.5) / floor_p50 : 0);
}

std::string Member(const json::Value& v, std::string_view key) {
  json::Value m;
  return v.Find(key, &m) && m.is_string() ? std::string(m.string_value()) : "";
}

// What a bulk export job does with the store: its snapshot of every
// Observation, a line each (into `f` when given).
Status ExportAll(store::EmbeddedStore& st, std::FILE* f, std::size_t* bytes, std::size_t* resources, std::int64_t* at) {
  return st.ExportSnapshot(
      {"Observation"}, std::nullopt,
      [&](std::string_view, std::string_view json) -> Status {
        *bytes += json.size() + 1;
        ++*resources;
        if (f != nullptr && (std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fputc('\n', f) == EOF))
          return IoError("cannot write");
        return Status::Ok();
      },
      at);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int queries = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--store") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--queries") == 0) queries = std::atoi(argv[i + 1]);
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: search_bench --store DIR [--queries N]\n");
    return 2;
  }
  auto opened = store::EmbeddedStore::Open(dir);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  store::EmbeddedStore& st = **opened;
  auto count = st.Search("Observation", "_summary=count");
  if (!count.ok()) return 1;

  // Samples: Observations spread over the store (by _id order, which is a
  // hash: any patient, any time), their subjects, codes and times.
  struct Sample {
    std::string id, patient, code;
    std::int64_t when = 0;
  };
  std::vector<Sample> samples;
  std::int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (std::size_t offset = 0; offset < 10'000; offset += 1000) {
    auto page = st.Search("Observation", "_sort=_id&_count=1000&_offset=" + std::to_string(offset));
    if (!page.ok()) return 1;
    for (const store::Resource& r : page->resources) {
      json::Document doc;
      if (!doc.Parse(r.json).ok()) continue;
      json::Value subject, code, codings, period;
      Sample s;
      s.id = r.id;
      if (doc.root().Find("subject", &subject)) s.patient = Member(subject, "reference");
      if (doc.root().Find("code", &code) && code.Find("coding", &codings) && codings.size() > 0) {
        s.code = Member(codings.ElementAt(0), "system") + "%7C" + Member(codings.ElementAt(0), "code");
      }
      std::string when = Member(doc.root(), "effectiveDateTime");
      if (when.empty() && doc.root().Find("effectivePeriod", &period)) when = Member(period, "start");
      std::int64_t a = 0, b = 0;
      if (s.patient.empty() || s.code.empty() || !store::embedded::ParseDateRange(when, &a, &b)) continue;
      s.when = a;
      lo = std::min(lo, a);
      hi = std::max(hi, a);
      samples.push_back(std::move(s));
    }
  }
  if (samples.empty()) {
    std::fprintf(stderr, "no Observations with subject, code and time in %s\n", dir.c_str());
    return 1;
  }
  std::printf("store %s: %lld Observations, %zu sampled, times %s .. %s\n", dir.c_str(),
              static_cast<long long>(count->total), samples.size(), store::embedded::FormatInstant(lo).c_str(),
              store::embedded::FormatInstant(hi).c_str());

  std::mt19937 rng(7);
  auto run = [&](const std::string& name, const std::function<std::string(const Sample&)>& query, bool read) {
    Stats s{name, {}, 0};
    for (int i = 0; i < queries; ++i) {
      const Sample& x = samples[rng() % samples.size()];
      const auto t0 = Clock::now();
      std::size_t matched = 0;
      if (read) {
        auto r = st.ReadCurrent("Observation", x.id);
        matched = r.ok() ? 1 : 0;
      } else {
        auto page = st.SearchBundle("Observation", query(x), "http://localhost/fhir");
        if (!page.ok()) {
          std::fprintf(stderr, "%s: %s\n", query(x).c_str(), page.status().ToString().c_str());
          std::exit(1);
        }
        std::size_t at = 0;
        while ((at = page->find(R"("mode":"match")", at)) != std::string::npos) {
          ++matched;
          ++at;
        }
      }
      s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      s.matches += matched;
    }
    return s;
  };
  auto window = [](const Sample& x, std::int64_t before_ms, std::int64_t after_ms) {
    return "&date=ge" + store::embedded::FormatInstant(x.when - before_ms) + "&date=lt" +
           store::embedded::FormatInstant(x.when + after_ms);
  };
  const std::int64_t hour = 3'600'000;
  std::vector<Stats> results;
  results.push_back(run("read by id (floor)", nullptr, true));
  results.push_back(run(
      "patient+code+date, 1 h",
      [&](const Sample& x) { return "patient=" + x.patient + "&code=" + x.code + window(x, hour / 2, hour / 2); },
      false));
  results.push_back(run(
      "patient+code+date, 24 h",
      [&](const Sample& x) { return "patient=" + x.patient + "&code=" + x.code + window(x, 12 * hour, 12 * hour); },
      false));
  results.push_back(run(
      "patient+code+date, 24 h, _total=none",
      [&](const Sample& x) {
        return "patient=" + x.patient + "&code=" + x.code + window(x, 12 * hour, 12 * hour) + "&_total=none";
      },
      false));
  results.push_back(run(
      "patient+code, _sort=-date&_count=1",
      [&](const Sample& x) { return "patient=" + x.patient + "&code=" + x.code + "&_sort=-date&_count=1"; }, false));
  results.push_back(run(
      "patient+code+date 24 h + value-quantity",
      [&](const Sample& x) {
        return "patient=" + x.patient + "&code=" + x.code + window(x, 12 * hour, 12 * hour) + "&value-quantity=gt100";
      },
      false));
  // Walking a type page by page (a client syncing everything, 100 a page,
  // 1,000 pages: down to the deepest offset allowed), following the next
  // links: by keyset (each page starts after the last, at any depth) and,
  // as a baseline, by offset (each page skips all before it).
  for (const bool keyset : {true, false}) {
    Stats s{keyset ? "walk 1,000 pages of 100 by cursor" : "walk 1,000 pages of 100 by offset", {}, 0};
    std::string cursor;
    for (std::size_t p = 0; p < 1000; ++p) {
      std::string query = "_count=100&_total=none&_offset=" + std::to_string(p * 100);
      if (keyset && !cursor.empty()) query.append("&_cursor=").append(cursor);
      const auto t0 = Clock::now();
      auto page = st.Search("Observation", query);
      if (!page.ok()) {
        std::fprintf(stderr, "%s: %s\n", query.c_str(), page.status().ToString().c_str());
        return 1;
      }
      s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      s.matches += page->resources.size();
      cursor = page->next_cursor;
    }
    results.push_back(std::move(s));
  }
  std::vector<double> floor = results.front().ms;
  std::sort(floor.begin(), floor.end());
  const double floor_p50 = floor[floor.size() / 2];
  std::printf("%-44s %7s %9s %9s %9s %9s %8s\n", "query", "n", "p50 ms", "p99 ms", "max ms", "matches", "p50/floor");
  for (const Stats& s : results)
    Print(s, floor_p50);

  // Bulk export of every Observation ($export's snapshot read) into a file
  // beside the store, against the same read counted only (no file).
  for (const bool to_file : {false, true}) {
    const std::string path = dir + "/export-bench.ndjson";
    std::FILE* f = to_file ? std::fopen(path.c_str(), "w") : nullptr;
    std::size_t bytes = 0, resources = 0;
    std::int64_t at = 0;
    const auto t0 = Clock::now();
    Status exported = ExportAll(st, f, &bytes, &resources, &at);
    if (f != nullptr) std::fclose(f);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!exported.ok()) {
      std::fprintf(stderr, "export: %s\n", exported.ToString().c_str());
      return 1;
    }
    std::printf("export %-37s %zu Observations, %.1f MB in %.2f s: %.1f MB/s\n", to_file ? "into a file" : "read only",
                resources, bytes / 1e6, seconds, bytes / 1e6 / seconds);
    std::remove(path.c_str());
  }
  return 0;
}
