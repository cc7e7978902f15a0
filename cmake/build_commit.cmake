# Writes OUT (a C++ file defining iomt::cli::BuildCommit) with the git commit
# the sources are at: run at every build (target iomt_build_commit), so that
# `iomt --version` names the commit of the build, not of the last configure.
# The file is rewritten only when the text changes, so an unchanged commit
# relinks nothing. Outside a git checkout (a source tarball) IOMT_COMMIT from
# the environment names it, else "unknown". A checkout with changes not
# committed is marked "-dirty".
cmake_minimum_required(VERSION 3.25)
set(commit "$ENV{IOMT_COMMIT}")
if(commit STREQUAL "" AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(commit "")
  else()
    execute_process(COMMAND git -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes ERROR_QUIET)
    if(NOT changes STREQUAL "")
      string(APPEND commit "-dirty")
    endif()
  endif()
endif()
if(commit STREQUAL "")
  set(commit "unknown")
endif()
set(text "// Written by cmake/build_commit.cmake at build time: not a source file.\n#include \"version.h\"\n\nnamespace iomt::cli {\nconst char* BuildCommit() { return \"${commit}\"; }\n}  // namespace iomt::cli\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
