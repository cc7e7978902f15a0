// `iomt store`: placeholder until the embedded store lands (issue 5).
#include "commands.h"

namespace iomt::cli {

Runner RegisterStore(CLI::App& app) {
  (void)app;
  return [] { return kExitUsage; };
}

}  // namespace iomt::cli
