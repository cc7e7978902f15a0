// The store split in files (split_store.h; the FhirClient contract over two
// parts is in embedded_store_test.cc, with the one-file store's): the routing of every resource to one part, PutMany's
// answers back in the order of the batch, identifier searches across the parts, and the data path through a real
// pipeline writing the same resources into two parts as into one store.
#include "store/embedded/split_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/dead_letters.h"
#include "pipeline/mappings.h"
#include "pipeline/pipeline.h"
#include "test_util.h"

namespace iomt::store {
namespace {

using iomt::testing::TempDir;

constexpr std::int64_t kClockMs = 1696845600000;  // 2023-10-09T10:00:00Z: runs compare byte for byte

EmbeddedStoreOptions FixedClock() {
  EmbeddedStoreOptions options;
  options.clock_ms = [] { return kClockMs; };
  return options;
}

std::unique_ptr<SplitStore> OpenSplit(const std::string& dir, std::size_t parts) {
  auto store = SplitStore::Open(dir, parts, FixedClock());
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

std::string Patient(const std::string& id, const std::string& value) {
  return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[{"system":"urn:p","value":")" + value +
         R"("}]})";
}

// Every current resource of `store`, "type/id" -> "version json".
void Collect(EmbeddedStore& store, std::map<std::string, std::string>* out) {
  ASSERT_TRUE(
      store
          .Export({}, [&](std::string_view type,
                          const Resource& r) { (*out)[std::string(type) + "/" + r.id] = r.version_id + " " + r.json; })
          .ok());
}

TEST(SplitStore, AStoreHasAtLeastOnePart) {
  TempDir dir;
  auto none = SplitStore::Open(dir.path(), 0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
}

TEST(SplitStore, APartIsNeverTakenForAStoreOfItsOwnNorAStoreOfOneFileForAPart) {
  TempDir split_dir, one_dir;
  ASSERT_NE(OpenSplit(split_dir.path(), 2), nullptr);
  for (const std::string& part : {split_dir.path(), SplitStore::PartDir(split_dir.path(), 1)}) {
    auto alone = EmbeddedStore::Open(part);
    ASSERT_FALSE(alone.ok()) << part;
    EXPECT_EQ(alone.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(alone.status().message().find("of a store split in files"), std::string::npos)
        << alone.status().message();
  }
  auto three = SplitStore::Open(split_dir.path(), 3);
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.status().message().find("is part 0/2 of a split store, not part 0/3"), std::string::npos)
      << three.status().message();
  // Reopened as what it is, it opens.
  EXPECT_NE(OpenSplit(split_dir.path(), 2), nullptr);

  ASSERT_TRUE(EmbeddedStore::Open(one_dir.path()).ok());
  auto split = SplitStore::Open(one_dir.path(), 2);
  ASSERT_FALSE(split.ok());
  EXPECT_NE(split.status().message().find("is a store of one file"), std::string::npos) << split.status().message();
  // A split store of one part is a store of one file.
  EXPECT_TRUE(SplitStore::Open(one_dir.path(), 1).ok());
}

TEST(SplitStore, EachResourceLivesInThePartItsHashNames) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  std::vector<PutRequest> batch;
  for (int i = 0; i < 200; ++i) {
    const std::string id = std::string("p").append(std::to_string(i));
    batch.push_back({"Patient", id, Patient(id, std::string("v").append(std::to_string(i))), std::nullopt});
  }
  auto written = split->PutMany(batch);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_EQ(written->size(), 200u);
  std::size_t in_part[2] = {0, 0};
  for (int i = 0; i < 200; ++i) {
    const std::string id = std::string("p").append(std::to_string(i));
    ASSERT_TRUE((*written)[i].ok());
    EXPECT_EQ((*written)[i]->id, id);  // the answers in the batch's order
    const std::size_t k = split->PartOf("Patient", id);
    ++in_part[k];
    auto here = split->part(k).Read("Patient", id);
    auto there = split->part(1 - k).Read("Patient", id);
    ASSERT_TRUE(here.ok() && there.ok());
    EXPECT_TRUE(here->has_value()) << id;
    EXPECT_FALSE(there->has_value()) << id;
  }
  // Both writers have work: neither part holds fewer than a third.
  EXPECT_GT(in_part[0], 66u);
  EXPECT_GT(in_part[1], 66u);
  EXPECT_EQ(SplitStore::PartDir(dir.path(), 1), dir.path() + "/part-1");

  // Reopened, the same parts answer.
  split.reset();
  split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  auto read = split->Read("Patient", "p7");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->version_id, "1");
}

TEST(SplitStore, AFailedRequestIsAnsweredInItsPlaceAndTheRestIsWritten) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  std::vector<PutRequest> first;
  for (int i = 0; i < 20; ++i) {
    const std::string id = std::string("q").append(std::to_string(i));
    first.push_back({"Patient", id, Patient(id, "a"), std::nullopt});
  }
  ASSERT_TRUE(split->PutMany(first).ok());
  // Updates based on version 1, except request 13's (a lost If-Match), and
  // request 17 twice: both writes land, in order.
  std::vector<PutRequest> second;
  for (int i = 0; i < 20; ++i) {
    const std::string id = std::string("q").append(std::to_string(i));
    second.push_back({"Patient", id, Patient(id, "b"), std::string(i == 13 ? "7" : "1")});
  }
  second.push_back({"Patient", "q17", Patient("q17", "c"), std::string("2")});
  auto written = split->PutMany(second);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_EQ(written->size(), 21u);
  for (int i = 0; i < 20; ++i) {
    if (i == 13) {
      ASSERT_FALSE((*written)[i].ok());
      EXPECT_EQ((*written)[i].status().code(), StatusCode::kConflict);
      continue;
    }
    ASSERT_TRUE((*written)[i].ok()) << i << ": " << (*written)[i].status().ToString();
    EXPECT_EQ((*written)[i]->id, std::string("q").append(std::to_string(i)));
    EXPECT_EQ((*written)[i]->version_id, "2");
  }
  ASSERT_TRUE((*written)[20].ok());
  EXPECT_EQ((*written)[20]->version_id, "3");
  auto q13 = split->Read("Patient", "q13");
  ASSERT_TRUE(q13.ok() && q13->has_value());
  EXPECT_EQ((*q13)->version_id, "1");
  auto q17 = split->Read("Patient", "q17");
  ASSERT_TRUE(q17.ok() && q17->has_value());
  EXPECT_NE((*q17)->json.find(R"("value":"c")"), std::string::npos);
}

TEST(SplitStore, IdentifierSearchesAskEveryPart) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  // Two Patients with one identifier, in different parts.
  std::string a = "twin0", b;
  for (int i = 1; b.empty(); ++i) {
    const std::string id = std::string("twin").append(std::to_string(i));
    if (split->PartOf("Patient", id) != split->PartOf("Patient", a)) b = id;
  }
  ASSERT_TRUE(split->Put("Patient", a, Patient(a, "same"), std::nullopt).ok());
  ASSERT_TRUE(split->Put("Patient", b, Patient(b, "same"), std::nullopt).ok());
  ASSERT_TRUE(split->Put("Patient", "other", Patient("other", "else"), std::nullopt).ok());
  ASSERT_TRUE(split->Flush().ok());

  auto two = split->SearchByIdentifier("Patient", "urn:p", "same", 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);  // "more than one": iomt-fhir's ambiguity
  auto one = split->SearchByIdentifier("Patient", "urn:p", "same", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto many = split->SearchByIdentifiers("Patient", "urn:p", {"same", "else", "none"});
  ASSERT_TRUE(many.ok());
  std::vector<std::string> ids;
  for (const Resource& r : *many)
    ids.push_back(r.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"other", a, b}));
}

TEST(SplitStore, ALaneSeesItsOwnPartAndWhatTheOthersCommitted) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  ASSERT_EQ(split->lanes(), 2u);
  // A Patient in each part, written as single writes: pending until a flush.
  std::string in0, in1;
  for (int i = 0; in0.empty() || in1.empty(); ++i) {
    const std::string id = std::string("pending").append(std::to_string(i));
    (split->PartOf("Patient", id) == 0 ? in0 : in1) = id;
  }
  ASSERT_TRUE(split->Put("Patient", in0, Patient(in0, "x0"), std::nullopt).ok());
  ASSERT_TRUE(split->Put("Patient", in1, Patient(in1, "x1"), std::nullopt).ok());
  store::FhirClient* lane0 = split->Lane(0);
  EXPECT_EQ(lane0->lanes(), 1u);
  auto found = lane0->SearchByIdentifiers("Patient", "urn:p", {"x0", "x1"});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);  // its own part's pending write, not the other's
  EXPECT_EQ((*found)[0].id, in0);
  ASSERT_TRUE(split->Flush().ok());
  found = lane0->SearchByIdentifiers("Patient", "urn:p", {"x0", "x1"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 2u);
  auto one = lane0->SearchByIdentifier("Patient", "urn:p", "x1", 2);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].id, in1);
  // Writes through a lane go where the store routes them.
  ASSERT_TRUE(lane0->Put("Patient", in1, Patient(in1, "x2"), std::string("1")).ok());
  auto read = split->part(1).Read("Patient", in1);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->version_id, "2");
}

std::string Observation(const std::string& id, const std::string& value) {
  return R"({"resourceType":"Observation","id":")" + id + R"(","identifier":[{"system":"urn:s","value":")" + value +
         R"("}],"status":"final","code":{"text":"x"}})";
}

// An id of `type` that the store keeps in part `k`.
std::string IdInPart(const SplitStore& split, std::string_view type, std::size_t k, const std::string& prefix) {
  for (int i = 0;; ++i) {
    std::string id = std::string(prefix).append(std::to_string(i));
    if (split.PartOf(type, id) == k) return id;
  }
}

TEST(SplitStore, ALaneLooksInAnotherPartOnlyOnceItMayHoldWhatWasPlacedOtherwise) {
  TempDir dir, one_dir;
  auto one = EmbeddedStore::Open(one_dir.path());
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE((*one)->MayHoldUnrouted("Observation"));  // a store of one file keeps no record
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  EXPECT_FALSE(split->part(0).MayHoldUnrouted("Observation"));
  EXPECT_FALSE(split->part(1).MayHoldUnrouted("Observation"));

  // Written by lane 1, placed by identifier: lane 0 need not look there for
  // identifiers of its own, and does not.
  const std::string placed = IdInPart(*split, "Observation", 1, "placed-");
  std::vector<PutRequest> batch(1);
  batch[0] = {"Observation", placed, Observation(placed, "v1"), std::nullopt};
  auto wrote = split->Lane(1)->PutMany(std::move(batch));
  ASSERT_TRUE(wrote.ok() && (*wrote)[0].ok());
  ASSERT_TRUE(split->Flush().ok());
  EXPECT_FALSE(split->part(1).MayHoldUnrouted("Observation"));
  auto found = split->Lane(0)->SearchByIdentifiers("Observation", "urn:s", {"v1", "v2"});
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());

  // Written otherwise (as the FHIR API, identity or a migration write): from
  // then on, lane 0 looks into part 1 for Observations, and only for them.
  const std::string other = IdInPart(*split, "Observation", 1, "other-");
  ASSERT_TRUE(split->Put("Observation", other, Observation(other, "v2"), std::nullopt).ok());
  EXPECT_TRUE(split->part(1).MayHoldUnrouted("Observation"));
  EXPECT_FALSE(split->part(1).MayHoldUnrouted("Patient"));
  EXPECT_FALSE(split->part(0).MayHoldUnrouted("Observation"));
  ASSERT_TRUE(split->Flush().ok());
  found = split->Lane(0)->SearchByIdentifiers("Observation", "urn:s", {"v1", "v2"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 2u);
  auto single = split->Lane(0)->SearchByIdentifier("Observation", "urn:s", "v2", 5);
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->size(), 1u);
  EXPECT_EQ((*single)[0].id, other);

  // The record is in the part's file, written with the resource.
  split.reset();
  split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  EXPECT_TRUE(split->part(1).MayHoldUnrouted("Observation"));
  EXPECT_FALSE(split->part(1).MayHoldUnrouted("Patient"));
  EXPECT_FALSE(split->part(0).MayHoldUnrouted("Observation"));
}

TEST(SplitStore, APartHoldsOnlyWhatRoutesToIt) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  // A write that reached the wrong part (a routing bug) is refused.
  const std::string in0 = IdInPart(*split, "Patient", 0, "p-");
  auto wrong = split->part(1).Update("Patient", in0, Patient(in0, "x"), std::nullopt);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInternal);
  EXPECT_NE(wrong.status().message().find("belongs to part 0 of the split store"), std::string::npos)
      << wrong.status().message();
  // Nor by a batch, which fails whole (its caller writes it again).
  std::vector<PutRequest> batch(1);
  batch[0] = {"Patient", in0, Patient(in0, "x"), std::nullopt};
  auto answers = split->part(1).PutMany(std::move(batch));
  ASSERT_FALSE(answers.ok());
  EXPECT_EQ(answers.status().code(), StatusCode::kInternal);
  EXPECT_EQ(split->part(1).ReadCurrent("Patient", in0).status().code(), StatusCode::kNotFound);
  // The ids a part makes for a POST route to it.
  for (std::size_t k = 0; k < 2; ++k) {
    for (int i = 0; i < 20; ++i) {
      auto made = split->part(k).Create("Patient", R"({"resourceType":"Patient"})");
      ASSERT_TRUE(made.ok()) << made.status().ToString();
      EXPECT_EQ(split->PartOf("Patient", made->resource.id), k) << made->resource.id;
    }
  }
  EXPECT_TRUE(split->CheckConsistency().ok());
}

TEST(SplitStore, TheOperationsOnOneResourceGoToItsPart) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  for (std::size_t k = 0; k < 2; ++k) {
    const std::string id = IdInPart(*split, "Patient", k, "one-");
    ASSERT_TRUE(split->Update("Patient", id, Patient(id, "a"), std::nullopt).ok());
    ASSERT_TRUE(split->Update("Patient", id, Patient(id, "b"), std::string("1")).ok());
    auto stale = split->Update("Patient", id, Patient(id, "c"), std::string("1"));
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.status().detail(), "precondition");
    auto patched = split->Patch("Patient", id, R"([{"op":"add","path":"/active","value":true}])", std::nullopt);
    ASSERT_TRUE(patched.ok()) << patched.status().ToString();
    EXPECT_EQ(patched->resource.version_id, "3");
    auto current = split->ReadCurrent("Patient", id);
    ASSERT_TRUE(current.ok());
    EXPECT_NE(current->json.find(R"("active":true)"), std::string::npos);
    auto first = split->VRead("Patient", id, "1");
    ASSERT_TRUE(first.ok());
    EXPECT_NE(first->json.find(R"("value":"a")"), std::string::npos);
    auto history = split->History("Patient", id);
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(history->size(), 3u);
    // Where it is: in its part, and only there.
    auto here = split->part(k).ReadCurrent("Patient", id);
    EXPECT_TRUE(here.ok());
    auto there = split->part(1 - k).ReadCurrent("Patient", id);
    EXPECT_EQ(there.status().code(), StatusCode::kNotFound);
    auto deleted = split->Delete("Patient", id);
    ASSERT_TRUE(deleted.ok());
    EXPECT_TRUE(*deleted);
    EXPECT_EQ(split->ReadCurrent("Patient", id).status().detail(), "deleted");
    const std::string fresh = IdInPart(*split, "Device", k, "at-");
    ASSERT_TRUE(split->CreateAt("Device", fresh, R"({"resourceType":"Device","id":")" + fresh + R"("})").ok());
    EXPECT_EQ(
        split->CreateAt("Device", fresh, R"({"resourceType":"Device","id":")" + fresh + R"("})").status().detail(),
        "precondition");
  }
  // POSTs go to the parts in turn, each at an id of its own.
  std::size_t in_part[2] = {0, 0};
  for (int i = 0; i < 10; ++i) {
    auto made = split->Create("Observation", Observation("ignored", std::to_string(i)));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    EXPECT_TRUE(made->created);
    EXPECT_NE(made->resource.id, "ignored");
    ++in_part[split->PartOf("Observation", made->resource.id)];
    EXPECT_TRUE(split->ReadCurrent("Observation", made->resource.id).ok());
  }
  EXPECT_EQ(in_part[0], 5u);
  EXPECT_EQ(in_part[1], 5u);
  EXPECT_TRUE(split->CheckConsistency().ok());
  EXPECT_TRUE(split->Check().empty());
}

// `n` basic-sample messages: 30 patients' heart rates, each device's readings
// a minute apart.
std::vector<std::string> HeartRates(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    const int minute = i / 30;
    const std::string mm = std::to_string(minute % 60);
    lines.push_back(R"({"heartrate": )" + std::to_string(55 + i % 40) + R"(, "deviceid": "band-)" +
                    std::to_string(i % 30) + R"(", "patientid": "pt-)" + std::to_string(i % 30) +
                    R"(", "measurementdatetime": "2023-10-09T)" + std::to_string(8 + minute / 60) + ":" +
                    (mm.size() == 1 ? "0" : "") + mm + R"(:00Z"})");
  }
  return lines;
}

struct NoDeadLetters : pipeline::DeadLetters {
  int count = 0;
  Status Write(std::string_view) override {
    ++count;
    return Status::Ok();
  }
};

// The lines through a real pipeline into `client`, `batch` at a time.
pipeline::PipelineStats RunPipeline(const std::vector<std::string>& lines, std::size_t batch, FhirClient* client) {
  const std::string base = "conformance/iomt-fhir/sample/templates/basic/";
  const std::string device = iomt::testing::ReadFile(iomt::testing::SourcePath(base + "devicecontent.json"));
  const std::string fhir = iomt::testing::ReadFile(iomt::testing::SourcePath(base + "fhirmapping.json"));
  auto set = pipeline::MakeMappingSet(pipeline::CheckMappings(device, fhir), device, fhir, 1);
  NoDeadLetters dead;
  pipeline::PipelineOptions options;
  options.now_ticks = 17'000'000'000'000'000;
  pipeline::Pipeline run(&set->device, set->fhir, client, &dead, options);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    pipeline::EventInput input;
    input.text = lines[i];
    input.ingestion_ticks = 17'000'000'000'000'000;
    EXPECT_TRUE(run.Accept(input).ok());
    if ((i + 1) % batch == 0 || i + 1 == lines.size()) {
      EXPECT_TRUE(run.Flush().ok());
    }
  }
  EXPECT_EQ(dead.count, 0);
  return run.stats();
}

TEST(SplitStore, ThePipelineWritesIntoTwoPartsWhatItWritesIntoOneStore) {
  const std::vector<std::string> lines = HeartRates(1'800);  // an hour of 30 devices
  TempDir one_dir, split_dir;
  auto one = EmbeddedStore::Open(one_dir.path(), FixedClock());
  ASSERT_TRUE(one.ok());
  const pipeline::PipelineStats expected = RunPipeline(lines, 250, one->get());

  auto split = OpenSplit(split_dir.path(), 2);
  ASSERT_NE(split, nullptr);
  const pipeline::PipelineStats got = RunPipeline(lines, 250, split.get());
  EXPECT_EQ(got.created, expected.created);
  EXPECT_EQ(got.updated, expected.updated);
  EXPECT_GT(got.updated, 0);  // hourly Observations merged batch after batch, in their part
  EXPECT_EQ(got.patients_created, 30);
  EXPECT_EQ(got.devices_created, 30);

  std::map<std::string, std::string> want, have, part0, part1;
  Collect(**one, &want);
  Collect(split->part(0), &part0);
  Collect(split->part(1), &part1);
  EXPECT_FALSE(part0.empty());
  EXPECT_FALSE(part1.empty());
  have = part0;
  for (const auto& [key, value] : part1) {
    EXPECT_EQ(part0.count(key), 0u) << key << " is in both parts";
    have[key] = value;
  }
  EXPECT_EQ(have, want);
  EXPECT_TRUE(split->part(0).CheckConsistency().ok());
  EXPECT_TRUE(split->part(1).CheckConsistency().ok());
  // The Observation writer's lanes placed every Observation by identifier,
  // so a lane looks up a new one in its own part alone; identity's Patients
  // and Devices were placed otherwise.
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_FALSE(split->part(k).MayHoldUnrouted("Observation")) << k;
    EXPECT_TRUE(split->part(k).MayHoldUnrouted("Patient")) << k;
  }

  // The same input again changes nothing.
  const pipeline::PipelineStats again = RunPipeline(lines, 250, split.get());
  EXPECT_EQ(again.created, 0);
  EXPECT_EQ(again.updated, 0);
  EXPECT_GT(again.unchanged, 0);
}

TEST(SplitStore, AnObservationStoredUnderAnotherIdIsFoundInItsPartAndMergedInto) {
  // An Observation with iomt's identifier but not at the id iomt would give
  // it (written by another server before a migration, say): the store keeps
  // it in the part of its own id, which is another part than its lane's.
  const std::vector<std::string> lines = HeartRates(600);
  TempDir one_dir, split_dir;
  auto one = EmbeddedStore::Open(one_dir.path(), FixedClock());
  ASSERT_TRUE(one.ok());
  const pipeline::PipelineStats expected = RunPipeline(lines, 100, one->get());
  std::map<std::string, std::string> stored;
  Collect(**one, &stored);
  std::string det_id, json;
  for (const auto& [key, value] : stored) {
    if (key.rfind("Observation/", 0) == 0) {
      det_id = key.substr(12);
      json = value.substr(value.find(' ') + 1);
      break;
    }
  }
  ASSERT_FALSE(det_id.empty());

  auto split = OpenSplit(split_dir.path(), 2);
  ASSERT_NE(split, nullptr);
  std::string foreign;
  for (int i = 0; foreign.empty(); ++i) {
    const std::string id = std::string("migrated-").append(std::to_string(i));
    if (split->PartOf("Observation", id) != split->PartOf("Observation", det_id)) foreign = id;
  }
  const std::string from = R"("id":")" + det_id + R"(")";
  const auto at = json.find(from);
  ASSERT_NE(at, std::string::npos);
  json.replace(at, from.size(), R"("id":")" + foreign + R"(")");
  ASSERT_TRUE(split->Put("Observation", foreign, json, std::nullopt).ok());
  ASSERT_TRUE(split->Flush().ok());

  const pipeline::PipelineStats got = RunPipeline(lines, 100, split.get());
  EXPECT_EQ(got.created, expected.created - 1);  // merged into the migrated one, not created again
  auto det = split->Read("Observation", det_id);
  ASSERT_TRUE(det.ok());
  EXPECT_FALSE(det->has_value());
  auto migrated = split->Read("Observation", foreign);
  ASSERT_TRUE(migrated.ok() && migrated->has_value());
}

TEST(SplitStore, BackupCompactAndExportCoverEveryPart) {
  TempDir dir, backups;
  const std::vector<std::string> lines = HeartRates(600);
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  RunPipeline(lines, 100, split.get());
  std::map<std::string, std::string> before[2];
  for (std::size_t k = 0; k < 2; ++k) {
    Collect(split->part(k), &before[k]);
    EXPECT_FALSE(before[k].empty());
  }

  const std::string dest = backups.path() + "/b";
  auto backup = split->BackupTo(dest);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_GT(backup->pages, 0);
  EXPECT_FALSE(std::filesystem::exists(dest + "/.part-0"));
  // Into a directory that is not empty: refused, and nothing of it touched.
  auto again = split->BackupTo(dest);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kInvalidArgument);
  {
    auto restored = OpenSplit(dest, 2);
    ASSERT_NE(restored, nullptr);
    for (std::size_t k = 0; k < 2; ++k) {
      std::map<std::string, std::string> got;
      Collect(restored->part(k), &got);
      EXPECT_EQ(got, before[k]) << "part " << k;
    }
    EXPECT_TRUE(restored->CheckConsistency().ok());
  }

  auto compacted = split->Compact();
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_GT(compacted->bytes_before, 0);
  for (std::size_t k = 0; k < 2; ++k) {
    std::map<std::string, std::string> after;
    Collect(split->part(k), &after);
    EXPECT_EQ(after, before[k]) << "part " << k;
  }
  EXPECT_TRUE(split->Check().empty());

  std::map<std::string, int> exported;
  std::int64_t at_ms = -1;
  ASSERT_TRUE(split
                  ->ExportSnapshot(
                      {}, std::nullopt,
                      [&](std::string_view type, std::string_view) {
                        ++exported[std::string(type)];
                        return Status::Ok();
                      },
                      &at_ms)
                  .ok());
  std::map<std::string, int> expected;
  for (const auto& part : before)
    for (const auto& [key, value] : part)
      ++expected[key.substr(0, key.find('/'))];
  EXPECT_EQ(exported, expected);
  EXPECT_GT(at_ms, 0);  // the snapshots' time (the system clock's)
}

TEST(SplitStore, TheChangesOfEveryPartReachOneWatcherOneCallAtATime) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  std::mutex mu;
  std::map<std::string, std::int64_t> seen;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  split->WatchChanges({"Patient"}, [&](std::vector<StoreChange>&& changes) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const StoreChange& c : changes)
        seen[c.id] = c.version;
    }
    inside.fetch_sub(1);
  });
  for (int round = 0; round < 5; ++round) {
    std::vector<PutRequest> batch;
    for (int i = 0; i < 40; ++i) {
      const std::string id = std::string("w").append(std::to_string(i));
      batch.push_back({"Patient", id, Patient(id, std::to_string(round)), std::nullopt});
    }
    batch.push_back({"Device", "d", R"({"resourceType":"Device","id":"d"})", std::nullopt});
    auto wrote = split->PutMany(std::move(batch));
    ASSERT_TRUE(wrote.ok());
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 40u);  // both parts' Patients, no Device
  for (const auto& [id, version] : seen)
    EXPECT_EQ(version, 5) << id;
  EXPECT_FALSE(overlapped);
}

// 200 Observations for the searches: dates over seven hours (every eleventh
// without one), five patients, values 0-99; written in a shuffled order of
// their ids, in four batches.
void WriteObservations(FhirClient* store) {
  for (int b = 0; b < 4; ++b) {
    std::vector<PutRequest> batch;
    for (int j = b * 50; j < (b + 1) * 50; ++j) {
      const int i = (j * 37) % 200;
      const std::string id = std::string("o").append(std::to_string(i));
      std::string json =
          R"({"resourceType":"Observation","id":")" + id +
          R"(","status":"final","code":{"coding":[{"system":"urn:c","code":"hr"}]},"subject":{"reference":"Patient/p)" +
          std::to_string(i % 5) + R"("},"valueQuantity":{"value":)" + std::to_string(i % 100) + "}";
      if (i % 11 != 0) json += R"(,"effectiveDateTime":"2023-10-09T0)" + std::to_string(i % 7) + R"(:00:00Z")";
      json += "}";
      batch.push_back({"Observation", id, json, std::nullopt});
    }
    auto wrote = store->PutMany(std::move(batch));
    ASSERT_TRUE(wrote.ok()) << wrote.status().ToString();
    for (const auto& r : *wrote)
      ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

// The text of `"name":"..."` in `json`; empty when it has none.
std::string Member(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const std::size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const std::size_t from = at + key.size();
  return json.substr(from, json.find('"', from) - from);
}

using Searcher = std::function<Result<SearchPage>(const std::string& query)>;

// Every match of `query`, a page of `count` at a time, following the pages
// by _offset or by _cursor; each page's _total checked against `total`.
std::vector<Resource> Walk(const Searcher& search, const std::string& query, std::size_t count, bool by_cursor,
                           std::int64_t total) {
  std::vector<Resource> all;
  std::string next = query + (query.empty() ? "" : "&") + "_count=" + std::to_string(count);
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = search(next);
    EXPECT_TRUE(page.ok()) << next << ": " << page.status().ToString();
    if (!page.ok()) break;
    EXPECT_EQ(page->total, total) << next;
    EXPECT_LE(page->resources.size(), count);
    for (Resource& r : page->resources)
      all.push_back(std::move(r));
    if (!page->next_offset) break;
    if (by_cursor) {
      EXPECT_FALSE(page->next_cursor.empty()) << next;
      next = query + (query.empty() ? "" : "&") + "_count=" + std::to_string(count) + "&_cursor=" + page->next_cursor;
    } else {
      next = query + (query.empty() ? "" : "&") + "_count=" + std::to_string(count) +
             "&_offset=" + std::to_string(*page->next_offset);
    }
  }
  return all;
}

std::vector<std::string> Ids(const std::vector<Resource>& resources) {
  std::vector<std::string> ids;
  for (const Resource& r : resources)
    ids.push_back(r.id);
  return ids;
}

TEST(SplitStore, ASearchMergesThePartsInTheOrderOfItsSortThenByPart) {
  TempDir one_dir, split_dir;
  auto one = EmbeddedStore::Open(one_dir.path());
  ASSERT_TRUE(one.ok());
  auto split = OpenSplit(split_dir.path(), 2);
  ASSERT_NE(split, nullptr);
  WriteObservations(one->get());
  WriteObservations(split.get());
  struct Sort {
    std::string query;
    std::string member;  // the JSON member of the key; empty: no sort
    bool desc;
  };
  for (const Sort& sort : std::vector<Sort>{{"", "", false},
                                            {"_sort=_id", "id", false},
                                            {"_sort=-_id", "id", true},
                                            {"_sort=date", "effectiveDateTime", false},
                                            {"_sort=-date", "effectiveDateTime", true},
                                            {"_sort=_lastUpdated", "lastUpdated", false},
                                            {"_sort=-_lastUpdated", "lastUpdated", true}}) {
    SCOPED_TRACE(sort.query);
    const std::string all = sort.query + (sort.query.empty() ? "" : "&") + "_count=1000";
    auto want = (*one)->Search("Observation", all);
    auto got = split->Search("Observation", all);
    ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
    EXPECT_EQ(got->total, 200);
    ASSERT_EQ(got->resources.size(), 200u);
    std::vector<std::string> want_ids = Ids(want->resources), got_ids = Ids(got->resources);
    if (sort.member == "id") {
      EXPECT_EQ(got_ids, want_ids);  // unique keys: the same order
    }
    std::sort(want_ids.begin(), want_ids.end());
    std::vector<std::string> sorted = got_ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, want_ids);
    // In the sort's order (no key, NULL, first ascending and last
    // descending); equal keys by part.
    for (std::size_t i = 1; i < got->resources.size(); ++i) {
      const std::string a = sort.member.empty() ? "" : Member(got->resources[i - 1].json, sort.member);
      const std::string b = sort.member.empty() ? "" : Member(got->resources[i].json, sort.member);
      if (a != b) {
        const bool in_order = sort.desc ? (b.empty() || (!a.empty() && a > b)) : (a.empty() || (!b.empty() && a < b));
        EXPECT_TRUE(in_order) << got_ids[i - 1] << " (" << a << ") before " << got_ids[i] << " (" << b << ")";
      } else {
        EXPECT_LE(split->PartOf("Observation", got_ids[i - 1]), split->PartOf("Observation", got_ids[i]))
            << got_ids[i - 1] << " before " << got_ids[i];
      }
    }
  }
  // Several keys: each in turn. Unique together, so in the one-file
  // store's order exactly; paged by _offset alike.
  const Searcher search = [&](const std::string& q) { return split->Search("Observation", q); };
  for (const std::string query : {"_sort=date,_id", "_sort=-date,_id", "_sort=-date,-_id"}) {
    SCOPED_TRACE(query);
    auto want = (*one)->Search("Observation", query + "&_count=1000");
    auto got = split->Search("Observation", query + "&_count=1000");
    ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
    EXPECT_EQ(Ids(got->resources), Ids(want->resources));
    EXPECT_EQ(Ids(Walk(search, query, 13, false, 200)), Ids(want->resources));
  }
  // The parameters go to every part as they are; the totals add up.
  for (const std::string query : {"subject=Patient/p3", "date=ge2023-10-09T03:00:00Z&_sort=date", "value-quantity=gt60",
                                  "code=urn:c|hr&_summary=count", "_total=none&subject=Patient/p1"}) {
    SCOPED_TRACE(query);
    auto want = (*one)->Search("Observation", query + "&_count=1000");
    auto got = split->Search("Observation", query + "&_count=1000");
    ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
    EXPECT_EQ(got->total, want->total);
    EXPECT_EQ(got->total_known, want->total_known);
    EXPECT_EQ(got->count_only, want->count_only);
    std::vector<std::string> want_ids = Ids(want->resources), got_ids = Ids(got->resources);
    std::sort(want_ids.begin(), want_ids.end());
    std::sort(got_ids.begin(), got_ids.end());
    EXPECT_EQ(got_ids, want_ids);
  }
}

TEST(SplitStore, PagingThroughASplitStoreGivesEveryMatchOnceInOrder) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  WriteObservations(split.get());
  const Searcher search = [&](const std::string& q) { return split->Search("Observation", q); };
  for (const std::string query : {"", "_sort=date", "_sort=-_lastUpdated", "_sort=_id",
                                  "subject=Patient/p2&_sort=-date", "value-quantity=lt30"}) {
    SCOPED_TRACE(query);
    auto whole = split->Search("Observation", query + (query.empty() ? "" : "&") + "_count=1000");
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    const std::vector<std::string> want = Ids(whole->resources);
    EXPECT_FALSE(want.empty());
    for (std::size_t count : {1u, 7u, 50u}) {
      EXPECT_EQ(Ids(Walk(search, query, count, false, whole->total)), want) << "by _offset, " << count;
      // A search evaluated on JSON pages by _offset alone.
      if (query.rfind("value-quantity", 0) == 0) continue;
      EXPECT_EQ(Ids(Walk(search, query, count, true, whole->total)), want) << "by _cursor, " << count;
    }
  }
  // The last page's offset, as a store of one file gives it.
  auto page = split->Search("Observation", "_count=7");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->last_offset, std::optional<std::size_t>(196));
  EXPECT_EQ(page->next_offset, std::optional<std::size_t>(7));
}

TEST(SplitStore, WhatThePartsRefuseASearchOfThemRefusesAlike) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  WriteObservations(split.get());
  // What the parts refuse, they say, as a store of one file does.
  auto count = split->Search("Observation", "_count=many");
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("not a number"), std::string::npos) << count.status().message();
  auto deep = split->Search("Observation", "_offset=100001");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), StatusCode::kOutOfRange);
  for (const std::string bad : {"12", "1_2_3", "1_2%26code%3Dx"}) {
    auto cursor = split->Search("Observation", "_cursor=" + bad);
    ASSERT_FALSE(cursor.ok()) << bad;
    EXPECT_EQ(cursor.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(cursor.status().message().find("is not one this search gave"), std::string::npos)
        << bad << ": " << cursor.status().message();
  }
  auto filtered = split->Search("Observation", "value-quantity=lt30&_cursor=1_1");
  ASSERT_FALSE(filtered.ok());
  // The searchset Bundle of a merged page links the next one by cursor.
  auto bundle = split->SearchBundle("Observation", "_sort=date&_count=3", "http://localhost/fhir");
  ASSERT_TRUE(bundle.ok()) << bundle.status().ToString();
  EXPECT_NE(bundle->find("_cursor="), std::string::npos) << *bundle;
  EXPECT_NE(bundle->find(R"("total":200)"), std::string::npos);
}

TEST(SplitStore, TheHistoryOfATypeOrOfTheStoreIsMergedNewestFirst) {
  TempDir dir;
  // A clock that moves a millisecond a write, and stands still for a while:
  // both distinct and equal times across the parts.
  auto ticks = std::make_shared<std::atomic<std::int64_t>>(0);
  EmbeddedStoreOptions options;
  options.clock_ms = [ticks] { return kClockMs + ticks->fetch_add(1) / 3; };
  auto opened = SplitStore::Open(dir.path(), 2, options);
  ASSERT_TRUE(opened.ok());
  auto& split = *opened;
  WriteObservations(split.get());
  for (int i = 0; i < 40; ++i) {
    const std::string id = std::string("o").append(std::to_string(i));
    ASSERT_TRUE(split->Update("Observation", id, Observation(id, "again"), std::nullopt).ok());
  }
  ASSERT_TRUE(split->Update("Patient", "p1", Patient("p1", "x"), std::nullopt).ok());
  ASSERT_TRUE(split->Delete("Observation", "o7").ok());
  ASSERT_TRUE(split->Flush().ok());

  auto whole = split->TypeHistory("Observation", "_count=1000");
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ASSERT_EQ(whole->entries.size(), 241u);  // 200 + 40 updates + a deletion
  for (std::size_t i = 1; i < whole->entries.size(); ++i) {
    const HistoryEntry& a = whole->entries[i - 1];
    const HistoryEntry& b = whole->entries[i];
    ASSERT_GE(a.updated_ms, b.updated_ms) << i;
    if (a.updated_ms == b.updated_ms) {
      EXPECT_LE(split->PartOf("Observation", a.id), split->PartOf("Observation", b.id)) << i;
    }
  }
  EXPECT_TRUE(whole->entries[0].deleted);
  EXPECT_EQ(whole->entries[0].id, "o7");
  EXPECT_FALSE(whole->next_offset);
  // Each part's history is in the merge, entry for entry.
  std::size_t from_parts = 0;
  for (std::size_t k = 0; k < 2; ++k) {
    auto part = split->part(k).TypeHistory("Observation", "_count=1000");
    ASSERT_TRUE(part.ok());
    from_parts += part->entries.size();
  }
  EXPECT_EQ(from_parts, whole->entries.size());
  // Paged by _offset: the same entries.
  std::vector<std::string> paged;
  for (std::size_t offset = 0;;) {
    auto page = split->TypeHistory("Observation", "_count=9&_offset=" + std::to_string(offset));
    ASSERT_TRUE(page.ok());
    for (const HistoryEntry& e : page->entries)
      paged.push_back(e.id + "/" + e.version_id);
    if (!page->next_offset) break;
    offset = *page->next_offset;
  }
  std::vector<std::string> want;
  for (const HistoryEntry& e : whole->entries)
    want.push_back(e.id + "/" + e.version_id);
  EXPECT_EQ(paged, want);
  // The store's history holds the Patient too; _since goes to the parts.
  auto all = split->TypeHistory("", "_count=1000");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->entries.size(), 242u);
  EXPECT_EQ(std::count_if(all->entries.begin(), all->entries.end(),
                          [](const HistoryEntry& e) { return e.type == "Patient"; }),
            1);
  auto since = split->TypeHistory("", "_since=" + whole->entries[10].last_updated + "&_count=1000");
  ASSERT_TRUE(since.ok());
  const std::int64_t from = whole->entries[10].updated_ms;
  const auto newer = std::count_if(all->entries.begin(), all->entries.end(),
                                   [&](const HistoryEntry& e) { return e.updated_ms >= from; });
  EXPECT_EQ(static_cast<std::ptrdiff_t>(since->entries.size()), newer);
  EXPECT_LT(since->entries.size(), 242u);
  auto bad = split->TypeHistory("Observation", "_count=all");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a number"), std::string::npos);
  auto unknown = split->TypeHistory("Observation", "_sort=date");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("Unknown history parameter"), std::string::npos);
}

TEST(SplitStore, IncludesComeFromEveryPartAndTheMatchesAreCutDownAfter) {
  TempDir one_dir, split_dir;
  auto one = EmbeddedStore::Open(one_dir.path(), FixedClock());
  ASSERT_TRUE(one.ok());
  auto split = OpenSplit(split_dir.path(), 2);
  ASSERT_NE(split, nullptr);
  std::set<std::size_t> patient_parts;
  for (int i = 0; i < 5; ++i) {
    const std::string id = std::string("p").append(std::to_string(i));
    ASSERT_TRUE((*one)->Update("Patient", id, Patient(id, id), std::nullopt).ok());
    ASSERT_TRUE(split->Update("Patient", id, Patient(id, id), std::nullopt).ok());
    patient_parts.insert(split->PartOf("Patient", id));
  }
  ASSERT_EQ(patient_parts.size(), 2u);  // the Patients are in both parts
  WriteObservations(one->get());
  WriteObservations(split.get());
  auto keys = [](const SearchPage& page) {
    std::vector<std::string> out;
    for (const auto& [type, r] : page.included)
      out.push_back(type + "/" + r.id);
    std::sort(out.begin(), out.end());
    return out;
  };
  for (const std::string query :
       {"_include=Observation:subject&_sort=_id&_count=20", "_include=Observation:patient&_sort=-_id&_count=3",
        "_include=Observation:subject&_elements=code&_sort=_id&_count=20",
        "_include=Observation:subject&_summary=true&_sort=_id&_count=20&_offset=40"}) {
    SCOPED_TRACE(query);
    auto want = (*one)->Search("Observation", query);
    auto got = split->Search("Observation", query);
    ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
    EXPECT_FALSE(got->included.empty());
    EXPECT_EQ(keys(*got), keys(*want));
    ASSERT_EQ(got->resources.size(), want->resources.size());
    for (std::size_t i = 0; i < got->resources.size(); ++i)
      EXPECT_EQ(got->resources[i].json, want->resources[i].json);  // cut down alike
  }
  auto want = (*one)->Search("Patient", "_revinclude=Observation:subject&_id=p1,p4");
  auto got = split->Search("Patient", "_revinclude=Observation:subject&_id=p1,p4");
  ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
  EXPECT_EQ(got->included.size(), 80u);  // every fifth Observation refers to each
  EXPECT_EQ(keys(*got), keys(*want));
  // What the parts refuse, they say; leniently, the warning comes along.
  auto unknown = split->Search("Observation", "_include=Observation:performer");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  SearchOptions lenient;
  lenient.lenient = true;
  auto ignored = split->Search("Observation", "_include=Observation:performer&_count=5", lenient);
  ASSERT_TRUE(ignored.ok()) << ignored.status().ToString();
  EXPECT_EQ(ignored->resources.size(), 5u);
  EXPECT_EQ(ignored->warnings.size(), 1u);
  EXPECT_TRUE(ignored->included.empty());
}

TEST(SplitStore, ConditionalWritesMatchInEveryPartUnderEveryPartsLock) {
  TempDir dir;
  auto split = OpenSplit(dir.path(), 2);
  ASSERT_NE(split, nullptr);
  const std::string in1 = IdInPart(*split, "Patient", 1, "c-");
  ASSERT_TRUE(split->Update("Patient", in1, Patient(in1, "x1"), std::nullopt).ok());

  // If-None-Exist: the match in part 1 is the answer, whichever part is next.
  for (int i = 0; i < 2; ++i) {
    auto found = split->CreateWhereNone("Patient", Patient("new", "x1"), "identifier=urn:p|x1");
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_FALSE(found->created);
    EXPECT_EQ(found->resource.id, in1);
  }
  auto made = split->CreateWhereNone(
      "Patient", R"({"resourceType":"Patient","identifier":[{"system":"urn:p","value":"x2"}]})", "identifier=urn:p|x2");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(made->created);
  EXPECT_TRUE(split->ReadCurrent("Patient", made->resource.id).ok());

  // A conditional update of the match in its part.
  auto updated =
      split->UpdateWhere("Patient", "identifier=urn:p|x1",
                         R"({"resourceType":"Patient","active":true,"identifier":[{"system":"urn:p","value":"x1"}]})");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->resource.id, in1);
  EXPECT_EQ(updated->resource.version_id, "2");
  // None matches: at the JSON's id, in its part.
  const std::string in0 = IdInPart(*split, "Patient", 0, "d-");
  auto at_id = split->UpdateWhere("Patient", "identifier=urn:p|x3", Patient(in0, "x3"));
  ASSERT_TRUE(at_id.ok()) << at_id.status().ToString();
  EXPECT_TRUE(at_id->created);
  EXPECT_TRUE(split->part(0).ReadCurrent("Patient", in0).ok());

  // Two matches in two parts: the condition matches more than one.
  const std::string twin = IdInPart(*split, "Patient", 0, "twin-");
  ASSERT_TRUE(split->Update("Patient", twin, Patient(twin, "x1"), std::nullopt).ok());
  for (const auto& status :
       {split->UpdateWhere("Patient", "identifier=urn:p|x1", Patient(twin, "x1")).status(),
        split->CreateWhereNone("Patient", Patient("z", "x1"), "identifier=urn:p|x1").status(),
        split->PatchWhere("Patient", "identifier=urn:p|x1", R"([{"op":"add","path":"/active","value":false}])")
            .status(),
        Status(split->DeleteWhere("Patient", "identifier=urn:p|x1").status())}) {
    EXPECT_EQ(status.code(), StatusCode::kConflict) << status.ToString();
    EXPECT_EQ(status.detail(), "precondition");
    EXPECT_NE(status.message().find("2 resources match 'identifier=urn:p|x1'"), std::string::npos) << status.message();
  }
  // Patch and delete the one match, wherever it is.
  auto patched =
      split->PatchWhere("Patient", "identifier=urn:p|x3", R"([{"op":"add","path":"/active","value":false}])");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ(patched->resource.id, in0);
  auto none = split->PatchWhere("Patient", "identifier=urn:p|nobody", "[]");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  auto deleted = split->DeleteWhere("Patient", "identifier=urn:p|x3");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  auto nothing = split->DeleteWhere("Patient", "identifier=urn:p|x3");
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(*nothing);
  // A condition about the answer is refused, as in one file.
  EXPECT_EQ(split->DeleteWhere("Patient", "_count=1").status().code(), StatusCode::kInvalidArgument);

  // Threads creating the same Patient at once, into parts in turn: one is
  // created, every thread gets it.
  std::vector<std::thread> threads;
  std::vector<std::string> ids(8);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      auto r = split->CreateWhereNone("Patient",
                                      R"({"resourceType":"Patient","identifier":[{"system":"urn:p","value":"once"}]})",
                                      "identifier=urn:p|once");
      if (r.ok()) ids[t] = r->resource.id;
    });
  }
  for (std::thread& t : threads)
    t.join();
  for (const std::string& id : ids)
    EXPECT_EQ(id, ids[0]);
  auto once = split->Search("Patient", "identifier=urn:p|once");
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->total, 1);
  EXPECT_TRUE(split->CheckConsistency().ok());
}

}  // namespace
}  // namespace iomt::store
