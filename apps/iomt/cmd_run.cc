// `iomt run`: placeholder until the destinations land (issue 5).
#include "commands.h"

namespace iomt::cli {

Runner RegisterRun(CLI::App& app) {
  (void)app;
  return [] { return kExitUsage; };
}

}  // namespace iomt::cli
