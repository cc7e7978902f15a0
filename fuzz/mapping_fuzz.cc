// Fuzzes the device-mapping loader: any text must load or be refused with
// errors (each with a position), never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "normalize/device_mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  iomt::normalize::LoadResult strict = iomt::normalize::LoadDeviceMapping(text);
  iomt::normalize::LoadOptions lenient;
  lenient.keep_incomplete_templates = true;
  iomt::normalize::LoadResult kept = iomt::normalize::LoadDeviceMapping(text, lenient);
  for (const auto& e : strict.errors)
    (void)e.ToIomtFhirString();
  (void)kept;
  return 0;
}
