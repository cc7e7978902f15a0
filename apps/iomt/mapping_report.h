// Loading mapping files for the subcommands, and printing their problems the
// way compilers do ("file:line:column: error: message").
#pragma once

#include <string>
#include <vector>

#include "fhir/fhir_mapping.h"
#include "normalize/device_mapping.h"

namespace iomt::cli {

struct LoadedDeviceMapping {
  bool loaded = false;  // false: the problems were printed; exit with exit_code
  int exit_code = 0;
  normalize::LoadResult result;
};

// Reads and validates a device mapping; on any problem prints them all to
// stderr and returns loaded = false.
LoadedDeviceMapping LoadDeviceMappingOrReport(const std::string& path);

struct LoadedFhirMapping {
  bool loaded = false;  // false: the problems were printed; exit with exit_code
  int exit_code = 0;
  fhir::FhirLoadResult result;
};

// Reads and validates a FHIR mapping; its warnings are printed, and on any
// error all of them, with loaded = false.
LoadedFhirMapping LoadFhirMappingOrReport(const std::string& path);

// "path:line:column: error: message", one line each.
void PrintMappingErrors(const std::string& path, const std::vector<normalize::MappingError>& errors,
                        const char* severity = "error");

}  // namespace iomt::cli
