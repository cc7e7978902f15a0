#!/usr/bin/env bash
# The bundled examples (examples/README.md) as data: the mappings validate
# cleanly, every good event gives measurements, the bad ones fail with the
# expected errors, and the resources they become equal
# tests/examples/expected-resources.ndjson (reviewed by eye: codes, units,
# values, components, periods). With `iomt run` and the embedded store the
# same resources land in a store, the summary and the dead letters are as
# expected, a second run changes nothing, and a replay of the dead letters
# dead-letters the same events again.
#
# Run by ctest with IOMT set to the binary. After an intended change of
# mapping behaviour: tests/examples/examples_test.sh --update, then review
# `git diff tests/examples/`.
set -euo pipefail
cd "$(dirname "$0")/../.."
IOMT=${IOMT:-build/bin/iomt}
here=tests/examples
dm=examples/mappings/devicecontent.json
fm=examples/mappings/fhirmapping.json
events=examples/events/ward.ndjson
expected=$here/expected-resources.ndjson
now=2023-10-09T20:00:00Z
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

ok() { echo "ok   $1"; }
fail() {
  echo "FAIL $1"
  failures=$((failures + 1))
}
# check NAME WANT GOT
check() {
  if [ "$2" == "$3" ]; then ok "$1"; else
    fail "$1"
    echo "  want: $2"
    echo "  got:  $3"
  fi
}
# Resources as compared: keys sorted, no meta, the last version of each, by type then id.
canon() { jq -c -S 'del(.meta)' "$@" | jq -c -s 'group_by([.resourceType, .id]) | map(last) | .[]'; }
# same_resources NAME FILE: FILE holds the expected resources.
same_resources() {
  canon "$2" > "$tmp/got.ndjson"
  if diff -u "$expected" "$tmp/got.ndjson" > "$tmp/diff"; then ok "$1"; else
    fail "$1"
    head -n 40 "$tmp/diff"
  fi
}
# Error names of a file of error or dead-letter records, as "line:name" sorted by line.
error_names() { jq -r '"\(.input.line):\(.errorName)"' "$1" | sort -n | paste -sd' ' -; }

normalize() {
  "$IOMT" normalize --device-mapping "$dm" --input "$events" --ingestion-time "$now" --errors "$tmp/normalize-errors.ndjson" \
    2>/dev/null || true
}
transform() {
  "$IOMT" transform --fhir-mapping "$fm" --now "$now" --errors "$tmp/transform-errors.ndjson" 2>/dev/null || true
}

if [ "${1:-}" == "--update" ]; then
  normalize | transform | canon > "$expected"
  echo "wrote $expected ($(wc -l < "$expected") resources): review it with git diff"
  exit 0
fi

# ---- the mappings and the samples -------------------------------------------
report=$("$IOMT" validate --json --device-mapping "$dm" --fhir-mapping "$fm" --sample "$events")
check validate-clean 'true 0 0' "$(jq -r '"\(.valid) \(.errors | length) \(.warnings | length)"' <<< "$report")"
# Lines 7, 9 and 17 are the bad events; every other one gives measurements and Observations.
check validate-samples-without-measurements '7 9 17' \
  "$(jq -r '[.samples[] | select((.measurements | length) == 0) | .line] | join(" ")' <<< "$report")"
check validate-samples-without-observations '7 9 17' \
  "$(jq -r '[.samples[] | select((.observations | length) == 0) | .line] | join(" ")' <<< "$report")"

# ---- normalize | transform ---------------------------------------------------
normalize > "$tmp/measurements.ndjson"
check normalize-measurements 42 "$(wc -l < "$tmp/measurements.ndjson")"
check normalize-errors '7:NotSupportedException 9:DeviceIdentityNotDefinedException 17:UnmatchedDeviceMessage' \
  "$(error_names "$tmp/normalize-errors.ndjson")"
transform < "$tmp/measurements.ndjson" > "$tmp/transform.ndjson"
# Line 19: a monitor not yet assigned to a patient (Create mode needs a patient id).
check transform-errors 'PatientIdentityNotDefinedException PatientIdentityNotDefinedException' \
  "$(jq -r .errorName "$tmp/transform-errors.ndjson" | paste -sd' ' -)"
same_resources transform-resources "$tmp/transform.ndjson"

# ---- iomt run into an embedded store ----------------------------------------
store=$tmp/store
run() { # run INPUT DEAD_LETTER_FILE: prints the summary without its time
  "$IOMT" run --device-mapping "$dm" --fhir-mapping "$fm" --input "$1" --store "$store" --now "$now" \
    --ingestion-time "$now" --dead-letter "$2" 2>"$tmp/run-stderr" | jq -c -S 'del(.seconds)'
}
# export N: the store's resources into $tmp/export-N.ndjson
export_store() { "$IOMT" store --store "$store" export > "$tmp/export-$1.ndjson"; }
same_export() { # same_export NAME N: the store as after the first run
  if cmp -s "$tmp/export-1.ndjson" "$tmp/export-$2.ndjson"; then ok "$1"; else
    fail "$1"
    diff -u "$tmp/export-1.ndjson" "$tmp/export-$2.ndjson" | head -n 20
  fi
}

summary=$(run "$events" "$tmp/dead-1.ndjson" || true)
check run-summary '{"deadLettered":4,"devicesCreated":6,"errors":{"DeviceIdentityNotDefinedException":1,"NotSupportedException":1,"PatientIdentityNotDefinedException":2,"UnmatchedDeviceMessage":1},"events":22,"groups":19,"measurements":42,"observations":{"created":28,"unchanged":0,"updated":0},"patientsCreated":4}' \
  "$summary"
check run-dead-letters '7:NotSupportedException 9:DeviceIdentityNotDefinedException 17:UnmatchedDeviceMessage 19:PatientIdentityNotDefinedException' \
  "$(error_names "$tmp/dead-1.ndjson")"
# Each dead letter holds its event (as the mapping saw it: wrapped in an envelope when it was not one).
body='if type == "object" then .Body // . else . end'
check run-dead-letters-keep-events "$(sed -n '7p;9p;17p;19p' "$events" | jq -R -c 'fromjson? // .' | jq -c -S "$body")" \
  "$(jq -c -S ".event | $body" "$tmp/dead-1.ndjson")"
export_store 1
same_resources run-export "$tmp/export-1.ndjson"

# The same input again: nothing created or changed, the store as it was.
summary=$(run "$events" "$tmp/dead-2.ndjson" || true)
check run-again-summary '0 0 28 0 0 4' \
  "$(jq -r '[.observations.created, .observations.updated, .observations.unchanged, .patientsCreated, .devicesCreated, .deadLettered] | join(" ")' <<< "$summary")"
export_store 2
same_export run-again-changes-nothing 2

# Replaying the dead letters with nothing fixed: the same events fail the same way.
summary=$(run "$tmp/dead-1.ndjson" "$tmp/dead-3.ndjson" || true)
check replay-summary '4 4 0 0' \
  "$(jq -r '[.events, .deadLettered, .observations.created, .observations.updated] | join(" ")' <<< "$summary")"
check replay-dead-letters 'DeviceIdentityNotDefinedException NotSupportedException PatientIdentityNotDefinedException UnmatchedDeviceMessage' \
  "$(jq -r .errorName "$tmp/dead-3.ndjson" | sort | paste -sd' ' -)"
# The events come back as they were (the line that is not JSON too).
check replay-keeps-events "$(jq -c -S '.event' "$tmp/dead-1.ndjson" | sort)" \
  "$(jq -c -S '.event' "$tmp/dead-3.ndjson" | sort)"
export_store 3
same_export replay-changes-nothing 3

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
