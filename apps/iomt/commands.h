// The subcommands of `iomt`: each registers its flags on the CLI11 app and
// returns the process exit code (docs/cli.md: 0 ok, 1 invalid input
// or errors, 2 usage, 3 an external system failed).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace iomt::cli {

enum ExitCode : int { kExitOk = 0, kExitInvalid = 1, kExitUsage = 2, kExitExternal = 3 };

using Runner = std::function<int()>;

// Each returns the function that runs the subcommand once flags are parsed.
Runner RegisterEval(CLI::App& app);
Runner RegisterValidate(CLI::App& app);
Runner RegisterNormalize(CLI::App& app);
Runner RegisterTransform(CLI::App& app);
Runner RegisterRun(CLI::App& app);
Runner RegisterTest(CLI::App& app);
Runner RegisterStore(CLI::App& app);
Runner RegisterServe(CLI::App& app);
Runner RegisterMappings(CLI::App& app);
Runner RegisterSupportBundle(CLI::App& app);
Runner RegisterAuth(CLI::App& app);

}  // namespace iomt::cli
