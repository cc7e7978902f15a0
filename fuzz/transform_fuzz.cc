// Fuzzes the convert stage with measurements: NDJSON lines through a mapping
// with every value type and period, in batches of two so that later batches
// merge into earlier Observations. Nothing may crash, and every resource
// written must stay parseable JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/json/document.h"
#include "fhir/fhir_mapping.h"
#include "pipeline/transform.h"
#include "store/memory/memory_client.h"

namespace {

const iomt::fhir::FhirMapping& Mapping() {
  static const iomt::fhir::FhirLoadResult loaded = [] {
    std::ifstream in(IOMT_SOURCE_DIR "/tests/fhir/data/all-types-mapping.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return iomt::fhir::LoadFhirMapping(ss.str());
  }();
  if (!loaded.ok()) std::abort();
  return loaded.mapping;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  iomt::store::MemoryFhirClient client;
  iomt::identity::IdentityResolver resolver(&client, {});
  iomt::fhir::ObservationWriter writer(&client);
  iomt::pipeline::PipelineStats stats;
  iomt::pipeline::GroupConverter converter(Mapping(), &resolver, &writer, &stats);
  iomt::json::Document doc;
  std::vector<iomt::OwnedMeasurement> batch;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    iomt::OwnedMeasurement m;
    if (doc.Parse(std::string_view(text).substr(start, end - start)).ok() &&
        iomt::ReadMeasurementJson(doc.root(), &m).ok()) {
      batch.push_back(std::move(m));
    }
    if (batch.size() == 2) {
      for (const auto& g : iomt::group::GroupBatch(std::move(batch)))
        (void)converter.Convert(g, 0);
      batch.clear();
    }
    start = end + 1;
  }
  for (const auto& g : iomt::group::GroupBatch(std::move(batch)))
    (void)converter.Convert(g, 0);
  client.ForEach([&](std::string_view, const iomt::store::Resource& resource) {
    if (!doc.Parse(resource.json).ok()) std::abort();
  });
  return 0;
}
