// Mapping test cases as data (`iomt test`, docs/mapping-tests.md). A case is
// a folder: a device mapping, optionally a FHIR mapping, the events of
// `input.ndjson`, and what they should give in `expected/measurements.ndjson`,
// `expected/resources.ndjson` and `expected/errors.ndjson`, with options in
// `case.json`. A case runs through the same Pipeline as `iomt run` (without
// a FHIR mapping, through the normalization of `iomt normalize`) into an
// in-memory FHIR store, so nothing is written anywhere; what comes out is
// compared with the expected lines as JSON, in any order, an expected object
// matching every object that has at least its members.
//
// The format is a contract (the web console saves cases in it, suites keep
// them for years): what a case may hold and how it is compared is
// docs/mapping-tests.md, and a change here is a change there.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json/node.h"
#include "common/status.h"

namespace iomt::pipeline {

// The outputs a case can expect, each in expected/NAME.ndjson.
enum class CaseOutput : std::uint8_t { kMeasurements = 0, kResources = 1, kErrors = 2 };
inline constexpr std::array<CaseOutput, 3> kCaseOutputs = {CaseOutput::kMeasurements, CaseOutput::kResources,
                                                           CaseOutput::kErrors};
// "expected/measurements.ndjson", ... (relative to the case folder).
std::string_view ExpectedPath(CaseOutput which);

// One field at which an expected line and the line it is compared with
// differ.
struct FieldDiff {
  std::string path;      // e.g. "Properties[0].Value"; empty: the line itself
  std::string expected;  // JSON, or what was expected ("2 items")
  std::string got;       // JSON, or "nothing" for a missing member
};

// True when `got` matches `expected`: an object when every member of
// `expected` has a member of the same name in `got` that matches it (members
// that `expected` leaves out match anything); an array when it has as many
// elements, each matching the one at its index; numbers by value (1.50
// matches 1.5, 70 matches 70.0); strings, booleans and null exactly.
bool JsonMatches(const json::Node& expected, const json::Node& got);

// Why `got` does not match `expected`, one entry per differing field, under
// `path` (empty when they match).
void JsonDiff(const json::Node& expected, const json::Node& got, const std::string& path, std::vector<FieldDiff>* out);

// A line of an expected file.
struct ExpectedLine {
  json::Node value;
  std::int64_t line = 0;  // in its file, 1-based
};

// A line that a case's run gave.
struct OutputLine {
  json::Node value;             // without the members that change from run to run (unless kept)
  std::int64_t input_line = 0;  // the line of input.ndjson it came from; 0: not known (resources)
  std::string label;            // "Observation/ID" for resources
};

// An expected line that nothing matched, or a line that no expected line
// matched.
struct Mismatch {
  enum class Kind : std::uint8_t {
    kDifferent,   // an expected line, and the nearest unmatched line with how it differs
    kMissing,     // an expected line, and nothing left to compare it with
    kUnexpected,  // a line of the run that no expected line matched
  };
  Kind kind = Kind::kMissing;
  std::int64_t expected_line = 0;  // kDifferent, kMissing
  std::string expected_json;       // kDifferent, kMissing
  std::size_t got = 0;             // kDifferent, kUnexpected: index into the lines compared
  std::vector<FieldDiff> fields;   // kDifferent
};

// Compares expected lines with the lines of a run: as multisets (every
// expected line matches a line of its own, and no line is left over), or
// with `ordered`, line by line. An expected line that is not matched is
// paired with the nearest line left over (the fewest differing fields).
std::vector<Mismatch> CompareLines(const std::vector<ExpectedLine>& expected, const std::vector<const OutputLine*>& got,
                                   bool ordered);

// What one output of a case gave and how it compared.
struct OutputResult {
  bool checked = false;               // the case has the expected file
  std::vector<OutputLine> got;        // everything the run gave (what --update writes)
  std::vector<std::size_t> compared;  // indexes into `got` of the lines compared (resources: of the types expected)
  std::vector<Mismatch> mismatches;   // Mismatch::got indexes into `compared`
};

struct CaseResult {
  std::string dir;  // the case folder, as found
  std::string description;
  std::string broken;             // why the case could not be run (a missing or invalid file); empty: it ran
  bool nothing_expected = false;  // it ran, but has no expected file
  bool has_fhir_mapping = false;
  std::array<OutputResult, 3> outputs;  // by CaseOutput
  double seconds = 0;

  [[nodiscard]] const OutputResult& output(CaseOutput which) const { return outputs[static_cast<std::size_t>(which)]; }
  [[nodiscard]] bool passed() const;
};

// The case folders that `path` names, in a stable order: `path` itself when
// it is a case folder (it holds input.ndjson or case.json) or a file in one,
// else every case folder under it at any depth (not looking inside cases).
// NotFound when `path` cannot be read or holds no case.
Status FindCases(const std::string& path, std::vector<std::string>* dirs);

// Runs cases. Mapping files shared by several cases are read and checked
// once. Not thread-safe.
class CaseRunner {
 public:
  CaseRunner();
  ~CaseRunner();
  CaseRunner(const CaseRunner&) = delete;
  CaseRunner& operator=(const CaseRunner&) = delete;

  // Runs the case in `dir`; a case that cannot run (a file missing or
  // invalid) comes back `broken`, with the reason.
  CaseResult Run(const std::string& dir);

 private:
  struct Mappings;
  Result<const Mappings*> LoadMappings(const std::string& device_path, const std::string& fhir_path);
  Status RunCase(const std::string& dir, CaseResult* result);

  std::map<std::string, std::unique_ptr<Mappings>> mappings_;  // by the files' canonical paths
};

// `iomt test --update`: rewrites the expected files of a case that ran and
// failed from what it gave (each file that did not match; all of them when
// the case had none, errors.ndjson and measurements.ndjson even when empty,
// resources.ndjson when it has a FHIR mapping). The paths written, relative
// to the case folder, go to `written`.
Status UpdateExpected(const CaseResult& result, std::vector<std::string>* written);

// A failed case, readably: each line (no newline) says which expected line
// of which file was not produced, which input line the nearest output came
// from, and each differing field with what was expected and what came.
std::vector<std::string> DescribeFailure(const CaseResult& result);

// The results as a JUnit XML report (one <testsuite>, a <testcase> per case,
// <failure> with the description for a failed one, <error> for a broken
// one).
std::string JunitXml(const std::vector<CaseResult>& results, double seconds);

// What `iomt validate --emit-case` writes: a case folder with the mappings,
// the sample events and case.json. The expected files come from running it
// (UpdateExpected).
struct CaseSkeleton {
  std::string device_mapping;               // the file's text
  std::optional<std::string> fhir_mapping;  // the file's text
  std::string input;                        // NDJSON events
  std::string description;
  std::string resolution;     // Create, Lookup, LookupWithEncounter
  std::string envelope;       // auto, event, wrap, none
  std::string device_system;  // written when not empty
};

// Creates the folder `dir` (which must not exist, or be empty) with the
// skeleton's files; their paths go to `written`.
Status WriteCaseSkeleton(const std::string& dir, const CaseSkeleton& skeleton, std::vector<std::string>* written);

}  // namespace iomt::pipeline
