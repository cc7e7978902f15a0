#!/usr/bin/env bash
# clang-tidy over the project's sources (checks in .clang-tidy), in parallel.
# Prints the findings and fails if there are any. -Wthread-safety: the locking
# annotations (src/common/mutex.h) are checked here too, on the GCC build's
# compile commands.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P "$(nproc)" -n 2 clang-tidy -p build/release --quiet --extra-arg=-Wthread-safety >"$log" 2>&1 || true
if grep -qE '(warning|error):' "$log"; then
  grep -vE 'warnings? generated|Suppressed|Use -header-filter|-system-headers' "$log"
  echo "clang-tidy: findings above"
  exit 1
fi
echo "clang-tidy: clean"
