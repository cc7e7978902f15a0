#!/usr/bin/env bash
# clang-tidy over the project's sources (checks in .clang-tidy), in parallel.
# Prints the findings and fails if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P "$(nproc)" -n 2 clang-tidy -p build/release --quiet >"$log" 2>&1 || true
if grep -qE '(warning|error):' "$log"; then
  grep -vE 'warnings? generated|Suppressed|Use -header-filter|-system-headers' "$log"
  echo "clang-tidy: findings above"
  exit 1
fi
echo "clang-tidy: clean"
