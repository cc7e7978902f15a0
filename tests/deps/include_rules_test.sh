#!/usr/bin/env bash
# The dependency rule between the stages of src/ holds (scripts/check-includes.sh),
# and the checker catches a break: a copy of src/ with a stage that includes
# one above it, and a subfolder that includes its sibling, must fail naming
# both.
set -uo pipefail
cd "$(dirname "$0")/../.."
failures=0
if ! out=$(./scripts/check-includes.sh 2>&1); then
  echo "FAIL: the tree breaks the dependency rule:"
  echo "$out"
  failures=$((failures + 1))
else
  echo "ok   the tree keeps the dependency rule"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r src "$tmp/src"
printf '#include "pipeline/pipeline.h"\n' > "$tmp/src/fhir/planted.h"
printf '#include "store/remote/remote_client.h"\n' > "$tmp/src/store/embedded/planted.cc"
out=$(./scripts/check-includes.sh --root "$tmp" 2>&1)
rc=$?
for want in 'fhir/planted.h:1: includes "pipeline/pipeline.h"' 'store/embedded/planted.cc:1: includes "store/remote/remote_client.h"'; do
  if [ $rc -ne 0 ] && grep -qF "$want" <<< "$out"; then
    echo "ok   caught: $want"
  else
    echo "FAIL: not caught: $want (exit $rc):"
    echo "$out"
    failures=$((failures + 1))
  fi
done
exit $((failures > 0))
