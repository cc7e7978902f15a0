// Fuzzes the embedded store's FHIR REST surface, which `iomt serve` exposes
// under /fhir: search query strings, batch/transaction Bundles, and resource
// bodies for create and update. One store lives for the whole run (in a
// temporary directory), so inputs act on what earlier inputs wrote. Nothing
// may crash, and every thousandth input the store must pass its own
// consistency check (index rows equal to the resources, versions contiguous).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "store/embedded/embedded_store.h"

namespace {

iomt::store::EmbeddedStore& Store() {
  static std::unique_ptr<iomt::store::EmbeddedStore> store = [] {
    char dir[] = "/tmp/iomt-store-fuzz-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    auto opened = iomt::store::EmbeddedStore::Open(dir);
    if (!opened.ok()) std::abort();
    return std::move(opened).value();
  }();
  return *store;
}

constexpr std::string_view kTypes[] = {"Observation", "Patient", "Device", "Encounter"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  iomt::store::EmbeddedStore& store = Store();
  const std::string_view type = kTypes[data[1] % 4];
  const std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (data[0] % 6) {
    case 0: (void)store.Search(type, rest); break;
    case 1: (void)store.SearchBundle(type, rest, "http://localhost/fhir"); break;
    case 2: (void)store.ProcessBundle(rest, "http://localhost/fhir"); break;
    case 3: (void)store.Update(type, "fuzz-1", rest, std::nullopt); break;
    case 4: (void)store.Create(type, rest, std::string_view("identifier=a|b")); break;
    default: {
      (void)store.Put(type, "fuzz-2", rest, std::nullopt);
      (void)store.Flush();
      break;
    }
  }
  static int runs = 0;
  if (++runs % 1000 == 0) {
    if (iomt::Status st = store.CheckConsistency(); !st.ok()) {
      std::fprintf(stderr, "inconsistent store: %s\n", st.ToString().c_str());
      std::abort();
    }
  }
  return 0;
}
