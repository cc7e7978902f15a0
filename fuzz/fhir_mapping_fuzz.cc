// Fuzzes the FHIR-mapping loader: any text must load or be refused with
// errors, never crash; what loads converts a fixed set of measurements
// (every value type and period may come out of the fuzzer's mapping).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhir/fhir_mapping.h"
#include "pipeline/transform.h"
#include "store/memory/memory_client.h"

namespace {

std::vector<iomt::OwnedMeasurement> Measurements() {
  std::vector<iomt::OwnedMeasurement> out;
  const char* types[] = {"heartrate", "bloodpressure", "steps", "alarm", "a"};
  std::int64_t t = 16'000'000'000'000'000;  // 2020
  for (int i = 0; i < 10; ++i) {
    iomt::OwnedMeasurement m;
    m.type = types[i % 5];
    m.occurrence_ticks = t + i * 7'000'000'000LL;
    m.device_id = "d" + std::to_string(i % 2);
    m.patient_id = "p";
    m.correlation_id = "c";
    for (const char* name : {"hr", "systolic", "diastolic", "steps", "alarm", "v"}) {
      m.properties.push_back({name, i % 3 == 0 ? "x y" : std::to_string(60 + i)});
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)iomt::fhir::LoadCodeValueFhirTemplate(text);
  iomt::fhir::FhirLoadResult r = iomt::fhir::LoadFhirMapping(text);
  for (const auto& e : r.errors)
    (void)e.ToIomtFhirString();
  if (!r.ok()) return 0;
  for (const auto& t : r.mapping.templates)
    (void)iomt::fhir::DescribeJson(t);
  iomt::store::MemoryFhirClient client;
  iomt::identity::IdentityResolver resolver(&client, {});
  iomt::fhir::ObservationWriter writer(&client);
  iomt::pipeline::PipelineStats stats;
  iomt::pipeline::GroupConverter converter(r.mapping, &resolver, &writer, &stats);
  for (int round = 0; round < 2; ++round) {  // the second round merges
    for (const auto& g : iomt::group::GroupBatch(Measurements()))
      (void)converter.Convert(g, 0);
  }
  return 0;
}
