#!/usr/bin/env bash
# `iomt support-bundle RESOURCE_URL --out FILE.tar.gz` against a running
# `iomt serve` (docs/cli.md, "Mappings and support"): the members, the
# mappings byte for byte, settings without secrets, the connector's status
# and only its metrics, the version; no message body anywhere (markers in
# the messages posted, good and failing, must not appear), no other
# connector's data; the archive and its members 0600; a connector without
# destination gives a partial bundle (exit 1); failures exit per cli.md.
#   IOMT=path/to/iomt support_bundle_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=support_bundle_test
tmp=$(mktemp -d /tmp/iomt-bundle-XXXXXX)
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh
# shellcheck source=tests/cli/provision_lib.sh
. tests/cli/provision_lib.sh
umask 022

dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json
expected_export "$dm" > "$tmp/expected-device.json"
expected_export "$fm" > "$tmp/expected-fhir.json"
printf '{"templateType":"CollectionContent","template":[]}' > "$tmp/empty.json"
marker=MARKER-$RANDOM-body
tag_secret=TAGSECRET-$RANDOM
token=tok-$RANDOM-do-not-print

# Another connector, from the command line, with its own traffic: nothing
# of it may end up in conn1's bundle.
start_serve s --store "$tmp/store" --connector other1 --device-mapping examples/mappings/devicecontent.json \
  --fhir-mapping examples/mappings/fhirmapping.json
s=$pid
provision_workspace ws01
# Tags come back as sent: a place for members named like secrets.
tags="{\"owner\":\"team-a\",\"apiKey\":\"$tag_secret\",\"Client-Secret\":\"$tag_secret\"}"
provision_connector ws01 conn1 "$dm" "$tags"
provision_destination ws01 conn1 dest1 "$fm" "$tags"
provision_connector ws01 conn2 "$tmp/empty.json"
url="$base$arm_root/workspaces/ws01/iotconnectors/conn1?api-version=2022-06-01"
ingest=$(curl -sf "$url" | jq -r .properties.httpIngestionUrl)
[ -n "$ingest" ] && [ "$ingest" != null ] || fail "the connector has no httpIngestionUrl"
conn=$(sed -n 's|.*/connectors/\([^/]*\)/messages.*|\1|p' <<< "$ingest")

# One message that maps and one that fails (no device id), each with the
# marker in a member the mapping does not read; one for the other connector.
cat > "$tmp/msgs.ndjson" << EOF
{"heartrate":"78","deviceid":"dev-1","patientid":"pat-1","measurementdatetime":"2024-01-01T00:00:00Z","note":"$marker"}
{"heartrate":"79","patientid":"pat-1","measurementdatetime":"2024-01-01T00:01:00Z","note":"$marker"}
EOF
code=$(curl -s -o "$tmp/post.body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$tmp/msgs.ndjson" "$base$ingest")
[ "$code" = 202 ] || fail "POST $ingest: $code $(cat "$tmp/post.body")"
head -3 examples/events/ward.ndjson > "$tmp/other.ndjson"
[ "$(post "$base" other1 "$tmp/other.ndjson")" = 202 ] || fail "POST to other1: $(cat "$tmp/post.body")"
wait_for 30 "both messages processed" sh -c "[ \"\$(curl -sf $base/connectors/$conn | jq .counters.events)\" = 2 ]"
wait_for 30 "other1's messages processed" sh -c "[ \"\$(curl -sf $base/connectors/other1 | jq .counters.events)\" = 3 ]"

# ---- 1. The bundle ---------------------------------------------------------------
mkdir -p "$tmp/out"
echo old > "$tmp/out/b.tar.gz"
chmod 644 "$tmp/out/b.tar.gz"
rc=0
"$iomt" support-bundle "$url" --out "$tmp/out/b.tar.gz" --token "$token" > "$tmp/bundle.out" 2> "$tmp/bundle.err" || rc=$?
[ $rc = 0 ] || fail "support-bundle: exit $rc: $(cat "$tmp/bundle.err")"
[ "$(stat -c %a "$tmp/out/b.tar.gz")" = 600 ] || fail "the archive is $(stat -c %a "$tmp/out/b.tar.gz"), not 600"
left=$(cd "$tmp/out" && echo *)
[ "$left" = b.tar.gz ] || fail "left beside the archive: $left"
members="connector.json destination.json devicecontent.json fhirmapping.json fhirservice.json metrics.txt status.json version.txt"
[ "$(tar tzf "$tmp/out/b.tar.gz" | sort | xargs)" = "$members" ] ||
  fail "members: $(tar tzf "$tmp/out/b.tar.gz" | xargs)"
tar tvzf "$tmp/out/b.tar.gz" | awk '$1 != "-rw-------" { bad = 1 } END { exit bad }' ||
  fail "members not 0600: $(tar tvzf "$tmp/out/b.tar.gz")"
[ "$(head -1 "$tmp/bundle.out")" = "$tmp/out/b.tar.gz" ] || fail "stdout does not start with the path: $(cat "$tmp/bundle.out")"
for m in $members; do grep -q "^  $m " "$tmp/bundle.out" || fail "stdout does not list $m"; done
pass "bundle: the eight members, the archive and each member 0600 (an old 0644 file replaced), listed on stdout"

mkdir "$tmp/x"
tar xzf "$tmp/out/b.tar.gz" -C "$tmp/x"
cmp "$tmp/expected-device.json" "$tmp/x/devicecontent.json" || fail "devicecontent.json differs from $dm"
cmp "$tmp/expected-fhir.json" "$tmp/x/fhirmapping.json" || fail "fhirmapping.json differs from $fm"
for f in connector destination fhirservice status; do
  jq -e . "$tmp/x/$f.json" > /dev/null || fail "$f.json is not JSON"
done
jq -e '.name == "conn1" and .properties.deviceMapping.content.templateType == "CollectionContent"
       and .properties.ingestionEndpointConfiguration.eventHubName == "devicedata" and .tags.owner == "team-a"' \
  "$tmp/x/connector.json" > /dev/null || fail "connector.json: $(head -c 500 "$tmp/x/connector.json")"
jq -e '.name == "dest1" and .properties.resourceIdentityResolutionType == "Create" and .tags.owner == "team-a"' \
  "$tmp/x/destination.json" > /dev/null || fail "destination.json: $(head -c 500 "$tmp/x/destination.json")"
jq -e '.name == "fhir1" and .kind == "fhir-R4"' "$tmp/x/fhirservice.json" > /dev/null ||
  fail "fhirservice.json: $(cat "$tmp/x/fhirservice.json")"
! grep -rq -- "$tag_secret" "$tmp/x" || fail "a member named like a secret is in the bundle: $(grep -rl -- "$tag_secret" "$tmp/x")"
grep -q '^removed: connector.json: tags.apiKey$' "$tmp/x/version.txt" || fail "version.txt does not say what was removed"
pass "bundle: mappings byte for byte, settings as ARM JSON, members named like secrets removed (and named)"

jq -e '.counters.events == 2 and .counters.deadLettered == 1 and .errorsByName.DeviceIdentityNotDefinedException == 1
       and (.recentErrors | length) >= 1 and (.recentErrors[0] | has("errorName"))' "$tmp/x/status.json" > /dev/null ||
  fail "status.json: $(cat "$tmp/x/status.json")"
grep -q "^iomt_errors_total{.*Name=\"DeviceIdentityNotDefinedException\".*connector=\"$conn\".*} 1$" "$tmp/x/metrics.txt" ||
  fail "metrics.txt lacks the connector's error count: $(grep DeviceIdentity "$tmp/x/metrics.txt")"
! grep -q 'connector="other1"' "$tmp/x/metrics.txt" || fail "metrics.txt has the other connector's series"
# Each sample follows its family's # TYPE.
awk '/^# TYPE / { family = $3; next } /^#/ { next }
     { name = $1; sub(/\{.*/, "", name); if (index(name, family) != 1) { print; bad = 1 } } END { exit bad }' \
  "$tmp/x/metrics.txt" || fail "metrics.txt: a sample without its # TYPE"
[ "$(grep -c '^# HELP' "$tmp/x/metrics.txt")" = "$(grep -c '^# TYPE' "$tmp/x/metrics.txt")" ] || fail "metrics.txt: HELP/TYPE"
pass "bundle: status.json (counters, errors by name, recent errors), metrics.txt of this connector only"

[ "$(head -1 "$tmp/x/version.txt")" = "$("$iomt" --version)" ] || fail "version.txt: $(head -1 "$tmp/x/version.txt")"
grep -q "^date: $(date -u +%Y-%m-)" "$tmp/x/version.txt" || fail "version.txt has no date"
grep -qF "resource: $url" "$tmp/x/version.txt" || fail "version.txt does not name the resource"
pass "bundle: version.txt (iomt --version, date, resource)"

# No message body, no dead letter, no other connector, no token.
! grep -rq -- "$marker" "$tmp/x" || fail "a message body is in the bundle: $(grep -rl -- "$marker" "$tmp/x")"
for f in "$tmp"/x/*.json; do  # a dead-letter record carries its message under "event"
  jq -e '[.. | objects | has("event")] | any | not' "$f" > /dev/null || fail "a dead-letter record in $f"
done
! grep -rq 'other1' "$tmp/x" || fail "the other connector is in the bundle: $(grep -rl 'other1' "$tmp/x")"
! grep -rq -- "$token" "$tmp/x" "$tmp/bundle.out" "$tmp/bundle.err" || fail "the token was printed"
pass "bundle: no message body (marker absent), no dead letters, nothing of other1, no token"

# ---- 2. A connector without a destination: a partial bundle, exit 1 --------------
rc=0
"$iomt" support-bundle "${url%%conn1*}conn2" --out "$tmp/out/partial.tar.gz" > "$tmp/bundle.out" 2> "$tmp/bundle.err" || rc=$?
[ $rc = 1 ] || fail "bundle of a connector without destination: exit $rc (want 1): $(cat "$tmp/bundle.err")"
# (Not running without a destination: no status either.)
[ "$(tar tzf "$tmp/out/partial.tar.gz" | sort | xargs)" = "connector.json devicecontent.json metrics.txt version.txt" ] ||
  fail "partial members: $(tar tzf "$tmp/out/partial.tar.gz" | xargs)"
grep -q 'warning: left out fhirmapping.json: the connector has no FHIR destination' "$tmp/bundle.err" ||
  fail "stderr does not say what is left out: $(cat "$tmp/bundle.err")"
tar xzf "$tmp/out/partial.tar.gz" -C "$tmp/x" version.txt
grep -q '^left out: destination.json: ' "$tmp/x/version.txt" || fail "version.txt does not say what is left out"
pass "bundle: no destination, the rest written, what is left out said on stderr and in version.txt, exit 1"

# ---- 3. Failures ---------------------------------------------------------------
rc=0
"$iomt" support-bundle "${url%%conn1*}nope1" --out "$tmp/out/missing.tar.gz" 2> "$tmp/bundle.err" > /dev/null || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 404: ' "$tmp/bundle.err" || fail "a missing connector: exit $rc, $(cat "$tmp/bundle.err")"
[ ! -e "$tmp/out/missing.tar.gz" ] || fail "an archive for a missing connector"
rc=0
"$iomt" support-bundle "$url" --out "$tmp/out" 2> "$tmp/bundle.err" > /dev/null || rc=$?
[ $rc = 2 ] || fail "--out a directory: exit $rc (want 2)"
rc=0
"$iomt" support-bundle "$url" --out "$tmp/no-such-dir/b.tar.gz" 2> "$tmp/bundle.err" > /dev/null || rc=$?
[ $rc = 2 ] || fail "--out in a missing directory: exit $rc (want 2)"
stop_serve "$s"
rc=0
"$iomt" support-bundle "$url" --out "$tmp/out/gone.tar.gz" 2> "$tmp/bundle.err" > /dev/null || rc=$?
[ $rc = 3 ] || fail "the server stopped: exit $rc (want 3)"
left=$(cd "$tmp/out" && echo *)
[ "$left" = "b.tar.gz partial.tar.gz" ] || fail "files left behind: $left"
pass "bundle: a missing connector exit 1, usage exit 2, no server exit 3; nothing half-written left"
