#!/usr/bin/env bash
# `iomt mappings export RESOURCE_URL --out DIR` against a running `iomt
# serve` (docs/cli.md, "Mappings and support"): the two files are byte for
# byte the mappings as provisioned (CRLF line ends and all), a connector
# without a destination gives devicecontent.json alone (exit 1), and the
# failures get the server's error and cli.md's exit codes; --token is never
# printed.
#   IOMT=path/to/iomt mappings_export_test.sh   (from the checkout's root)
set -euo pipefail
iomt=${IOMT:?IOMT=path to the iomt binary}
test_name=mappings_export_test
tmp=$(mktemp -d /tmp/iomt-export-XXXXXX)
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh
# shellcheck source=tests/cli/provision_lib.sh
. tests/cli/provision_lib.sh
umask 022

# The sample mappings have CRLF line ends: re-serialized JSON would not.
dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=conformance/iomt-fhir/sample/templates/basic/fhirmapping.json
grep -q $'\r$' "$dm" || fail "$dm no longer has CRLF line ends: pick a file that does"
expected_export "$dm" > "$tmp/expected-device.json"
expected_export "$fm" > "$tmp/expected-fhir.json"
# A mapping with spacing a serializer would not keep, and no destination.
printf '{ "templateType" : "CollectionContent" ,\n\t"template":[  ] }' > "$tmp/spaced.json"
printf '{ "templateType" : "CollectionContent" ,\n\t"template":[  ] }\n' > "$tmp/expected-spaced.json"
secret=tok-$RANDOM-do-not-print

start_serve s --store "$tmp/store"
s=$pid
provision_workspace ws01
provision_connector ws01 conn1 "$dm"
provision_destination ws01 conn1 dest1 "$fm"
provision_connector ws01 conn2 "$tmp/spaced.json"
url=$base$arm_root/workspaces/ws01/iotconnectors/conn1

# ---- 1. Both files, as provisioned -------------------------------------------
rc=0
"$iomt" mappings export "$url?api-version=2022-06-01" --out "$tmp/out1" --token "$secret" \
  > "$tmp/export.out" 2> "$tmp/export.err" || rc=$?
[ $rc = 0 ] || fail "export: exit $rc: $(cat "$tmp/export.err")"
cmp "$tmp/expected-device.json" "$tmp/out1/devicecontent.json" || fail "devicecontent.json differs from $dm"
cmp "$tmp/expected-fhir.json" "$tmp/out1/fhirmapping.json" || fail "fhirmapping.json differs from $fm"
printf '%s\n' "$tmp/out1/devicecontent.json" "$tmp/out1/fhirmapping.json" | cmp - "$tmp/export.out" ||
  fail "stdout does not list the two files: $(cat "$tmp/export.out")"
for f in devicecontent fhirmapping; do
  [ "$(stat -c %a "$tmp/out1/$f.json")" = 644 ] || fail "$f.json is $(stat -c %a "$tmp/out1/$f.json"), not 644"
done
# What was exported loads as it did on the server.
"$iomt" validate --device-mapping "$tmp/out1/devicecontent.json" --fhir-mapping "$tmp/out1/fhirmapping.json" \
  > /dev/null || fail "the exported mappings do not validate"
pass "export: devicecontent.json and fhirmapping.json byte for byte as provisioned (CRLF kept), 0644"

# Again into the same directory, the URL without api-version and with a
# trailing slash: the files are replaced by the same bytes.
"$iomt" mappings export "$url/" --out "$tmp/out1" > /dev/null 2>&1 || fail "export again"
cmp "$tmp/expected-device.json" "$tmp/out1/devicecontent.json" || fail "devicecontent.json, second export"
pass "export: again over the same files, URL without api-version"

# ---- 2. A connector without a destination ------------------------------------
rc=0
"$iomt" mappings export "${url%conn1}conn2" --out "$tmp/out2" > "$tmp/export.out" 2> "$tmp/export.err" || rc=$?
[ $rc = 1 ] || fail "export of a connector without destination: exit $rc (want 1)"
cmp "$tmp/expected-spaced.json" "$tmp/out2/devicecontent.json" || fail "conn2's devicecontent.json is not as sent"
[ ! -e "$tmp/out2/fhirmapping.json" ] || fail "a fhirmapping.json for a connector without destination"
grep -q 'no FHIR destination' "$tmp/export.err" || fail "stderr does not say why: $(cat "$tmp/export.err")"
pass "export: no destination, devicecontent.json alone (spacing kept), exit 1 with the reason"

# ---- 3. Failures ---------------------------------------------------------------
# No such connector: the server's error, exit 1; the token not printed.
code=$(curl -s -o "$tmp/404.json" -w '%{http_code}' "${url%conn1}nope1")
server_code=$(jq -r .error.code "$tmp/404.json")
rc=0
"$iomt" mappings export "${url%conn1}nope1" --out "$tmp/out3" --token "$secret" > "$tmp/export.out" \
  2> "$tmp/export.err" || rc=$?
[ $rc = 1 ] || fail "export of a missing connector: exit $rc (want 1)"
grep -q "HTTP $code: $server_code: " "$tmp/export.err" || fail "not the server's error ($code $server_code): $(cat "$tmp/export.err")"
[ ! -e "$tmp/out3" ] || fail "--out created for a missing connector"
! grep -q -- "$secret" "$tmp/export.out" "$tmp/export.err" || fail "the token was printed"
pass "export: a missing connector, exit 1 with the server's $server_code"
# Not a connector's URL, missing --out: usage.
rc=0
"$iomt" mappings export "$base$arm_root/workspaces/ws01/fhirservices/fhir1" --out "$tmp/out4" 2> "$tmp/export.err" || rc=$?
[ $rc = 2 ] && grep -q 'iotconnectors' "$tmp/export.err" || fail "a FHIR service's URL: exit $rc, $(cat "$tmp/export.err")"
rc=0
"$iomt" mappings export "$url" 2> /dev/null || rc=$?
[ $rc = 2 ] || fail "without --out: exit $rc (want 2)"
rc=0
"$iomt" mappings export "${url/http:\/\//http://user:pw@}" --out "$tmp/out4" 2> "$tmp/export.err" || rc=$?
[ $rc = 2 ] && grep -q 'credentials go in --token' "$tmp/export.err" || fail "credentials in the URL: exit $rc"
: > "$tmp/a-file"
rc=0
"$iomt" mappings export "$url" --out "$tmp/a-file" 2> /dev/null || rc=$?
[ $rc = 2 ] || fail "--out a file: exit $rc (want 2)"
pass "export: usage errors exit 2"
stop_serve "$s"
# The server gone: exit 3, nothing written, the token not printed.
rc=0
"$iomt" mappings export "$url" --out "$tmp/out5" --token "$secret" > "$tmp/export.out" 2> "$tmp/export.err" || rc=$?
[ $rc = 3 ] || fail "export from a stopped server: exit $rc (want 3)"
[ ! -e "$tmp/out5/devicecontent.json" ] || fail "a file written without a server"
! grep -q -- "$secret" "$tmp/export.out" "$tmp/export.err" || fail "the token was printed"
pass "export: the server unreachable, exit 3; the token never printed"

# ---- 4. --token: sent as Authorization: Bearer --------------------------------
# (iomt serve has no management credentials yet: a stand-in server that
# wants one, answering as the API does.)
cat > "$tmp/auth_server.js" << 'JS'
const http = require('http');
const token = process.argv[2];
const root = '/subscriptions/s/resourceGroups/r/providers/Microsoft.HealthcareApis/workspaces/ws01/iotconnectors/c01';
const server = http.createServer((req, res) => {
  const send = (status, body) => { res.writeHead(status, {'Content-Type': 'application/json'}); res.end(body); };
  if (req.headers.authorization !== 'Bearer ' + token)
    return send(401, '{"error":{"code":"InvalidAuthenticationToken","message":"The access token is invalid."}}');
  const path = req.url.split('?')[0];
  if (path === root) return send(200, '{"name":"c01","properties":{"deviceMapping":{"content":{"template":[],"templateType":"CollectionContent"}}}}');
  if (path === root + '/fhirdestinations')
    return send(200, '{"value":[{"name":"d","properties":{"fhirMapping":{"content":{"template":[] ,"templateType":"CollectionFhir"}}}}]}');
  send(404, '{"error":{"code":"ResourceNotFound","message":"not here"}}');
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
JS
node "$tmp/auth_server.js" "$secret" > "$tmp/auth.out" 2> "$tmp/auth.err" &
pids+=($!)
wait_for 10 "the stand-in server" test -s "$tmp/auth.out"
auth_url=http://127.0.0.1:$(cat "$tmp/auth.out")/subscriptions/s/resourceGroups/r/providers/Microsoft.HealthcareApis/workspaces/ws01/iotconnectors/c01
rc=0
"$iomt" mappings export "$auth_url" --out "$tmp/out6" > "$tmp/export.out" 2> "$tmp/export.err" || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 401: InvalidAuthenticationToken: The access token is invalid. (the server wants credentials: --token)' \
  "$tmp/export.err" || fail "without --token: exit $rc, $(cat "$tmp/export.err")"
rc=0
"$iomt" mappings export "$auth_url" --out "$tmp/out6" --token wrong > "$tmp/export.out" 2> "$tmp/export.err" || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 401: .*(is --token right?)' "$tmp/export.err" && ! grep -q wrong "$tmp/export.err" ||
  fail "a wrong --token: exit $rc, $(cat "$tmp/export.err")"
"$iomt" mappings export "$auth_url" --out "$tmp/out6" --token "$secret" > "$tmp/export.out" 2> "$tmp/export.err" ||
  fail "with --token: $(cat "$tmp/export.err")"
[ "$(cat "$tmp/out6/fhirmapping.json")" = '{"template":[] ,"templateType":"CollectionFhir"}' ] ||
  fail "fhirmapping.json from the stand-in: $(cat "$tmp/out6/fhirmapping.json")"
IOMT_TOKEN=$secret "$iomt" mappings export "$auth_url" --out "$tmp/out7" > "$tmp/export.out" 2> "$tmp/export.err" ||
  fail "with IOMT_TOKEN: $(cat "$tmp/export.err")"
! grep -q -- "$secret" "$tmp/export.out" "$tmp/export.err" || fail "the token was printed"
pass "export: --token (or IOMT_TOKEN) sent as a bearer token; 401 explained; the token never printed"
