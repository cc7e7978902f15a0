#include "pipeline/test_cases.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "common/datetime.h"
#include "common/json/source.h"
#include "common/json/writer.h"
#include "common/measurement.h"
#include "common/strings.h"
#include "identity/resolver.h"
#include "ingest/envelope.h"
#include "ingest/line_reader.h"
#include "pipeline/dead_letters.h"
#include "pipeline/mappings.h"
#include "pipeline/normalize_stream.h"
#include "pipeline/pipeline.h"
#include "store/memory/memory_client.h"

namespace iomt::pipeline {

namespace fs = std::filesystem;

namespace {

// A case's clock when case.json does not set one: "now" (Observation.issued,
// the time of error records) and the ingestion time of events that carry
// none. Fixed, so that a case gives the same output on every run.
constexpr std::string_view kDefaultClock = "2020-01-01T00:00:00Z";

constexpr std::string_view kCaseJson = "case.json";
constexpr std::string_view kInput = "input.ndjson";
constexpr std::string_view kDeviceMapping = "devicecontent.json";
constexpr std::string_view kFhirMapping = "fhirmapping.json";

// Diff texts are cut here: a line of a report stays readable.
constexpr std::size_t kMaxShownJson = 240;
// At most this many differing fields are listed per expected line.
constexpr std::size_t kMaxShownFields = 12;
// The nearest line is looked for among at most this many lines left over,
// so that a case whose output is all wrong still fails fast.
constexpr std::size_t kMaxNearestCandidates = 256;
// Folders nested deeper than this are not searched for cases (a symlink loop
// ends here).
constexpr int kMaxDepth = 32;

std::size_t Index(CaseOutput which) { return static_cast<std::size_t>(which); }

std::string_view ItemName(CaseOutput which) {
  switch (which) {
    case CaseOutput::kMeasurements: return "measurement";
    case CaseOutput::kResources: return "resource";
    case CaseOutput::kErrors: return "error record";
  }
  return "line";
}

// Members that change from run to run, left out of both sides unless the
// case keeps them ("keep" in case.json, by these names).
struct Keep {
  bool ingestion_time = false;  // IngestionTimeUtc of measurements
  bool issued = false;          // Observation.issued
  bool version_id = false;      // meta.versionId of resources
  bool last_updated = false;    // meta.lastUpdated of resources
  bool time = false;            // time of error records
};

struct CaseOptions {
  std::string description;
  identity::Mode mode = identity::Mode::kCreate;
  ingest::EnvelopeMode envelope = ingest::EnvelopeMode::kAuto;
  std::int64_t now_ticks = 0;
  std::optional<std::int64_t> ingestion_ticks;
  std::string device_system;
  std::string device_mapping;  // relative to the case folder; empty: the default
  std::string fhir_mapping;
  std::string preload_file;                 // relative to the case folder
  std::vector<std::string> preload_inline;  // resources as JSON text
  bool has_preload = false;
  Keep keep;
  bool ordered = false;
  std::size_t batch_events = 10'000;
};

std::string Join(const std::string& dir, std::string_view name) {
  return (fs::path(dir) / fs::path(name)).lexically_normal().string();
}

bool IsFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return NotFound("cannot read " + path + ": it is a folder");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError("cannot read " + path);
  return ss.str();
}

Status WriteFile(const std::string& path, std::string_view text) {
  // Beside the file, then renamed over it: an interrupted update leaves the
  // old file or the new one, never half of one.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot write " + tmp);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) return IoError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return IoError("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

std::string_view StripBom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

bool Blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// Each non-blank line with its number.
template <typename F>
void ForEachLine(std::string_view text, F&& f) {
  std::int64_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!Blank(line)) f(line, number);
  }
}

std::string Shorten(std::string s) {
  if (s.size() <= kMaxShownJson) return s;
  // Not inside a UTF-8 sequence.
  std::size_t cut = kMaxShownJson;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  s.resize(cut);
  s += "...";
  return s;
}

std::string Compact(const json::Node& n) { return Shorten(n.ToJson()); }

// ---- case.json ---------------------------------------------------------------

Status CaseError(std::string_view member, std::string_view what) {
  return InvalidArgument(std::string(kCaseJson) + ": \"" + std::string(member) + "\" " + std::string(what));
}

Result<std::string> StringOption(const json::SourceMember& m) {
  if (m.value.kind != json::Kind::kString) return CaseError(m.key, "must be a string");
  return m.value.text;
}

Result<std::int64_t> TimeOption(const json::SourceMember& m) {
  IOMT_ASSIGN_OR_RETURN(std::string text, StringOption(m));
  std::int64_t ticks = 0;
  if (!datetime::ParseDateTime(text, &ticks)) {
    return CaseError(m.key, "must be a date-time such as 2023-10-09T19:00:00Z (got \"" + text + "\")");
  }
  return ticks;
}

Status KeepOption(const json::SourceMember& m, Keep* keep) {
  if (m.value.kind != json::Kind::kArray) return CaseError(m.key, "must be an array of member names");
  for (const json::SourceNode& item : m.value.items) {
    const std::string name = item.kind == json::Kind::kString ? item.text : std::string();
    if (name == "IngestionTimeUtc") {
      keep->ingestion_time = true;
    } else if (name == "issued") {
      keep->issued = true;
    } else if (name == "meta.versionId") {
      keep->version_id = true;
    } else if (name == "meta.lastUpdated") {
      keep->last_updated = true;
    } else if (name == "time") {
      keep->time = true;
    } else {
      return CaseError(m.key,
                       "names what to compare although it changes from run to run: \"IngestionTimeUtc\", "
                       "\"issued\", \"meta.versionId\", \"meta.lastUpdated\" or \"time\" (got " +
                           (item.kind == json::Kind::kString ? "\"" + name + "\"" : std::string("a non-string")) + ")");
    }
  }
  return Status::Ok();
}

Status ReadCaseOptions(const std::string& dir, CaseOptions* o) {
  datetime::ParseDateTime(kDefaultClock, &o->now_ticks);
  const std::string path = Join(dir, kCaseJson);
  if (!IsFile(path)) return Status::Ok();
  IOMT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto doc = json::ParseSource(text);
  if (!doc.ok()) return InvalidArgument(std::string(kCaseJson) + ": not JSON: " + doc.status().message());
  const json::SourceNode& root = doc->root;
  if (root.kind != json::Kind::kObject) return InvalidArgument(std::string(kCaseJson) + ": must be a JSON object");
  for (const json::SourceMember& m : root.members) {
    const std::string& k = m.key;
    if (k == "description") {
      IOMT_ASSIGN_OR_RETURN(o->description, StringOption(m));
    } else if (k == "resolution") {
      IOMT_ASSIGN_OR_RETURN(std::string name, StringOption(m));
      auto mode = identity::ParseMode(name);
      if (!mode.ok()) return CaseError(k, "must be Create, Lookup or LookupWithEncounter (got \"" + name + "\")");
      o->mode = *mode;
    } else if (k == "envelope") {
      IOMT_ASSIGN_OR_RETURN(std::string name, StringOption(m));
      auto mode = ingest::ParseEnvelopeMode(name);
      if (!mode.ok()) return CaseError(k, "must be auto, event, wrap or none (got \"" + name + "\")");
      o->envelope = *mode;
    } else if (k == "now") {
      IOMT_ASSIGN_OR_RETURN(o->now_ticks, TimeOption(m));
    } else if (k == "ingestionTime") {
      IOMT_ASSIGN_OR_RETURN(o->ingestion_ticks, TimeOption(m));
    } else if (k == "deviceSystem") {
      IOMT_ASSIGN_OR_RETURN(o->device_system, StringOption(m));
    } else if (k == "deviceMapping") {
      IOMT_ASSIGN_OR_RETURN(o->device_mapping, StringOption(m));
    } else if (k == "fhirMapping") {
      IOMT_ASSIGN_OR_RETURN(o->fhir_mapping, StringOption(m));
    } else if (k == "preload") {
      o->has_preload = true;
      if (m.value.kind == json::Kind::kString) {
        o->preload_file = m.value.text;
      } else if (m.value.kind == json::Kind::kArray) {
        for (const json::SourceNode& item : m.value.items)
          o->preload_inline.emplace_back(json::RawText(text, item));
      } else {
        return CaseError(k, "must be an NDJSON file of resources, or an array of resources");
      }
    } else if (k == "keep") {
      IOMT_RETURN_IF_ERROR(KeepOption(m, &o->keep));
    } else if (k == "ordered") {
      if (m.value.kind != json::Kind::kBool) return CaseError(k, "must be true or false");
      o->ordered = m.value.boolean;
    } else if (k == "batchSize") {
      if (m.value.kind != json::Kind::kInt || m.value.integer < 1) return CaseError(k, "must be a positive integer");
      o->batch_events = static_cast<std::size_t>(m.value.integer);
    } else {
      // A misspelt option would otherwise be ignored, and the case would
      // test something else than its author meant.
      return CaseError(k,
                       "is not a case option (description, resolution, envelope, now, ingestionTime, "
                       "deviceSystem, deviceMapping, fhirMapping, preload, keep, ordered, batchSize)");
    }
  }
  return Status::Ok();
}

// ---- outputs -------------------------------------------------------------------

void StripVolatile(CaseOutput which, const Keep& keep, json::Node* n) {
  if (!n->is_object()) return;
  switch (which) {
    case CaseOutput::kMeasurements:
      if (!keep.ingestion_time) n->Erase("IngestionTimeUtc");
      return;
    case CaseOutput::kResources: {
      if (!keep.issued) n->Erase("issued");
      json::Node* meta = n->Find("meta");
      if (meta == nullptr || !meta->is_object()) return;
      if (!keep.version_id) meta->Erase("versionId");
      if (!keep.last_updated) meta->Erase("lastUpdated");
      if (meta->members().empty()) n->Erase("meta");
      return;
    }
    case CaseOutput::kErrors:
      if (!keep.time) n->Erase("time");
      return;
  }
}

Status ReadExpected(const std::string& dir, CaseOutput which, const Keep& keep, std::vector<ExpectedLine>* out) {
  const std::string path = Join(dir, ExpectedPath(which));
  IOMT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Status bad;
  ForEachLine(StripBom(text), [&](std::string_view line, std::int64_t number) {
    if (!bad.ok()) return;
    auto node = json::ParseNode(line);
    if (!node.ok()) {
      bad = InvalidArgument(std::string(ExpectedPath(which)) + ":" + std::to_string(number) +
                            ": not JSON: " + node.status().message());
      return;
    }
    StripVolatile(which, keep, &*node);
    out->push_back(ExpectedLine{std::move(node).value(), number});
  });
  return bad;
}

// The input line an output came from: an error record's "input.line".
std::int64_t RecordLine(const json::Node& record) {
  const json::Node* input = record.Find("input");
  const json::Node* line = input != nullptr ? input->Find("line") : nullptr;
  if (line == nullptr || !line->is_number()) return 0;
  return std::strtoll(line->text().c_str(), nullptr, 10);
}

// Dead letters kept in memory: they are the case's error records.
class CollectedDeadLetters : public DeadLetters {
 public:
  Status Write(std::string_view record_json) override {
    records.emplace_back(record_json);
    return Status::Ok();
  }
  std::vector<std::string> records;
};

Status AddErrorLine(std::string_view text, const Keep& keep, OutputResult* out) {
  IOMT_ASSIGN_OR_RETURN(json::Node record, json::ParseNode(text));
  // The event of a dead letter is the input line the record names.
  record.Erase("event");
  StripVolatile(CaseOutput::kErrors, keep, &record);
  OutputLine line;
  line.input_line = RecordLine(record);
  line.value = std::move(record);
  out->got.push_back(std::move(line));
  return Status::Ok();
}

void AddMeasurement(const Measurement& m, std::int64_t input_line, const Keep& keep, OutputResult* out) {
  std::string text;
  AppendMeasurementJson(&text, m);
  auto node = json::ParseNode(text);
  if (!node.ok()) return;  // the writer writes JSON
  StripVolatile(CaseOutput::kMeasurements, keep, &*node);
  out->got.push_back(OutputLine{std::move(node).value(), input_line, {}});
}

// Resources that the case puts into the store before its events run.
Status Preload(const std::string& dir, const CaseOptions& o, store::MemoryFhirClient* client) {
  std::vector<std::pair<std::string, std::string>> texts;  // where, text
  std::string file_text;
  if (!o.preload_file.empty()) {
    IOMT_ASSIGN_OR_RETURN(file_text, ReadFile(Join(dir, o.preload_file)));
    ForEachLine(StripBom(file_text), [&](std::string_view line, std::int64_t number) {
      texts.emplace_back(o.preload_file + ":" + std::to_string(number), std::string(line));
    });
  }
  for (std::size_t i = 0; i < o.preload_inline.size(); ++i)
    texts.emplace_back(std::string(kCaseJson) + " preload[" + std::to_string(i) + "]", o.preload_inline[i]);
  for (auto& [where, text] : texts) {
    auto node = json::ParseNode(text);
    if (!node.ok()) return InvalidArgument(where + ": not JSON: " + node.status().message());
    const json::Node* type = node->Find("resourceType");
    const json::Node* id = node->Find("id");
    if (!node->is_object() || type == nullptr || !type->is_string() || id == nullptr || !id->is_string() ||
        type->text().empty() || id->text().empty()) {
      return InvalidArgument(where + ": not a FHIR resource with a resourceType and an id");
    }
    auto put = client->Put(type->text(), id->text(), std::move(text), std::nullopt);
    if (!put.ok()) return InvalidArgument(where + ": " + put.status().message());
  }
  return Status::Ok();
}

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// ---- comparing -------------------------------------------------------------------

std::string MemberPath(const std::string& path, const std::string& name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (plain) return path.empty() ? name : path + "." + name;
  std::string quoted;
  json::AppendQuoted(&quoted, name);
  return path + "[" + quoted + "]";
}

// The members of expected objects that narrow the search: the value of a
// top-level scalar member of a line, as "name\0json".
std::string IndexKey(const std::string& name, const json::Node& value) {
  std::string key = name;
  key.push_back('\0');
  if (value.is_number()) {
    // Numbers match by value: 70 and 70.0 share a key.
    key += std::to_string(std::strtod(value.text().c_str(), nullptr));
  } else {
    value.AppendTo(&key);
  }
  return key;
}

bool Scalar(const json::Node& n) { return !n.is_array() && !n.is_object(); }

// Matching expected lines to lines of the run, each to one of its own.
class Matcher {
 public:
  Matcher(const std::vector<ExpectedLine>& expected, const std::vector<const OutputLine*>& got)
      : expected_(expected), got_(got), of_expected_(expected.size(), kNone), of_got_(got.size(), kNone) {}

  void Run() {
    // Most cases list their lines in the order the run gives them: try the
    // line at the same index first.
    for (std::size_t i = 0; i < expected_.size() && i < got_.size(); ++i) {
      if (Matches(i, i)) Pair(i, i);
    }
    BuildIndex();
    for (std::size_t i = 0; i < expected_.size(); ++i) {
      if (of_expected_[i] != kNone) continue;
      visited_.assign(got_.size(), false);
      Augment(i);
    }
  }

  [[nodiscard]] std::size_t of_expected(std::size_t i) const { return of_expected_[i]; }
  [[nodiscard]] std::size_t of_got(std::size_t j) const { return of_got_[j]; }
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

 private:
  bool Matches(std::size_t i, std::size_t j) {
    const std::uint64_t key = static_cast<std::uint64_t>(i) * got_.size() + j;
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const bool m = JsonMatches(expected_[i].value, got_[j]->value);
    memo_.emplace(key, m);
    return m;
  }

  void Pair(std::size_t i, std::size_t j) {
    of_expected_[i] = j;
    of_got_[j] = i;
  }

  // Lines of the run by the values of their top-level scalar members: an
  // expected line is compared only with the lines that share its most
  // selective one (a measurement's time, a resource's id).
  void BuildIndex() {
    for (std::size_t j = 0; j < got_.size(); ++j) {
      const json::Node& g = got_[j]->value;
      if (!g.is_object()) continue;
      for (const auto& [name, value] : g.members()) {
        if (Scalar(value)) index_[IndexKey(name, value)].push_back(j);
      }
    }
  }

  const std::vector<std::size_t>* Candidates(std::size_t i) {
    const json::Node& e = expected_[i].value;
    if (!e.is_object()) return nullptr;
    const std::vector<std::size_t>* best = nullptr;
    static const std::vector<std::size_t> kEmpty;
    for (const auto& [name, value] : e.members()) {
      if (!Scalar(value)) continue;
      auto it = index_.find(IndexKey(name, value));
      const std::vector<std::size_t>* list = it == index_.end() ? &kEmpty : &it->second;
      if (best == nullptr || list->size() < best->size()) best = list;
    }
    return best;
  }

  // Kuhn's augmenting path: an expected line that leaves out members can
  // match several lines, so a line taken first may have to move over.
  bool Augment(std::size_t i) {
    const std::vector<std::size_t>* candidates = Candidates(i);
    const std::size_t n = candidates != nullptr ? candidates->size() : got_.size();
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t j = candidates != nullptr ? (*candidates)[k] : k;
      if (visited_[j] || !Matches(i, j)) continue;
      visited_[j] = true;
      if (of_got_[j] == kNone || Augment(of_got_[j])) {
        Pair(i, j);
        return true;
      }
    }
    return false;
  }

  const std::vector<ExpectedLine>& expected_;
  const std::vector<const OutputLine*>& got_;
  std::vector<std::size_t> of_expected_;
  std::vector<std::size_t> of_got_;
  std::vector<bool> visited_;
  std::unordered_map<std::uint64_t, bool> memo_;
  std::unordered_map<std::string, std::vector<std::size_t>> index_;
};

Mismatch Different(const ExpectedLine& e, const OutputLine& g, std::size_t j) {
  Mismatch m;
  m.kind = Mismatch::Kind::kDifferent;
  m.expected_line = e.line;
  m.expected_json = Compact(e.value);
  m.got = j;
  JsonDiff(e.value, g.value, "", &m.fields);
  return m;
}

Mismatch Missing(const ExpectedLine& e) {
  Mismatch m;
  m.kind = Mismatch::Kind::kMissing;
  m.expected_line = e.line;
  m.expected_json = Compact(e.value);
  return m;
}

Mismatch Unexpected(std::size_t j) {
  Mismatch m;
  m.kind = Mismatch::Kind::kUnexpected;
  m.got = j;
  return m;
}

// ---- describing ------------------------------------------------------------------

// "the measurement of input line 3", "Observation/abc", "the error record of input line 2"
std::string WhichLine(CaseOutput which, const OutputLine& line) {
  if (!line.label.empty()) return line.label;
  std::string s = "the " + std::string(ItemName(which));
  if (line.input_line > 0) s += " of input line " + std::to_string(line.input_line);
  return s;
}

void DescribeOutput(CaseOutput which, const OutputResult& out, std::vector<std::string>* lines) {
  const std::string file(ExpectedPath(which));
  const std::string item(ItemName(which));
  for (const Mismatch& m : out.mismatches) {
    switch (m.kind) {
      case Mismatch::Kind::kDifferent: {
        const OutputLine& g = out.got[out.compared[m.got]];
        lines->push_back(Cat({"  ", file, ":", std::to_string(m.expected_line), ": no ", item,
                              " matches; the nearest, ", WhichLine(which, g), ", differs at:"}));
        for (std::size_t k = 0; k < m.fields.size() && k < kMaxShownFields; ++k) {
          const FieldDiff& f = m.fields[k];
          std::string_view path = f.path;
          if (path.empty()) path = "(the line)";
          lines->push_back(Cat({"      ", path, ": expected ", f.expected, ", got ", f.got}));
        }
        if (m.fields.size() > kMaxShownFields) {
          lines->push_back("      ... and " + std::to_string(m.fields.size() - kMaxShownFields) + " more");
        }
        break;
      }
      case Mismatch::Kind::kMissing:
        lines->push_back(Cat({"  ", file, ":", std::to_string(m.expected_line), ": no ", item,
                              " matches, and none is left to compare it with: ", m.expected_json}));
        break;
      case Mismatch::Kind::kUnexpected: {
        const OutputLine& g = out.got[out.compared[m.got]];
        std::string what = "  unexpected " + item;
        if (!g.label.empty()) {
          what += " " + g.label;
        } else if (g.input_line > 0) {
          what += " of input line " + std::to_string(g.input_line);
        }
        lines->push_back(Cat({what, " (not in ", file, "): ", Compact(g.value)}));
        break;
      }
    }
  }
}

void AppendXmlEscaped(std::string* out, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '&': out->append("&amp;"); break;
      case '<': out->append("&lt;"); break;
      case '>': out->append("&gt;"); break;
      case '"': out->append("&quot;"); break;
      case '\'': out->append("&apos;"); break;
      default:
        // XML 1.0 has no way to write other control characters.
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
          out->append("?");
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

}  // namespace

std::string_view ExpectedPath(CaseOutput which) {
  switch (which) {
    case CaseOutput::kMeasurements: return "expected/measurements.ndjson";
    case CaseOutput::kResources: return "expected/resources.ndjson";
    case CaseOutput::kErrors: return "expected/errors.ndjson";
  }
  return "expected/";
}

bool JsonMatches(const json::Node& expected, const json::Node& got) {
  if (expected.is_object()) {
    if (!got.is_object()) return false;
    for (const auto& [name, value] : expected.members()) {
      const json::Node* other = got.Find(name);
      if (other == nullptr || !JsonMatches(value, *other)) return false;
    }
    return true;
  }
  if (expected.is_array()) {
    if (!got.is_array() || got.items().size() != expected.items().size()) return false;
    for (std::size_t i = 0; i < expected.items().size(); ++i) {
      if (!JsonMatches(expected.items()[i], got.items()[i])) return false;
    }
    return true;
  }
  return json::Equals(expected, got);
}

void JsonDiff(const json::Node& expected, const json::Node& got, const std::string& path, std::vector<FieldDiff>* out) {
  if (expected.is_object() && got.is_object()) {
    for (const auto& [name, value] : expected.members()) {
      const std::string at = MemberPath(path, name);
      const json::Node* other = got.Find(name);
      if (other == nullptr) {
        out->push_back(FieldDiff{at, Compact(value), "nothing (no such member)"});
      } else {
        JsonDiff(value, *other, at, out);
      }
    }
    return;
  }
  if (expected.is_array() && got.is_array()) {
    const std::size_t n = expected.items().size();
    const std::size_t m = got.items().size();
    if (n != m) {
      out->push_back(FieldDiff{path, std::to_string(n) + (n == 1 ? " item" : " items"),
                               std::to_string(m) + (m == 1 ? " item" : " items")});
    }
    for (std::size_t i = 0; i < n && i < m; ++i)
      JsonDiff(expected.items()[i], got.items()[i], path + "[" + std::to_string(i) + "]", out);
    for (std::size_t i = m; i < n; ++i)
      out->push_back(FieldDiff{path + "[" + std::to_string(i) + "]", Compact(expected.items()[i]), "nothing"});
    for (std::size_t i = n; i < m; ++i)
      out->push_back(FieldDiff{path + "[" + std::to_string(i) + "]", "nothing", Compact(got.items()[i])});
    return;
  }
  if (!JsonMatches(expected, got)) out->push_back(FieldDiff{path, Compact(expected), Compact(got)});
}

std::vector<Mismatch> CompareLines(const std::vector<ExpectedLine>& expected, const std::vector<const OutputLine*>& got,
                                   bool ordered) {
  std::vector<Mismatch> out;
  if (ordered) {
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (i >= got.size()) {
        out.push_back(Missing(expected[i]));
      } else if (!JsonMatches(expected[i].value, got[i]->value)) {
        out.push_back(Different(expected[i], *got[i], i));
      }
    }
    for (std::size_t j = expected.size(); j < got.size(); ++j)
      out.push_back(Unexpected(j));
    return out;
  }
  Matcher matcher(expected, got);
  matcher.Run();
  std::vector<std::size_t> left;  // lines of the run that nothing matched
  for (std::size_t j = 0; j < got.size(); ++j) {
    if (matcher.of_got(j) == Matcher::kNone) left.push_back(j);
  }
  std::vector<bool> used(left.size(), false);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (matcher.of_expected(i) != Matcher::kNone) continue;
    // The nearest line left over: the fewest differing fields.
    std::size_t best = Matcher::kNone;
    std::size_t best_count = 0;
    std::size_t tried = 0;
    for (std::size_t k = 0; k < left.size() && tried < kMaxNearestCandidates; ++k) {
      if (used[k]) continue;
      ++tried;
      std::vector<FieldDiff> fields;
      JsonDiff(expected[i].value, got[left[k]]->value, "", &fields);
      if (best == Matcher::kNone || fields.size() < best_count) {
        best = k;
        best_count = fields.size();
      }
    }
    if (best == Matcher::kNone) {
      out.push_back(Missing(expected[i]));
    } else {
      used[best] = true;
      out.push_back(Different(expected[i], *got[left[best]], left[best]));
    }
  }
  for (std::size_t k = 0; k < left.size(); ++k) {
    if (!used[k]) out.push_back(Unexpected(left[k]));
  }
  return out;
}

bool CaseResult::passed() const {
  if (!broken.empty() || nothing_expected) return false;
  return std::all_of(outputs.begin(), outputs.end(), [](const OutputResult& o) { return o.mismatches.empty(); });
}

// ---- finding cases -----------------------------------------------------------------

namespace {

bool IsCaseFolder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kInput, ec) || fs::is_regular_file(dir / kCaseJson, ec);
}

Status FindUnder(const fs::path& dir, int depth, std::vector<std::string>* out) {
  if (IsCaseFolder(dir)) {
    out->push_back(dir.lexically_normal().string());
    return Status::Ok();
  }
  if (depth >= kMaxDepth) return Status::Ok();
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // .git and the like
    std::error_code ec2;
    if (it->is_directory(ec2)) children.push_back(it->path());
  }
  if (ec) return NotFound("cannot read " + dir.string() + ": " + ec.message());
  std::sort(children.begin(), children.end());
  for (const fs::path& child : children)
    IOMT_RETURN_IF_ERROR(FindUnder(child, depth + 1, out));
  return Status::Ok();
}

}  // namespace

Status FindCases(const std::string& path, std::vector<std::string>* dirs) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return NotFound("cannot read " + path + ": no such file or folder");
  if (fs::is_regular_file(st)) {
    fs::path parent = fs::path(path).parent_path();
    if (parent.empty()) parent = ".";
    if (!IsCaseFolder(parent)) {
      return NotFound(path + " is not in a test case folder (one that holds input.ndjson or case.json)");
    }
    dirs->push_back(parent.lexically_normal().string());
    return Status::Ok();
  }
  if (!fs::is_directory(st)) return NotFound("cannot read " + path + ": not a file or folder");
  const std::size_t before = dirs->size();
  IOMT_RETURN_IF_ERROR(FindUnder(fs::path(path), 0, dirs));
  if (dirs->size() == before) {
    return NotFound("no test cases under " + path + " (a case is a folder that holds input.ndjson or case.json)");
  }
  return Status::Ok();
}

// ---- running -------------------------------------------------------------------------

struct CaseRunner::Mappings {
  MappingCheck check;
  std::string problem;  // why they cannot be used; empty when valid
};

CaseRunner::CaseRunner() = default;
CaseRunner::~CaseRunner() = default;

Result<const CaseRunner::Mappings*> CaseRunner::LoadMappings(const std::string& device_path,
                                                             const std::string& fhir_path) {
  std::error_code ec;
  const std::string device_key = fs::weakly_canonical(device_path, ec).string();
  const std::string fhir_key = fhir_path.empty() ? std::string() : fs::weakly_canonical(fhir_path, ec).string();
  const std::string key = device_key + '\n' + fhir_key;
  auto it = mappings_.find(key);
  if (it == mappings_.end()) {
    auto m = std::make_unique<Mappings>();
    auto device = ReadFile(device_path);
    std::optional<std::string> fhir;
    Result<std::string> fhir_text = std::string();
    if (!fhir_path.empty()) fhir_text = ReadFile(fhir_path);
    if (!device.ok()) {
      m->problem = device.status().message();
    } else if (!fhir_text.ok()) {
      m->problem = fhir_text.status().message();
    } else {
      if (!fhir_path.empty()) fhir = *fhir_text;
      m->check = CheckMappings(*device, fhir);
      // Every error, each at its place, as `iomt validate` lists them.
      for (const Finding& f : m->check.errors) {
        const std::string& file = f.in == MappingFile::kDevice ? device_path : fhir_path;
        if (!m->problem.empty()) m->problem += "\n";
        m->problem += file;
        if (f.pos.line > 0) m->problem += ":" + std::to_string(f.pos.line) + ":" + std::to_string(f.pos.column);
        m->problem += ": error: " + f.message;
      }
    }
    it = mappings_.emplace(key, std::move(m)).first;
  }
  if (!it->second->problem.empty()) return InvalidArgument(it->second->problem);
  return it->second.get();
}

CaseResult CaseRunner::Run(const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult result;
  result.dir = dir;
  Status st = RunCase(dir, &result);
  if (!st.ok()) {
    result.broken = st.message();
    for (OutputResult& o : result.outputs)
      o.mismatches.clear();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

Status CaseRunner::RunCase(const std::string& dir, CaseResult* r) {
  CaseOptions o;
  IOMT_RETURN_IF_ERROR(ReadCaseOptions(dir, &o));
  r->description = o.description;

  // The mappings: the case's own, or shared ones named in case.json.
  const std::string device_path = Join(dir, o.device_mapping.empty() ? std::string(kDeviceMapping) : o.device_mapping);
  std::string fhir_path;
  if (!o.fhir_mapping.empty()) {
    fhir_path = Join(dir, o.fhir_mapping);
  } else if (IsFile(Join(dir, kFhirMapping))) {
    fhir_path = Join(dir, kFhirMapping);
  }
  IOMT_ASSIGN_OR_RETURN(const Mappings* mappings, LoadMappings(device_path, fhir_path));
  r->has_fhir_mapping = mappings->check.fhir.has_value();

  // What the case expects.
  std::array<std::optional<std::vector<ExpectedLine>>, 3> expected;
  std::error_code ec;
  for (CaseOutput which : kCaseOutputs) {
    if (!fs::exists(Join(dir, ExpectedPath(which)), ec)) continue;
    std::vector<ExpectedLine> lines;
    IOMT_RETURN_IF_ERROR(ReadExpected(dir, which, o.keep, &lines));
    expected[Index(which)] = std::move(lines);
  }
  if (expected[Index(CaseOutput::kResources)] && !r->has_fhir_mapping) {
    return InvalidArgument(
        "expected/resources.ndjson, but no FHIR mapping: add fhirmapping.json, or name one with \"fhirMapping\" in "
        "case.json");
  }
  if (o.has_preload && !r->has_fhir_mapping) {
    return InvalidArgument("\"preload\" in case.json, but no FHIR mapping: nothing would look the resources up");
  }
  r->nothing_expected = std::none_of(expected.begin(), expected.end(), [](const auto& e) { return e.has_value(); });

  const std::string input_path = Join(dir, kInput);
  if (!IsFile(input_path)) return NotFound("cannot read " + input_path);
  Fd fd(::open(input_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return NotFound("cannot read " + input_path);
  ingest::LineReader reader(fd.get());

  OutputResult& measurements = r->outputs[Index(CaseOutput::kMeasurements)];
  OutputResult& resources = r->outputs[Index(CaseOutput::kResources)];
  OutputResult& errors = r->outputs[Index(CaseOutput::kErrors)];
  if (r->has_fhir_mapping) {
    // `iomt run`, into a store in memory.
    store::MemoryFhirClient client;
    IOMT_RETURN_IF_ERROR(Preload(dir, o, &client));
    std::map<std::pair<std::string, std::string>, std::string> preloaded;  // version by type and id
    client.ForEach([&](std::string_view type, const store::Resource& res) {
      preloaded[{std::string(type), res.id}] = res.version_id;
    });
    CollectedDeadLetters dead_letters;
    PipelineOptions options;
    options.resolver.mode = o.mode;
    options.resolver.device_system = o.device_system;
    options.envelope = o.envelope;
    options.now_ticks = o.now_ticks;
    options.ingestion_ticks = o.ingestion_ticks;
    options.batch_events = o.batch_events;
    options.outage_patience = std::chrono::milliseconds(0);
    options.on_measurement = [&](const Measurement& m, const InputLocation& where) {
      AddMeasurement(m, where.line, o.keep, &measurements);
    };
    Pipeline pipeline(&mappings->check.device->mapping, mappings->check.fhir->mapping, &client, &dead_letters,
                      std::move(options));
    IOMT_RETURN_IF_ERROR(RunStream(&reader, &pipeline));
    // What the run wrote: new resources, and preloaded ones it changed.
    Status bad;
    client.ForEach([&](std::string_view type, const store::Resource& res) {
      auto was = preloaded.find({std::string(type), res.id});
      if (was != preloaded.end() && was->second == res.version_id) return;
      auto node = json::ParseNode(res.json);
      if (!node.ok()) {
        bad = node.status();
        return;
      }
      StripVolatile(CaseOutput::kResources, o.keep, &*node);
      resources.got.push_back(OutputLine{std::move(node).value(), 0, std::string(type) + "/" + res.id});
    });
    IOMT_RETURN_IF_ERROR(bad);
    for (const std::string& record : dead_letters.records)
      IOMT_RETURN_IF_ERROR(AddErrorLine(record, o.keep, &errors));
  } else {
    // Only a device mapping: `iomt normalize`.
    NormalizeStreamOptions options;
    options.envelope = o.envelope;
    options.ingestion_ticks = o.ingestion_ticks;
    options.now_ticks = o.now_ticks;
    options.on_measurement = [&](const Measurement& m, std::int64_t line) {
      AddMeasurement(m, line, o.keep, &measurements);
    };
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* records = ::open_memstream(&buffer, &size);
    if (records == nullptr) return IoError("cannot hold the error records in memory");
    NormalizeStreamStats stats;
    Status st = NormalizeStream(mappings->check.device->mapping, &reader, nullptr, records, options, &stats);
    std::fclose(records);
    const std::string text(buffer != nullptr ? buffer : "", size);
    std::free(buffer);
    IOMT_RETURN_IF_ERROR(st);
    Status bad;
    ForEachLine(text, [&](std::string_view line, std::int64_t) {
      if (bad.ok()) bad = AddErrorLine(line, o.keep, &errors);
    });
    IOMT_RETURN_IF_ERROR(bad);
  }

  for (CaseOutput which : kCaseOutputs) {
    OutputResult& out = r->outputs[Index(which)];
    const auto& want = expected[Index(which)];
    if (!want) continue;
    out.checked = true;
    // Resources of a type that no expected line names are not compared: a
    // file of Observations need not list the Patients and Devices that
    // Create made. An expected line without a resourceType names them all.
    std::set<std::string> types;
    bool all_types = which != CaseOutput::kResources || want->empty();
    for (const ExpectedLine& e : *want) {
      const json::Node* type = e.value.is_object() ? e.value.Find("resourceType") : nullptr;
      if (type == nullptr || !type->is_string()) {
        all_types = true;
      } else {
        types.insert(type->text());
      }
    }
    std::vector<const OutputLine*> compared;
    for (std::size_t j = 0; j < out.got.size(); ++j) {
      if (!all_types) {
        const json::Node* type = out.got[j].value.Find("resourceType");
        if (type == nullptr || types.count(type->text()) == 0) continue;
      }
      out.compared.push_back(j);
      compared.push_back(&out.got[j]);
    }
    out.mismatches = CompareLines(*want, compared, o.ordered);
  }
  return Status::Ok();
}

Status UpdateExpected(const CaseResult& result, std::vector<std::string>* written) {
  if (!result.broken.empty() || result.passed()) return Status::Ok();
  std::error_code ec;
  fs::create_directories(Join(result.dir, "expected"), ec);
  if (ec) return IoError("cannot create " + Join(result.dir, "expected") + ": " + ec.message());
  for (CaseOutput which : kCaseOutputs) {
    const OutputResult& out = result.output(which);
    bool write = out.checked && !out.mismatches.empty();
    if (result.nothing_expected) write = which != CaseOutput::kResources || result.has_fhir_mapping;
    if (!write) continue;
    std::string text;
    for (const OutputLine& line : out.got) {
      line.value.AppendTo(&text);
      text.push_back('\n');
    }
    IOMT_RETURN_IF_ERROR(WriteFile(Join(result.dir, ExpectedPath(which)), text));
    written->emplace_back(ExpectedPath(which));
  }
  return Status::Ok();
}

std::vector<std::string> DescribeFailure(const CaseResult& result) {
  std::vector<std::string> lines;
  if (!result.broken.empty()) {
    std::string_view rest = result.broken;
    bool first = true;
    while (!rest.empty()) {
      const std::size_t end = rest.find('\n');
      lines.push_back(std::string(first ? "  cannot run: " : "    ") + std::string(rest.substr(0, end)));
      first = false;
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    return lines;
  }
  if (result.nothing_expected) {
    lines.emplace_back(
        "  nothing expected: no expected/measurements.ndjson, expected/resources.ndjson or expected/errors.ndjson "
        "(iomt test --update writes them from what the case gives now)");
    return lines;
  }
  for (CaseOutput which : kCaseOutputs)
    DescribeOutput(which, result.output(which), &lines);
  return lines;
}

std::string JunitXml(const std::vector<CaseResult>& results, double seconds) {
  std::size_t failures = 0;
  std::size_t errors = 0;
  for (const CaseResult& r : results) {
    if (!r.broken.empty()) {
      ++errors;
    } else if (!r.passed()) {
      ++failures;
    }
  }
  std::string counts = " tests=\"" + std::to_string(results.size()) + "\" failures=\"" + std::to_string(failures) +
                       "\" errors=\"" + std::to_string(errors) + "\" time=\"" + Seconds(seconds) + "\"";
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites name=\"iomt test\"" + counts + ">\n";
  out += "  <testsuite name=\"iomt test\"" + counts + ">\n";
  for (const CaseResult& r : results) {
    // The case's folder as the name, the path to it as the class, dotted:
    // CI systems show the suite as a tree of its folders (an unpacked
    // archive's cases are ARCHIVE:PATH).
    const std::size_t cut = r.dir.find_last_of("/:");
    std::string classname = cut == std::string::npos ? std::string() : r.dir.substr(0, cut);
    while (classname.starts_with("./") || classname.starts_with("/"))
      classname.erase(0, classname[0] == '/' ? 1 : 2);
    std::replace(classname.begin(), classname.end(), '/', '.');
    std::replace(classname.begin(), classname.end(), ':', '.');
    out += "    <testcase classname=\"";
    AppendXmlEscaped(&out, classname.empty() ? std::string("cases") : classname);
    out += "\" name=\"";
    AppendXmlEscaped(&out, cut == std::string::npos ? r.dir : r.dir.substr(cut + 1));
    out += "\" time=\"" + Seconds(r.seconds) + "\"";
    if (r.passed()) {
      out += "/>\n";
      continue;
    }
    out += ">\n";
    std::string text;
    if (!r.description.empty()) text += r.description + "\n";
    for (const std::string& line : DescribeFailure(r))
      text += line + "\n";
    const char* element = r.broken.empty() ? "failure" : "error";
    out += "      <";
    out += element;
    out += " message=\"";
    AppendXmlEscaped(&out, r.broken.empty() ? std::string("the output differs from the expected files")
                                            : r.broken.substr(0, r.broken.find('\n')));
    out += "\">";
    AppendXmlEscaped(&out, text);
    out += "</";
    out += element;
    out += ">\n    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

Status WriteCaseSkeleton(const std::string& dir, const CaseSkeleton& s, std::vector<std::string>* written) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    return InvalidArgument(dir + " already exists and is not an empty folder: a case is written into a new one");
  }
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir + ": " + ec.message());
  std::string case_json = "{\n  \"description\": ";
  json::AppendQuoted(&case_json, s.description);
  case_json += ",\n  \"resolution\": ";
  json::AppendQuoted(&case_json, s.resolution);
  case_json += ",\n  \"envelope\": ";
  json::AppendQuoted(&case_json, s.envelope);
  if (!s.device_system.empty()) {
    case_json += ",\n  \"deviceSystem\": ";
    json::AppendQuoted(&case_json, s.device_system);
  }
  case_json += "\n}\n";
  std::vector<std::pair<std::string_view, std::string_view>> files = {{kDeviceMapping, s.device_mapping}};
  if (s.fhir_mapping) files.emplace_back(kFhirMapping, *s.fhir_mapping);
  files.emplace_back(kInput, s.input);
  files.emplace_back(kCaseJson, case_json);
  for (const auto& [name, text] : files) {
    IOMT_RETURN_IF_ERROR(WriteFile(Join(dir, name), text));
    written->emplace_back(name);
  }
  return Status::Ok();
}

}  // namespace iomt::pipeline
