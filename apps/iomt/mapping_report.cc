#include "mapping_report.h"

#include <cstdio>

#include "commands.h"
#include "io.h"

namespace iomt::cli {

void PrintMappingErrors(const std::string& path, const std::vector<normalize::MappingError>& errors,
                        const char* severity) {
  for (const normalize::MappingError& e : errors) {
    if (e.pos.line > 0) {
      std::fprintf(stderr, "%s:%d:%d: %s: %s\n", path.c_str(), e.pos.line, e.pos.column, severity, e.message.c_str());
    } else {
      std::fprintf(stderr, "%s: %s: %s\n", path.c_str(), severity, e.message.c_str());
    }
  }
}

LoadedDeviceMapping LoadDeviceMappingOrReport(const std::string& path) {
  LoadedDeviceMapping out;
  auto text = ReadWholeFile(path);
  if (!text) {
    std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
    out.exit_code = kExitUsage;
    return out;
  }
  out.result = normalize::LoadDeviceMapping(*text);
  if (!out.result.ok()) {
    PrintMappingErrors(DisplayName(path), out.result.errors);
    std::fprintf(stderr, "%s: invalid device mapping (%zu error%s)\n", DisplayName(path).c_str(),
                 out.result.errors.size(), out.result.errors.size() == 1 ? "" : "s");
    out.exit_code = kExitInvalid;
    return out;
  }
  out.loaded = true;
  return out;
}

LoadedFhirMapping LoadFhirMappingOrReport(const std::string& path) {
  LoadedFhirMapping out;
  auto text = ReadWholeFile(path);
  if (!text) {
    std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
    out.exit_code = kExitUsage;
    return out;
  }
  out.result = fhir::LoadFhirMapping(*text);
  if (!out.result.ok()) {
    PrintMappingErrors(DisplayName(path), out.result.errors);
    std::fprintf(stderr, "%s: invalid FHIR mapping (%zu error%s)\n", DisplayName(path).c_str(),
                 out.result.errors.size(), out.result.errors.size() == 1 ? "" : "s");
    out.exit_code = kExitInvalid;
    return out;
  }
  PrintMappingErrors(DisplayName(path), out.result.warnings, "warning");
  out.loaded = true;
  return out;
}

}  // namespace iomt::cli
