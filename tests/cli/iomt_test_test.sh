#!/usr/bin/env bash
# `iomt test` as a user runs it (docs/mapping-tests.md, docs/cli.md): a
# suite that passes, a failing case and its diff (which expected line, which
# input line, which field, expected vs got), exit codes 0/1/2, --junit (a
# well-formed report), --update (rewrites, says so, then passes), a broken
# case among good ones, the partial-object rule, order, a .tar laid out as
# the web console saves it, and `iomt validate --emit-case`. Run by ctest
# with IOMT set to the binary.
set -u
IOMT=${IOMT:-build/bin/iomt}
NODE=${NODE:-scripts/node}
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# run NAME: runs the rest of the line, keeping stdout in $tmp/NAME.out and the
# exit code in $rc.
run() {
  local name=$1
  shift
  "$@" > "$tmp/$name.out" 2>&1
  rc=$?
}
# has NAME TEXT...: every TEXT is in $tmp/NAME.out.
has() {
  local name=$1
  shift
  for want in "$@"; do grep -qF -- "$want" "$tmp/$name.out" || return 1; done
}
last_line() { tail -n 1 "$tmp/$1.out"; }

ward=tests/cases/ward/shared
suite=$tmp/suite
mkdir -p "$suite/shared"
cp "$ward/devicecontent.json" "$ward/fhirmapping.json" "$suite/shared/"
# case NAME: a case of the suite with the shared mappings and input lines from stdin.
case_dir() {
  mkdir -p "$suite/$1/expected"
  cat > "$suite/$1/input.ndjson"
  printf '{"description": "%s", "deviceMapping": "../shared/devicecontent.json", "fhirMapping": "../shared/fhirmapping.json"%s}\n' \
    "$1" "${2:-}" > "$suite/$1/case.json"
}
temp1='{"kind": "temp", "device": "therm-1", "patient": "patient-1", "at": "2023-10-09T19:05:00Z", "value": 37.2}'
temp2='{"kind": "temp", "device": "therm-1", "patient": "patient-1", "at": "2023-10-09T19:35:00Z", "value": 38.1}'

# good: partial expectations. Measurements leave out most members; the
# Observation only names its value (Patients and Devices, a type the file
# does not name, are not compared); no error.
echo "$temp1" | case_dir good
echo '{"Type":"temperature","DeviceId":"therm-1","Properties":[{"Name":"celsius","Value":"37.2"}]}' > "$suite/good/expected/measurements.ndjson"
echo '{"resourceType":"Observation","status":"final","valueQuantity":{"value":37.2,"unit":"Cel"}}' > "$suite/good/expected/resources.ndjson"
: > "$suite/good/expected/errors.ndjson"

# order: the expected lines in the other order still match.
printf '%s\n%s\n' "$temp1" "$temp2" | case_dir order
printf '%s\n%s\n' '{"OccurrenceTimeUtc":"2023-10-09T19:35:00Z","Properties":[{"Name":"celsius","Value":"38.1"}]}' \
  '{"OccurrenceTimeUtc":"2023-10-09T19:05:00Z","Properties":[{"Name":"celsius","Value":"37.2"}]}' > "$suite/order/expected/measurements.ndjson"

# wrong: the second input line's value differs from what is expected.
printf '%s\n%s\n' "$temp1" "$temp2" | case_dir wrong
printf '%s\n%s\n' '{"Type":"temperature","OccurrenceTimeUtc":"2023-10-09T19:05:00Z","Properties":[{"Name":"celsius","Value":"37.2"}]}' \
  '{"Type":"temperature","OccurrenceTimeUtc":"2023-10-09T19:35:00Z","Properties":[{"Name":"celsius","Value":"39.9"}]}' > "$suite/wrong/expected/measurements.ndjson"
echo '{"resourceType":"Observation","valueQuantity":{"value":37.2}}' > "$suite/wrong/expected/resources.ndjson"

# partial-extra-member: an expected member that the output does not have
# never matches (left out means anything; named means must be there).
echo "$temp1" | case_dir partial-extra-member
echo '{"Type":"temperature","EncounterId":null,"Ward":"B"}' > "$suite/partial-extra-member/expected/measurements.ndjson"
# array-length: arrays compare element by element, with their length.
echo "$temp1" | case_dir array-length
echo '{"Type":"temperature","Properties":[]}' > "$suite/array-length/expected/measurements.ndjson"
# unexpected-error: a second line that fails, where none was expected.
printf '%s\n%s\n' "$temp1" '{"kind": "temp", "at": "2023-10-09T19:05:00Z", "value": 1}' | case_dir unexpected-error
: > "$suite/unexpected-error/expected/errors.ndjson"

# broken cases: no device mapping; case.json not JSON; an unknown option.
mkdir -p "$suite/broken-no-mapping" && echo "$temp1" > "$suite/broken-no-mapping/input.ndjson"
echo "$temp1" | case_dir broken-case-json
echo '{"description": ' > "$suite/broken-case-json/case.json"
echo "$temp1" | case_dir broken-option ', "resoluton": "Lookup"'
: > "$suite/broken-option/expected/errors.ndjson"

# ---- a suite with failing and broken cases ------------------------------------
run all "$IOMT" test "$suite"
if [ "$rc" = 1 ] && [ "$(last_line all)" = "2 passed, 7 failed" ]; then pass suite-summary-last-line; else fail "suite-summary-last-line (rc=$rc)" "$tmp/all.out"; fi
if has all "ok   $suite/good" "ok   $suite/order" "FAIL $suite/unexpected-error"; then pass suite-good-cases-pass; else fail suite-good-cases-pass "$tmp/all.out"; fi
# The diff: which expected line, which input line, which field, expected vs got.
if has all "FAIL $suite/wrong" \
  'expected/measurements.ndjson:2: no measurement matches; the nearest, the measurement of input line 2, differs at:' \
  'Properties[0].Value: expected "39.9", got "38.1"'; then
  pass diff-names-line-and-field
else
  fail diff-names-line-and-field "$tmp/all.out"
fi
if has all 'Ward: expected "B", got nothing (no such member)'; then pass partial-named-member-must-exist; else fail partial-named-member-must-exist "$tmp/all.out"; fi
if has all 'Properties: expected 0 items, got 1 item'; then pass arrays-compare-their-length; else fail arrays-compare-their-length "$tmp/all.out"; fi
if has all 'unexpected error record of input line 2 (not in expected/errors.ndjson): {"stage":"Normalization"' '"errorName":"DeviceIdentityNotDefinedException"'; then
  pass unexpected-error-names-its-line
else
  fail unexpected-error-names-its-line "$tmp/all.out"
fi
# Broken cases say why, and the others still ran.
if has all "FAIL $suite/broken-no-mapping" "cannot run: cannot read $suite/broken-no-mapping/devicecontent.json" \
  "FAIL $suite/broken-case-json" 'cannot run: case.json: not JSON' \
  "FAIL $suite/broken-option" '"resoluton" is not a case option'; then
  pass broken-cases-reported-with-reason
else
  fail broken-cases-reported-with-reason "$tmp/all.out"
fi
run quiet "$IOMT" test -q "$suite"
if [ "$rc" = 1 ] && ! grep -q '^ok ' "$tmp/quiet.out" && has quiet "FAIL $suite/wrong"; then pass quiet-prints-failures-only; else fail quiet-prints-failures-only "$tmp/quiet.out"; fi

# ---- exit codes ---------------------------------------------------------------
run pass2 "$IOMT" test "$suite/good" "$suite/order"
if [ "$rc" = 0 ] && [ "$(last_line pass2)" = "2 passed, 0 failed" ]; then pass exit-0-all-pass; else fail "exit-0-all-pass (rc=$rc)" "$tmp/pass2.out"; fi
run file "$IOMT" test "$suite/good/case.json"
if [ "$rc" = 0 ] && [ "$(last_line file)" = "1 passed, 0 failed" ]; then pass file-names-its-case; else fail "file-names-its-case (rc=$rc)" "$tmp/file.out"; fi
run missing "$IOMT" test "$tmp/nowhere"
if [ "$rc" = 2 ] && has missing "cannot read $tmp/nowhere"; then pass exit-2-missing-path; else fail "exit-2-missing-path (rc=$rc)" "$tmp/missing.out"; fi
mkdir -p "$tmp/empty/sub"
run empty "$IOMT" test "$tmp/empty"
if [ "$rc" = 2 ] && has empty "no test cases under $tmp/empty"; then pass exit-2-no-cases; else fail "exit-2-no-cases (rc=$rc)" "$tmp/empty.out"; fi
echo x > "$tmp/empty/loose.txt"
run loose "$IOMT" test "$tmp/empty/loose.txt"
if [ "$rc" = 2 ] && has loose "is not in a test case folder"; then pass exit-2-file-outside-case; else fail "exit-2-file-outside-case (rc=$rc)" "$tmp/loose.out"; fi
run flag "$IOMT" test --nope "$suite"
if [ "$rc" = 2 ]; then pass exit-2-bad-flag; else fail "exit-2-bad-flag (rc=$rc)" "$tmp/flag.out"; fi
# The same case named twice runs once.
run twice "$IOMT" test "$suite/good" "$suite/good/input.ndjson"
if [ "$rc" = 0 ] && [ "$(last_line twice)" = "1 passed, 0 failed" ]; then pass same-case-once; else fail same-case-once "$tmp/twice.out"; fi

# ---- ordered ------------------------------------------------------------------
cp -r "$suite/order" "$suite/ordered"
echo '{"description": "ordered", "deviceMapping": "../shared/devicecontent.json", "fhirMapping": "../shared/fhirmapping.json", "ordered": true}' > "$suite/ordered/case.json"
run ordered "$IOMT" test "$suite/ordered"
if [ "$rc" = 1 ] && has ordered 'expected/measurements.ndjson:1: no measurement matches; the nearest, the measurement of input line 1, differs at:' \
  'OccurrenceTimeUtc: expected "2023-10-09T19:35:00Z", got "2023-10-09T19:05:00Z"'; then
  pass ordered-compares-line-by-line
else
  fail ordered-compares-line-by-line "$tmp/ordered.out"
fi

# ---- --junit ------------------------------------------------------------------
run junit "$IOMT" test --junit "$tmp/report.xml" "$suite"
# Well-formed (every tag closed in order, attributes quoted, only XML's
# entities), and it counts what the run printed.
cat > "$tmp/wellformed.js" <<'JS'
const text = require('fs').readFileSync(process.argv[2], 'utf8');
const fail = (why) => { console.log('not well-formed: ' + why); process.exit(1); };
if (!text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')) fail('no XML declaration');
const body = text.slice(text.indexOf('?>') + 2);
const stack = [];
const counts = {};
let testcases = 0;
const re = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<&]*(?:&(?:amp|lt|gt|quot|apos);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
let m, at = 0;
while (at < body.length) {
  re.lastIndex = at;
  m = re.exec(body);
  if (!m) fail('at offset ' + at + ': ' + JSON.stringify(body.slice(at, at + 40)));
  at = re.lastIndex;
  if (m[5] !== undefined) {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) fail('a bad entity in text');
    if (stack.length === 0 && m[5].trim() !== '') fail('text outside the root');
    continue;
  }
  const [, close, name, attrs, selfClose] = m;
  if (close) {
    if (stack.pop() !== name) fail('</' + name + '> closes another element');
    continue;
  }
  if (name === 'testsuite') for (const a of attrs.matchAll(/(\w+)="([^"]*)"/g)) counts[a[1]] = a[2];
  if (name === 'testcase') testcases++;
  if (!selfClose) stack.push(name);
}
if (stack.length) fail('unclosed ' + stack.join(','));
console.log(`tests=${counts.tests} failures=${counts.failures} errors=${counts.errors} testcases=${testcases}`);
JS
wf=$("$NODE" "$tmp/wellformed.js" "$tmp/report.xml" 2>&1)
if [ "$rc" = 1 ] && [ "$wf" = "tests=10 failures=5 errors=3 testcases=10" ] &&
   grep -qF 'Properties[0].Value: expected &quot;39.9&quot;, got &quot;38.1&quot;' "$tmp/report.xml" &&
   grep -q '<error message="cannot read ' "$tmp/report.xml"; then
  pass junit-well-formed-and-counted
else
  echo "$wf" > "$tmp/wf.txt"
  fail "junit-well-formed-and-counted (rc=$rc)" "$tmp/wf.txt" "$tmp/report.xml"
fi
echo '<a><b></a></b>' > "$tmp/bad.xml"
sed -i '1i <?xml version="1.0" encoding="UTF-8"?>' "$tmp/bad.xml"
if ! "$NODE" "$tmp/wellformed.js" "$tmp/bad.xml" > /dev/null 2>&1; then pass junit-checker-rejects-bad-xml; else fail junit-checker-rejects-bad-xml; fi
run junit-nowhere "$IOMT" test --junit "$tmp/no/such/dir/r.xml" "$suite/good"
if [ "$rc" = 2 ] && has junit-nowhere "cannot write"; then pass junit-unwritable-exit-2; else fail junit-unwritable-exit-2 "$tmp/junit-nowhere.out"; fi

# ---- --update -----------------------------------------------------------------
cp -r "$suite/wrong" "$suite/upd"
printf '%s\n%s\n' '{"resourceType":"Observation","valueQuantity":{"value":38.1}}' \
  '{"resourceType":"Observation","valueQuantity":{"value":37.2}}' > "$suite/upd/expected/resources.ndjson"
partial_resources=$(cat "$suite/upd/expected/resources.ndjson")
run update "$IOMT" test --update "$suite/upd" "$suite/broken-no-mapping"
if [ "$rc" = 1 ] && has update 'Properties[0].Value: expected "39.9", got "38.1"' "rewrote $suite/upd/expected/measurements.ndjson" \
     "ok   $suite/upd" "FAIL $suite/broken-no-mapping" 'rewrote 1 file of 1 case: review them with git diff' &&
   [ "$(last_line update)" = "1 passed, 1 failed" ] && ! grep -q 'rewrote.*resources' "$tmp/update.out"; then
  pass update-rewrites-and-says-so
else
  fail "update-rewrites-and-says-so (rc=$rc)" "$tmp/update.out"
fi
run after "$IOMT" test "$suite/upd"
if [ "$rc" = 0 ] && grep -q '"Value":"38.1"' "$suite/upd/expected/measurements.ndjson" &&
   ! grep -q 'IngestionTimeUtc' "$suite/upd/expected/measurements.ndjson" &&
   [ "$(cat "$suite/upd/expected/resources.ndjson")" = "$partial_resources" ] && [ ! -e "$suite/broken-no-mapping/expected" ]; then
  pass update-then-passes-passing-files-kept
else
  fail "update-then-passes-passing-files-kept (rc=$rc)" "$tmp/after.out" "$suite/upd/expected/measurements.ndjson"
fi
# A case with nothing expected fails, and --update writes all its files.
mkdir -p "$suite/new" && echo "$temp1" > "$suite/new/input.ndjson" &&
  cp "$suite/shared/devicecontent.json" "$suite/shared/fhirmapping.json" "$suite/new/"
run new "$IOMT" test "$suite/new"
run new-update "$IOMT" test --update "$suite/new"
if has new 'nothing expected' && [ "$rc" = 0 ] && [ -s "$suite/new/expected/resources.ndjson" ] &&
   [ -e "$suite/new/expected/errors.ndjson" ] && [ ! -s "$suite/new/expected/errors.ndjson" ] &&
   [ "$(grep -c . "$suite/new/expected/resources.ndjson")" = 3 ]; then
  pass update-writes-a-new-case
else
  fail "update-writes-a-new-case (rc=$rc)" "$tmp/new.out" "$tmp/new-update.out"
fi

# ---- the web console's "Save as test case" layout, as a .tar -----------------
# What the console puts in it (web/src/views/editor.js): the mappings, the
# message as one line, measurements without IngestionTimeUtc, the Observation
# as the mapping tools preview it (no identity: no id, identifier, subject,
# device) without issued and meta, error records without time (only when
# any), and case.json with description, resolution and envelope. The
# expected files come from validate's sample report, which runs the same
# code as the console's POST /api/mappings/test.
console_case() {  # NAME MESSAGE
  local dir=$tmp/console/$1
  mkdir -p "$dir/expected"
  cp "$suite/shared/devicecontent.json" "$suite/shared/fhirmapping.json" "$dir/"
  echo "$2" > "$dir/input.ndjson"
  "$IOMT" validate --json --device-mapping "$dir/devicecontent.json" --fhir-mapping "$dir/fhirmapping.json" \
    --sample "$dir/input.ndjson" > "$tmp/sample.json"
  jq -c '.samples[0].measurements[] | del(.IngestionTimeUtc)' "$tmp/sample.json" > "$dir/expected/measurements.ndjson"
  jq -c '.samples[0].observations[] | del(.issued, .meta)' "$tmp/sample.json" > "$dir/expected/resources.ndjson"
  [ -s "$dir/expected/resources.ndjson" ] || rm "$dir/expected/resources.ndjson"
  jq -c '.samples[0].errors[] | del(.time)' "$tmp/sample.json" > "$dir/expected/errors.ndjson"
  [ -s "$dir/expected/errors.ndjson" ] || rm "$dir/expected/errors.ndjson"
  printf '{\n  "description": "Saved from the iomt console: %s",\n  "resolution": "Create",\n  "envelope": "auto"\n}\n' "$1" > "$dir/case.json"
}
console_case bp-case '{"kind": "bp", "device": "cuff-1", "patient": "patient-2", "at": "2023-10-09T19:10:00Z", "sys": 120, "dia": 80}'
console_case battery-case '{"kind": "battery", "device": "band-1", "patient": "patient-3", "at": "2023-10-09T19:00:00Z", "value": 41}'
(cd "$tmp/console" && tar cf "$tmp/bp-case.tar" bp-case && tar cf "$tmp/two.tar" bp-case battery-case)
if [ -s "$tmp/console/bp-case/expected/resources.ndjson" ] && ! grep -q '"subject"' "$tmp/console/bp-case/expected/resources.ndjson" &&
   grep -q TemplateNotFoundException "$tmp/console/battery-case/expected/errors.ndjson" &&
   [ ! -e "$tmp/console/battery-case/expected/resources.ndjson" ]; then
  pass console-layout-built
else
  fail console-layout-built "$tmp/console/bp-case/expected/resources.ndjson"
fi
run tar1 "$IOMT" test "$tmp/bp-case.tar"
if [ "$rc" = 0 ] && has tar1 "ok   $tmp/bp-case.tar:bp-case" && [ "$(last_line tar1)" = "1 passed, 0 failed" ]; then
  pass console-tar-passes
else
  fail "console-tar-passes (rc=$rc)" "$tmp/tar1.out"
fi
run tar2 "$IOMT" test --junit "$tmp/tar.xml" "$tmp/two.tar"
if [ "$rc" = 0 ] && [ "$(last_line tar2)" = "2 passed, 0 failed" ] && grep -q 'classname="[^"]*two.tar" name="battery-case"' "$tmp/tar.xml"; then
  pass console-tar-two-cases
else
  fail "console-tar-two-cases (rc=$rc)" "$tmp/tar2.out"
fi
mkdir -p "$tmp/unpacked" && (cd "$tmp/unpacked" && tar xf "$tmp/two.tar")
run untarred "$IOMT" test "$tmp/unpacked"
if [ "$rc" = 0 ] && [ "$(last_line untarred)" = "2 passed, 0 failed" ]; then pass console-case-unpacked-passes; else fail "console-case-unpacked-passes (rc=$rc)" "$tmp/untarred.out"; fi
# The console's case tells a changed mapping: the systolic component's unit.
sed -i 's/"unit": "mm\[Hg\]"/"unit": "mmHg"/' "$tmp/unpacked/bp-case/fhirmapping.json"
run console-changed "$IOMT" test "$tmp/unpacked/bp-case"
if [ "$rc" = 1 ] && has console-changed 'component[0].valueQuantity.unit: expected "mm[Hg]", got "mmHg"'; then
  pass console-case-catches-a-change
else
  fail "console-case-catches-a-change (rc=$rc)" "$tmp/console-changed.out"
fi
run tar-update "$IOMT" test --update "$tmp/bp-case.tar"
if [ "$rc" = 2 ] && has tar-update 'unpack it'; then pass update-refuses-a-tar; else fail "update-refuses-a-tar (rc=$rc)" "$tmp/tar-update.out"; fi
printf 'not a tar' > "$tmp/junk.tar"
run junk "$IOMT" test "$tmp/junk.tar"
if [ "$rc" = 2 ] && has junk "cannot read $tmp/junk.tar"; then pass unreadable-tar-exit-2; else fail "unreadable-tar-exit-2 (rc=$rc)" "$tmp/junk.out"; fi
# An archive member that would land outside the folder is refused.
mkdir -p "$tmp/evil/in" && echo x > "$tmp/evil/escape.txt"
(cd "$tmp/evil/in" && tar cf "$tmp/evil.tar" --absolute-names ../escape.txt 2>/dev/null)
run evil "$IOMT" test "$tmp/evil.tar"
if [ "$rc" = 2 ] && has evil 'outside the case folder'; then pass tar-member-outside-refused; else fail "tar-member-outside-refused (rc=$rc)" "$tmp/evil.out"; fi

# ---- iomt validate --emit-case -------------------------------------------------
printf '%s\n%s\n' "$temp1" '{"kind": "glucose", "device": "m", "at": "2023-10-09T19:00:00Z", "value": 5}' > "$tmp/samples.ndjson"
run emit "$IOMT" validate --device-mapping "$suite/shared/devicecontent.json" --fhir-mapping "$suite/shared/fhirmapping.json" \
  --sample "$tmp/samples.ndjson" --emit-case "$tmp/emitted"
if [ "$rc" = 0 ] && has emit "test case written to $tmp/emitted: devicecontent.json fhirmapping.json input.ndjson case.json expected/measurements.ndjson expected/resources.ndjson expected/errors.ndjson" &&
   cmp -s "$tmp/samples.ndjson" "$tmp/emitted/input.ndjson" && cmp -s "$suite/shared/devicecontent.json" "$tmp/emitted/devicecontent.json" &&
   grep -q UnmatchedDeviceMessage "$tmp/emitted/expected/errors.ndjson" &&
   [ "$(jq -r .resolution "$tmp/emitted/case.json")" = Create ] && [ "$(jq -r .envelope "$tmp/emitted/case.json")" = auto ]; then
  pass emit-case-writes-a-case
else
  fail "emit-case-writes-a-case (rc=$rc)" "$tmp/emit.out"
fi
run emitted "$IOMT" test "$tmp/emitted"
if [ "$rc" = 0 ]; then pass emitted-case-passes; else fail "emitted-case-passes (rc=$rc)" "$tmp/emitted.out"; fi
run emit-again "$IOMT" validate --device-mapping "$suite/shared/devicecontent.json" --sample "$tmp/samples.ndjson" --emit-case "$tmp/emitted"
if [ "$rc" = 2 ] && has emit-again 'already exists'; then pass emit-case-never-overwrites; else fail "emit-case-never-overwrites (rc=$rc)" "$tmp/emit-again.out"; fi
run emit-nosample "$IOMT" validate --device-mapping "$suite/shared/devicecontent.json" --emit-case "$tmp/e2"
if [ "$rc" = 2 ] && [ ! -e "$tmp/e2" ]; then pass emit-case-needs-sample; else fail "emit-case-needs-sample (rc=$rc)" "$tmp/emit-nosample.out"; fi

finish "iomt test"
