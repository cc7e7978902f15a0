#!/usr/bin/env bash
# clang-tidy over the project's sources (checks in .clang-tidy), in parallel.
# Prints the findings and fails if there are any. -Wthread-safety: the locking
# annotations (src/common/mutex.h) are checked here too, on the GCC build's
# compile commands.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
db=$(mktemp -d)
trap 'rm -rf "$log" "$db"' EXIT
# The build's precompiled headers are GCC's (.gch), which clang cannot read:
# the commands lose their `-include` of them (each file includes what it
# needs itself).
jq '[.[] | .command |= gsub(" -Winvalid-pch -include [^ ]*cmake_pch\\.hxx"; "")]' \
  build/release/compile_commands.json > "$db/compile_commands.json"
git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P "$(nproc)" -n 2 clang-tidy -p "$db" --quiet --extra-arg=-Wthread-safety >"$log" 2>&1 || true
if grep -qE '(warning|error):' "$log"; then
  grep -vE 'warnings? generated|Suppressed|Use -header-filter|-system-headers' "$log"
  echo "clang-tidy: findings above"
  exit 1
fi
echo "clang-tidy: clean"
