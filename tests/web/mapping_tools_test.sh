#!/usr/bin/env bash
# The console's mapping tools (POST /api/mappings/validate, /api/mappings/test)
# against the command line they stand for:
#  1. validate: for every mapping file of iomt-fhir's template tests (valid and
#     invalid), the API's report equals `iomt validate --json`'s (the file
#     named deviceMapping / fhirMapping); a mapping sent as an object is
#     judged as sent as text.
#  2. test: for every line of the bundled example events, the measurements,
#     Observations, errors and warnings equal `iomt validate --sample`'s for
#     that line; invalid mappings give their errors and no run.
#  3. the troubleshooter: with a connector and Lookup, the row of "why is my
#     data not showing up" (DeviceNotFoundException, its cause and fix), the
#     error records `iomt run` would write and no Observation;
#     with Create and the connector's store, the Observation id it would get.
#  4. bad requests: 400 naming what is wrong, 405, 404; a message over 1 MiB.
#   IOMT=path/to/iomt mapping_tools_test.sh   (from the checkout's root)
set -euo pipefail
test_name=mapping_tools_test
iomt=${IOMT:-build/bin/iomt}
tmp=$(mktemp -d /tmp/iomt-mapping-tools-XXXXXX)
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh

dm=examples/mappings/devicecontent.json
fm=examples/mappings/fhirmapping.json
start_serve s1 --store "$tmp/store" --connector w1 --device-mapping "$dm" --fhir-mapping "$fm" --resolution Lookup

# post PATH FILE: the answer's body into $tmp/answer.json; prints the status.
post() { curl -s -o "$tmp/answer.json" -w '%{http_code}' -X POST "$base$1" -H 'Content-Type: application/json' --data-binary "@$2"; }

# What changes from run to run (times), and the file names (the CLI's are paths).
normalize_report() { jq -S 'del(.. | .IngestionTimeUtc?, .time?) | (.errors[]?, .warnings[]?) |= (if type == "object" and has("file") then .file = "F" else . end)'; }

# ---- 1. validate: the API and the command line agree on every template file
inputs=conformance/iomt-fhir/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput
checked=0
for f in "$inputs"/*.json; do
  case "$(basename "$f")" in
    *Fhir* | *fhir*) member=fhirMapping flag=--fhir-mapping ;;
    *Content* | *content*) member=deviceMapping flag=--device-mapping ;;
    *) continue ;;
  esac
  rc=0
  "$iomt" validate "$flag" "$f" --json > "$tmp/cli.json" 2> /dev/null || rc=$?
  [ $rc -le 1 ] || fail "iomt validate $flag $f exited $rc"
  jq -n --rawfile text "$f" --arg m "$member" '{($m): $text}' > "$tmp/req.json"
  [ "$(post /api/mappings/validate "$tmp/req.json")" = 200 ] || fail "validate $f: $(cat "$tmp/answer.json")"
  if ! diff <(normalize_report < "$tmp/cli.json") <(normalize_report < "$tmp/answer.json") > "$tmp/diff"; then
    fail "validate $f: the API and iomt validate differ: $(head -c 600 "$tmp/diff")"
  fi
  [ "$(jq -r --arg m "$member" '[.errors[].file] | map(select(. != $m)) | length' "$tmp/answer.json")" = 0 ] ||
    fail "validate $f: findings not named $member: $(cat "$tmp/answer.json")"
  checked=$((checked + 1))
done
[ $checked -ge 40 ] || fail "only $checked template files checked"
pass "validate: the API's report equals iomt validate --json for $checked template files of iomt-fhir's tests"

# Sent as an object: as valid (or not) as the text, positions within the object as sent.
jq -n --slurpfile d "$dm" --slurpfile f "$fm" '{deviceMapping: $d[0], fhirMapping: $f[0]}' > "$tmp/req.json"
[ "$(post /api/mappings/validate "$tmp/req.json")" = 200 ] || fail "validate objects: $(cat "$tmp/answer.json")"
[ "$(jq .valid "$tmp/answer.json")" = true ] || fail "the example mappings sent as objects: $(cat "$tmp/answer.json")"
printf '{"deviceMapping": {"templateType": "CollectionContent",\n "template": [{"templateType": "Nope", "template": {}}]}}' > "$tmp/req.json"
post /api/mappings/validate "$tmp/req.json" > /dev/null
jq -e '.valid == false and .errors[0].file == "deviceMapping" and .errors[0].line == 2' "$tmp/answer.json" > /dev/null ||
  fail "an invalid mapping sent as an object: $(cat "$tmp/answer.json")"
pass "validate: mappings sent as objects; an error's line is the line in the request: $(jq -c '.errors[0]' "$tmp/answer.json")"

# ---- 2. test: each example event, as validate --sample gives it
lines=0
for events in examples/events/*.ndjson; do
  "$iomt" validate --device-mapping "$dm" --fhir-mapping "$fm" --sample "$events" --json > "$tmp/cli.json" || true
  n=$(wc -l < "$events")
  for i in $(seq 1 "$n"); do
    sed -n "${i}p" "$events" > "$tmp/line"
    [ -s "$tmp/line" ] || continue
    jq -n --rawfile d "$dm" --rawfile f "$fm" --rawfile m "$tmp/line" '{deviceMapping: $d, fhirMapping: $f, message: $m}' > "$tmp/req.json"
    [ "$(post /api/mappings/test "$tmp/req.json")" = 200 ] || fail "test $events:$i: $(cat "$tmp/answer.json")"
    jq -S --argjson i "$i" '.samples[] | select(.line == $i) | {measurements, resources: .observations, errors, warnings, explanation}
      | del(.. | .IngestionTimeUtc?, .time?, .input?, .issued?)' "$tmp/cli.json" > "$tmp/want"
    jq -S '{measurements, resources, errors, warnings, explanation} | del(.. | .IngestionTimeUtc?, .time?, .input?, .issued?)' \
      "$tmp/answer.json" > "$tmp/got"
    diff "$tmp/want" "$tmp/got" > "$tmp/diff" || fail "test $events:$i differs from validate --sample: $(head -c 600 "$tmp/diff")"
    jq -e '(.steps | length) == (.measurements | length) and .valid' "$tmp/answer.json" > /dev/null ||
      fail "test $events:$i: a step per measurement: $(cat "$tmp/answer.json")"
    lines=$((lines + 1))
  done
done
[ $lines -ge 25 ] || fail "only $lines example events checked"
pass "test: $lines example events give what iomt validate --sample gives (measurements, Observations, errors, warnings, explanation)"

# A message that matches nothing: the warning and why each template did not match.
jq -n --rawfile d "$dm" --rawfile f "$fm" '{deviceMapping: $d, fhirMapping: $f, message: {"foo": 1}}' > "$tmp/req.json"
post /api/mappings/test "$tmp/req.json" > /dev/null
jq -e '(.measurements | length) == 0 and (.warnings[0].message | test("No measurements")) and
  (.explanation | length) > 0 and (.explanation[0] | test("matched nothing"))' "$tmp/answer.json" > /dev/null ||
  fail "an unmatched message: $(cat "$tmp/answer.json")"
# Not JSON: NotSupportedException at Normalization.
jq -n --rawfile d "$dm" '{deviceMapping: $d, message: "{not json"}' > "$tmp/req.json"
post /api/mappings/test "$tmp/req.json" > /dev/null
jq -e '.errors[0].errorName == "NotSupportedException" and .errors[0].stage == "Normalization"' "$tmp/answer.json" > /dev/null ||
  fail "a message that is not JSON: $(cat "$tmp/answer.json")"
# Invalid mappings: their errors, nothing run.
jq -n --arg d '{"templateType": "CollectionContent", "template": [' '{deviceMapping: $d, message: {"a": 1}}' > "$tmp/req.json"
post /api/mappings/test "$tmp/req.json" > /dev/null
jq -e '.valid == false and (.mappingErrors[0].file == "deviceMapping") and (.measurements | length) == 0' \
  "$tmp/answer.json" > /dev/null || fail "invalid mappings: $(cat "$tmp/answer.json")"
pass "test: an unmatched message explains each template; not JSON is NotSupportedException; invalid mappings are reported, not run"

# ---- 3. the troubleshooter: a connector's FHIR service, Lookup and Create
head -1 examples/events/ward.ndjson > "$tmp/line"
jq -n --rawfile d "$dm" --rawfile f "$fm" --rawfile m "$tmp/line" \
  '{deviceMapping: $d, fhirMapping: $f, message: $m, connector: "w1"}' > "$tmp/req.json"
post /api/mappings/test "$tmp/req.json" > /dev/null
jq -e '.steps[0].identity.resolution == "Lookup" and .steps[0].identity.errorName == "DeviceNotFoundException"
  and (.steps[0].identity.fix | test("Create a Device")) and .steps[0].resource == null and (.resources | length) == 0
  and ([.errors[] | select(.errorName == "DeviceNotFoundException")] | length) == 1' \
  "$tmp/answer.json" > /dev/null ||
  fail "Lookup through connector w1 (its resolution): $(jq -c '.steps[0]' "$tmp/answer.json")"
jq '.resolution = "Create"' "$tmp/req.json" > "$tmp/req2.json"
post /api/mappings/test "$tmp/req2.json" > /dev/null
jq -e '.steps[0].identity.resolution == "Create" and (.steps[0].identity.observation | startswith("Observation/"))
  and .steps[0].identity.inStore == false' "$tmp/answer.json" > /dev/null ||
  fail "Create through connector w1: $(jq -c '.steps[0]' "$tmp/answer.json")"
# Nothing was written: the store has no Patient, Device or Observation.
for type in Patient Device Observation; do
  [ "$(curl -s "$base/fhir/$type" | jq '.total // (.entry | length)')" = 0 ] || fail "the mapping tools wrote a $type"
done
pass "troubleshooter: Lookup says DeviceNotFoundException with its fix; Create names the Observation it would write; nothing written"

# ---- 4. bad requests
expect() { # expect STATUS CODE DESCRIPTION PATH BODY_FILE
  local got
  got=$(post "$4" "$5")
  [ "$got" = "$1" ] || fail "$3: $got (expected $1): $(cat "$tmp/answer.json")"
  [ "$(jq -r .error.code "$tmp/answer.json")" = "$2" ] || fail "$3: $(cat "$tmp/answer.json")"
}
printf '{' > "$tmp/bad"
expect 400 InvalidRequest "a body that is not JSON" /api/mappings/validate "$tmp/bad"
grep -q 'not JSON' "$tmp/answer.json" || fail "not JSON: $(cat "$tmp/answer.json")"
printf '[]' > "$tmp/bad"
expect 400 InvalidRequest "an array" /api/mappings/validate "$tmp/bad"
printf '{}' > "$tmp/bad"
expect 400 InvalidRequest "no mapping" /api/mappings/validate "$tmp/bad"
printf '{"deviceMapping": 5}' > "$tmp/bad"
expect 400 InvalidRequest "a number as a mapping" /api/mappings/validate "$tmp/bad"
grep -q "'deviceMapping' must be" "$tmp/answer.json" || fail "a number as a mapping: $(cat "$tmp/answer.json")"
jq -n --rawfile d "$dm" '{deviceMapping: $d}' > "$tmp/bad"
expect 400 InvalidRequest "test without a message" /api/mappings/test "$tmp/bad"
jq -n --rawfile d "$dm" '{deviceMapping: $d, message: {}, envelope: "nope"}' > "$tmp/bad"
expect 400 InvalidRequest "an unknown envelope" /api/mappings/test "$tmp/bad"
jq -n --rawfile d "$dm" '{deviceMapping: $d, message: {}, resolution: "Sometimes"}' > "$tmp/bad"
expect 400 InvalidRequest "an unknown resolution" /api/mappings/test "$tmp/bad"
jq -n --rawfile d "$dm" '{deviceMapping: $d, message: {}, connector: "nope"}' > "$tmp/bad"
expect 404 ConnectorNotFound "an unknown connector" /api/mappings/test "$tmp/bad"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/mappings/validate")" = 405 ] || fail "GET validate is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/mappings/other" -d '{}')" = 404 ] || fail "an unknown tool is not 404"
# A message over 1 MiB: refused as ingestion would (NotSupportedException), not run.
head -c 1100000 /dev/zero | tr '\0' 'x' > "$tmp/big"
jq -n --rawfile d "$dm" --rawfile m "$tmp/big" '{deviceMapping: $d, message: $m}' > "$tmp/req.json"
[ "$(post /api/mappings/test "$tmp/req.json")" = 200 ] || fail "a 1.1 MB message: $(head -c 300 "$tmp/answer.json")"
jq -e '.errors[0].errorName == "NotSupportedException" and (.errors[0].message | test("larger than"))' "$tmp/answer.json" > /dev/null ||
  fail "a 1.1 MB message: $(head -c 300 "$tmp/answer.json")"
pass "bad requests: 400 naming what is wrong, 404 for an unknown connector, 405, a message over 1 MiB refused"
echo "$test_name: all passed"
