#!/usr/bin/env bash
# The dependency audit (scripts/dep-audit.sh) catches a missing package: run
# against a copy of scripts/install-deps.sh's list with needed packages taken
# out, it must fail and name each one with a file it provides. One package of
# each kind the audit reads: headers and a library (libre2-dev), a program the
# scripts run (jq), a program CMake found for the tests (mosquitto).
# Usage: dep_audit_test.sh BUILD_DIR (a built CMake build directory)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: dep_audit_test.sh BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

./scripts/install-deps.sh --list all > "$tmp/all"
for p in libre2-dev jq mosquitto; do
  grep -qx "$p" "$tmp/all" || { echo "FAIL: $p is not in install-deps.sh's list any more: update this test"; exit 1; }
done
grep -vx -e libre2-dev -e jq -e mosquitto "$tmp/all" > "$tmp/fewer"

./scripts/dep-audit.sh --quiet --build "$build" --packages "$tmp/fewer" > "$tmp/out" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
  echo "FAIL: the audit exited $rc with three needed packages removed (want 1)"
  failures=$((failures + 1))
fi
check() { # check PACKAGE FILE: the report names the file and its package
  if grep -q "^  $2 is in .*\\b$1\\b" "$tmp/out"; then
    echo "ok   names $2 ($1)"
  else
    echo "FAIL: the report does not name $2 in $1"
    failures=$((failures + 1))
  fi
}
check libre2-dev /usr/include/re2/re2.h
check jq /usr/bin/jq
check mosquitto /usr/sbin/mosquitto
# Nothing else: the three packages are all that was removed. (What the full
# list already reports on this machine is left to the audit's own run in CI.)
./scripts/dep-audit.sh --quiet --build "$build" > "$tmp/full" 2>&1
others=$(grep '^  /' "$tmp/out" | grep -v -e 'libre2' -e '/jq ' -e 'mosquitto' | grep -vxF -f <(grep '^  /' "$tmp/full") || true)
if [ -n "$others" ]; then
  echo "FAIL: the report names files of packages that were not removed:"
  echo "$others"
  failures=$((failures + 1))
fi
[ $failures -eq 0 ] || { echo "--- the audit said:"; cat "$tmp/out"; }
exit $((failures > 0))
