#!/usr/bin/env bash
# The provisioning API of `iomt serve` (docs/provisioning.md) end to end, as
# `az rest` or a pipeline would use it: ARM resources created, read, listed,
# updated and deleted; every provisioning message of Azure's troubleshooting
# guide under its condition, word for word; connectors that run at once and
# take events over HTTP and from Kafka (librdkafka's mock cluster standing in
# for Event Hubs' Kafka endpoint); live mapping updates; restarts, SIGKILL
# and concurrent PUTs.
set -euo pipefail
cd "$(dirname "$0")/../.."
iomt=${IOMT:-build/bin/iomt}
mock=${KAFKA_MOCK:-build/release/tests/kafka_mock_cluster}
produce=${KAFKA_PRODUCE:-build/release/tests/kafka_produce}
tmp=$(mktemp -d /tmp/iomt-provisioning-XXXXXX)
test_name=provisioning_test
# shellcheck source=tests/server/lib.sh
. tests/server/lib.sh

dm=conformance/iomt-fhir/sample/templates/basic/devicecontent.json
fm=bench/mappings/w1-quantity/fhirmapping.json
sub=/subscriptions/sub-a/resourceGroups/rg1/providers/Microsoft.HealthcareApis
ws=$sub/workspaces/ws-one

# call METHOD PATH [BODY]: sets $code and $body (BODY: a file, or - for none).
call() {
  local method=$1 path=$2 data=${3:--}
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json')
  [ "$data" = - ] || args+=(--data-binary "@$data")
  code=$(curl "${args[@]}" "$base$path")
  body=$(cat "$tmp/body")
}
# expect CODE [ERROR_CODE [MESSAGE]]: the last answer's status, error code and message.
expect() {
  [ "$code" = "$1" ] || fail "$what: status $code, expected $1: $body"
  if [ $# -ge 2 ]; then
    [ "$(jq -r .error.code <<< "$body")" = "$2" ] || fail "$what: error code $(jq -r .error.code <<< "$body"), expected $2"
  fi
  if [ $# -ge 3 ]; then
    [ "$(jq -r .error.message <<< "$body")" = "$3" ] ||
      fail "$what: message '$(jq -r .error.message <<< "$body")', expected '$3'"
  fi
  pass "$what"
}
json() { # json FILE TEXT: writes TEXT to FILE
  printf '%s' "$2" > "$1"
}
# splice FILE: stdin with "MAPPING" replaced by FILE's text, so that the
# mapping goes in as sent (pretty-printed, as a user would send it).
splice() {
  node -e 'const fs = require("fs");
    const m = fs.readFileSync(process.argv[1], "utf8").replace(/\n$/, "");
    process.stdout.write(fs.readFileSync(0, "utf8").replace("\"MAPPING\"", () => m));' "$1"
}
connector_body() { # connector_body FILE LOCATION NAMESPACE [DEVICE_MAPPING_FILE]
  jq -n --arg loc "$2" --argjson ns "$3" --rawfile m "${4:-$dm}" \
    '{location: $loc, properties: {ingestionEndpointConfiguration: {eventHubName: "devicedata", consumerGroup: "$Default",
       fullyQualifiedEventHubNamespace: $ns}, deviceMapping: {content: "MAPPING"}}}' |
    splice "${4:-$dm}" > "$1"
}
destination_body() { # destination_body FILE LOCATION FHIR_SERVICE_ID [FHIR_MAPPING_FILE]
  jq -n --arg loc "$2" --arg id "$3" \
    '{location: $loc, properties: {resourceIdentityResolutionType: "Create", fhirServiceResourceId: $id,
       fhirMapping: {content: "MAPPING"}}}' |
    splice "${4:-$fm}" > "$1"
}

# ---- a Kafka cluster for the event hub namespace, and the server ----------------
mkfifo "$tmp/mock.in"
"$mock" --brokers 1 --topic devicedata:2 < "$tmp/mock.in" > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=("$!")
exec 9> "$tmp/mock.in"
wait_for 20 "the mock cluster" grep -q '^bootstrap ' "$tmp/mock.out"
brokers=$(sed -n 's/^bootstrap //p' "$tmp/mock.out")
cat > "$tmp/serve.json" << EOF
{"store": "$tmp/s", "iotConnectorQuota": 3, "drainSeconds": 3,
 "eventHubNamespaces": [{"namespace": "kafkahub01.servicebus.windows.net", "brokers": "$brokers",
                         "properties": {"topic.metadata.refresh.interval.ms": "1000"}}],
 "connectors": [{"name": "from-config", "deviceMapping": "$PWD/$dm", "fhirMapping": "$PWD/$fm"}]}
EOF
start_serve main --config "$tmp/serve.json"
main_pid=$pid
port=${base##*:}

# ---- workspaces ---------------------------------------------------------------------
what="PUT workspace: 201"
json "$tmp/ws.json" '{"location":"East US","tags":{"team":"cardio"}}'
call PUT "$ws?api-version=2022-06-01" "$tmp/ws.json"
expect 201
[ "$(jq -r '.id, .name, .type, .properties.provisioningState, .tags.team' <<< "$body" | tr '\n' ' ')" = \
  "$ws ws-one Microsoft.HealthcareApis/workspaces Succeeded cardio " ] || fail "workspace body: $body"
etag=$(jq -r .etag <<< "$body")
what="PUT workspace again: 200, a new etag"
call PUT "$ws" "$tmp/ws.json"
expect 200
[ "$(jq -r .etag <<< "$body")" != "$etag" ] || fail "the etag did not change"
what="If-Match with an old etag: 412"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "If-Match: \"$etag\"" --data-binary @"$tmp/ws.json" "$base$ws")
body=$(cat "$tmp/body")
expect 412 PreconditionFailed
what="a name ARM refuses: 400"
call PUT "$sub/workspaces/Bad_Name" "$tmp/ws.json"
expect 400 InvalidResourceName
what="not JSON: 400"
json "$tmp/bad.json" '{"location": "eastus",'
call PUT "$sub/workspaces/ws-two" "$tmp/bad.json"
expect 400 InvalidRequestContent
jq -r .error.message <<< "$body" | grep -q "could not be deserialized" || fail "not-JSON message: $body"
what="a wrong type: 400 naming the member"
json "$tmp/bad.json" '{"location": 5}'
call PUT "$sub/workspaces/ws-two" "$tmp/bad.json"
expect 400 InvalidRequestContent "The property 'location' must be a string."
what="a 2 MiB body: 400"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' > "$tmp/big.json"
call PUT "$sub/workspaces/ws-two" "$tmp/big.json"
expect 400 InvalidRequestContent
what="no location: 400"
json "$tmp/bad.json" '{"properties":{}}'
call PUT "$sub/workspaces/ws-two" "$tmp/bad.json"
expect 400 LocationRequired
call GET "$sub/workspaces/ws-two"
what="a refused PUT created nothing: 404"
expect 404 ResourceNotFound
for w in ws-two ws-three; do
  json "$tmp/w.json" '{"location":"eastus"}'
  call PUT "$sub/workspaces/$w" "$tmp/w.json"
  [ "$code" = 201 ] || fail "PUT $w: $code $body"
done
what="a resource group's workspaces, paged by nextLink"
call GET "$sub/workspaces?\$top=2"
expect 200
[ "$(jq '.value | length' <<< "$body")" = 2 ] || fail "page 1: $body"
next=$(jq -r .nextLink <<< "$body")
[ -n "$next" ] && [ "$next" != null ] || fail "no nextLink: $body"
page2=$(curl -s "$next")
[ "$(jq '.value | length' <<< "$page2")" = 1 ] && [ "$(jq -r .nextLink <<< "$page2")" = null ] || fail "page 2: $page2"
[ "$(jq -r '[.value[].name] | join(",")' <<< "$body"),$(jq -r '.value[0].name' <<< "$page2")" = "ws-one,ws-three,ws-two" ] ||
  fail "the pages do not list each workspace once"
what="a subscription's workspaces"
call GET "/subscriptions/sub-a/providers/Microsoft.HealthcareApis/workspaces"
expect 200
[ "$(jq '.value | length' <<< "$body")" = 3 ] || fail "$body"

# ---- FHIR services --------------------------------------------------------------------
what="PUT fhirservice (the embedded store): 201"
json "$tmp/f.json" '{"kind":"fhir-R4","location":"eastus","properties":{}}'
call PUT "$ws/fhirservices/fhir-one" "$tmp/f.json"
expect 201
what="a child of a missing workspace: 404"
call PUT "$sub/workspaces/nowhere/fhirservices/fhir-one" "$tmp/f.json"
expect 404 ParentResourceNotFound
what="a fhirservice with a bearer token: the token is never returned"
json "$tmp/f2.json" '{"kind":"fhir-R4","location":"eastus","properties":{"url":"http://127.0.0.1:9/fhir","credentials":{"bearerToken":"s3cret-token-value"}}}'
call PUT "$ws/fhirservices/fhir-remote" "$tmp/f2.json"
expect 201
grep -q s3cret-token-value <<< "$body" && fail "the secret came back: $body"
call GET "$ws/fhirservices/fhir-remote"
grep -q s3cret-token-value <<< "$body" && fail "the secret came back on GET"
[ "$(stat -c %a "$tmp/s/provisioning.json")" = 600 ] || fail "provisioning.json is not private"
pass "secrets are write-only; provisioning.json is 0600"
what="DELETE of an unused fhirservice: 200, then 204"
call DELETE "$ws/fhirservices/fhir-remote"
expect 200
call DELETE "$ws/fhirservices/fhir-remote"
expect 204

# ---- IoT connectors: Azure's messages ---------------------------------------------
what="connector location unlike the workspace's: Azure's message"
connector_body "$tmp/c.json" westus '"myhub01.servicebus.windows.net"'
call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
expect 400 LocationMismatch "Location property of child resources must match the Location property of parent resources."
for ns in null '""' '"myhub01.example.com"' '"x.servicebus.windows.net"'; do
  what="fullyQualifiedEventHubNamespace $ns: Azure's message"
  connector_body "$tmp/c.json" eastus "$ns"
  call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
  expect 400 InvalidEventHubNamespace "fullyQualifiedEventHubNamespace is null, empty, or formatted incorrectly."
done
what="an invalid device mapping: Azure's message with every error and its position"
printf '{\n  "templateType": "CollectionContent",\n  "template": [\n    {"templateType": "JsonPathContent", "template": {"typeName": "hr"}}\n  ]\n}\n' > "$tmp/bad-dm.json"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"' "$tmp/bad-dm.json"
call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
expect 400 InvalidDeviceMapping
msg=$(jq -r .error.message <<< "$body")
[[ "$msg" == "Invalid deviceMapping mapping. Validation errors: "*"Line Number: 4"* ]] || fail "message: $msg"
# The same list as iomt validate gives for the file.
"$iomt" validate --device-mapping "$tmp/bad-dm.json" --json > "$tmp/validate.json" || true
[ "$(jq '.errors | length' "$tmp/validate.json")" = 3 ] || fail "iomt validate: $(cat "$tmp/validate.json")"
while IFS= read -r e; do
  [[ "$msg" == *"$e"* ]] || fail "iomt validate reports '$e', the API does not: $msg"
done < <(jq -r '.errors[] | "Line Number: \(.line), Position: \(.column). \(.message)"' "$tmp/validate.json")
what="a valid connector: 201, Succeeded, its httpIngestionUrl"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"'
call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
expect 201
[ "$(jq -r '.properties.provisioningState, .properties.httpIngestionUrl' <<< "$body" | tr '\n' ' ')" = \
  "Succeeded /connectors/conn-one/messages " ] || fail "$body"
what="a name a configured connector has: 409"
call PUT "$ws/iotconnectors/from-config" "$tmp/c.json"
expect 409 ConnectorNameInUse
what="the quota (3 per subscription here), across workspaces"
call PUT "$ws/iotconnectors/conn-two" "$tmp/c.json"
[ "$code" = 201 ] || fail "conn-two: $code $body"
call PUT "$sub/workspaces/ws-two/iotconnectors/conn-three" "$tmp/c.json"
[ "$code" = 201 ] || fail "conn-three: $code $body"
call PUT "$sub/workspaces/ws-three/iotconnectors/conn-four" "$tmp/c.json"
expect 409 QuotaExceeded "The maximum number of resource type iotconnectors has been reached."
what="another subscription has its own quota"
json "$tmp/w.json" '{"location":"eastus"}'
call PUT "/subscriptions/sub-b/resourceGroups/rg1/providers/Microsoft.HealthcareApis/workspaces/ws-b" "$tmp/w.json"
call PUT "/subscriptions/sub-b/resourceGroups/rg1/providers/Microsoft.HealthcareApis/workspaces/ws-b/iotconnectors/conn-b" "$tmp/c.json"
expect 201
what="an update of a connector at the quota is not a new one: 200"
call PUT "$ws/iotconnectors/conn-two" "$tmp/c.json"
expect 200
call DELETE "$ws/iotconnectors/conn-two"
what="a connector without a destination is deleted at once: 200"
expect 200

# ---- FHIR destinations --------------------------------------------------------------------
fhir_id=$ws/fhirservices/fhir-one
what="destination location unlike the connector's: Azure's message"
destination_body "$tmp/d.json" westus "$fhir_id"
call PUT "$ws/iotconnectors/conn-one/fhirdestinations/dest-one" "$tmp/d.json"
expect 400 LocationMismatch "Location property of child resources must match the Location property of parent resources."
for id in "not-an-id" "/subscriptions/sub-a/resourceGroups/rg1/providers/Microsoft.HealthcareApis/workspaces/ws-one/fhirservices/nope" \
  "/subscriptions/sub-a/resourceGroups/rg1/providers/Microsoft.Other/services/fhir-one" ""; do
  what="fhirServiceResourceId '$id': Azure's message"
  destination_body "$tmp/d.json" eastus "$id"
  call PUT "$ws/iotconnectors/conn-one/fhirdestinations/dest-one" "$tmp/d.json"
  expect 400 InvalidFhirServiceResourceId "The fhirServiceResourceId provided is invalid."
done
what="an invalid FHIR mapping"
printf '{"templateType": "CollectionFhir", "template": [{"templateType": "CodeValueFhir", "template": {"typeName": "x"}}]}' > "$tmp/bad-fm.json"
destination_body "$tmp/d.json" eastus "$fhir_id" "$tmp/bad-fm.json"
call PUT "$ws/iotconnectors/conn-one/fhirdestinations/dest-one" "$tmp/d.json"
expect 400 InvalidFhirMapping
[[ "$(jq -r .error.message <<< "$body")" == "Invalid fhirMapping mapping. Validation errors: "* ]] || fail "$body"
what="a destination (the services/{name} form of the id): 201, the connector runs at once"
destination_body "$tmp/d.json" eastus "/subscriptions/sub-a/resourceGroups/rg1/providers/Microsoft.HealthcareApis/services/fhir-one"
call PUT "$ws/iotconnectors/conn-one/fhirdestinations/dest-one" "$tmp/d.json"
expect 201
[ "$(jq -r .properties.provisioningState <<< "$body")" = Succeeded ] || fail "$body"
wait_for 10 "conn-one runs" sh -c "curl -sf $base/connectors/conn-one > /dev/null"
what="the destination quota: Azure's message"
call PUT "$ws/iotconnectors/conn-one/fhirdestinations/dest-two" "$tmp/d.json"
expect 409 QuotaExceeded "The maximum number of resource type iotconnectors/destinations has been reached."
what="/readyz and the status say the event hub is not configured"
curl -s "$base/readyz" | jq -e '.connectors["conn-one"].warning | test("not configured")' > /dev/null || fail "readyz"
curl -s "$base/connectors/conn-one" | jq -e '.sourceWarning | test("myhub01.servicebus.windows.net")' > /dev/null || fail "status"
pass "$what"
what="GET returns each mapping exactly as sent"
call GET "$ws/iotconnectors/conn-one"
node -e '
  const [body, file] = [require("fs").readFileSync(process.argv[1], "utf8"), require("fs").readFileSync(process.argv[2], "utf8")];
  if (!body.includes(file.replace(/\n$/, ""))) { console.error("the device mapping text is not in the GET body"); process.exit(1); }' \
  "$tmp/body" "$dm" || fail "$what"
pass "$what"

# ---- it runs: HTTP ingestion, live mapping updates ------------------------------------------
node bench/gen.js w1 200 3 > "$tmp/m.ndjson"
post "$base" conn-one "$tmp/m.ndjson" > /dev/null
want=$("$iomt" run --device-mapping $dm --fhir-mapping $fm --input "$tmp/m.ndjson" --store "$tmp/clean" | jq -r .observations.created)
wait_for 30 "the 200 messages are written" sh -c "[ \"\$(curl -s '$base/fhir/Observation?_count=1' | jq .total)\" -ge $want ]"
pass "HTTP ingestion of a provisioned connector writes to the embedded store ($want Observations)"
gen0=$(curl -s "$base/connectors/conn-one/mappings" | jq -c .deviceMapping | md5sum)
what="an invalid update is refused; the running mapping stays"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"' "$tmp/bad-dm.json"
call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
expect 400 InvalidDeviceMapping
[ "$(curl -s "$base/connectors/conn-one/mappings" | jq -c .deviceMapping | md5sum)" = "$gen0" ] || fail "the mapping changed"
call GET "$ws/iotconnectors/conn-one"
grep -q '"typeName": "hr"' <<< "$body" && fail "the refused mapping was saved"
what="a valid update swaps the running mapping"
jq '.template |= map(select(.template.typeName != "heartrate"))' $dm > "$tmp/dm2.json"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"' "$tmp/dm2.json"
call PUT "$ws/iotconnectors/conn-one" "$tmp/c.json"
expect 200
[ "$(curl -s "$base/connectors/conn-one/mappings" | jq -c .deviceMapping | md5sum)" != "$gen0" ] || fail "not swapped"
curl -s "$base/connectors/conn-one/mappings" | jq -e '[.deviceMapping.template[].template.typeName] | index("heartrate") == null' > /dev/null ||
  fail "the running mapping still has heartrate"

# ---- Kafka: a namespace the configuration maps to a cluster ------------------------------------
what="a connector on a configured namespace reads its event hub (a Kafka topic)"
connector_body "$tmp/k.json" eastus '"kafkahub01.servicebus.windows.net"'
call PUT "$sub/workspaces/ws-two/iotconnectors/conn-kafka" "$tmp/k.json"
[ "$code" = 201 ] || fail "$what: $code $body"
json "$tmp/f.json" '{"kind":"fhir-R4","location":"eastus","properties":{}}'
call PUT "$sub/workspaces/ws-two/fhirservices/fhir-two" "$tmp/f.json"
destination_body "$tmp/d.json" eastus "$sub/workspaces/ws-two/fhirservices/fhir-two"
call PUT "$sub/workspaces/ws-two/iotconnectors/conn-kafka/fhirdestinations/dest-k" "$tmp/d.json"
[ "$code" = 201 ] && [ "$(jq -r .properties.provisioningState <<< "$body")" = Succeeded ] || fail "$what: $body"
curl -s "$base/connectors/conn-kafka" | jq -e '.sources.kafka.topic == "devicedata" and (has("sourceWarning") | not)' > /dev/null ||
  fail "conn-kafka has no Kafka source: $(curl -s "$base/connectors/conn-kafka")"
node bench/gen.js w1 100 9 | sed 's/"deviceid":"device-/"deviceid":"kdev-/' > "$tmp/k.ndjson"
"$produce" --brokers "$brokers" --topic devicedata --key-member deviceid < "$tmp/k.ndjson" > /dev/null
wait_for 60 "the Kafka events are written" sh -c "[ \"\$(curl -s $base/connectors/conn-kafka | jq .counters.events)\" -ge 100 ]"
pass "$what"

# ---- restart: the resources and the running connectors come back ------------------------------
restart() { # restart SIGNAL
  kill "-$1" "$main_pid"
  wait "$main_pid" 2> /dev/null || true
  "$iomt" serve --config "$tmp/serve.json" --listen "127.0.0.1:$port" > "$tmp/main2.out" 2> "$tmp/main2.err" &
  main_pid=$!
  pids+=("$main_pid")
  wait_for 30 "the server is back" grep -q '^listening on ' "$tmp/main2.out"
}
restart TERM
what="after a restart the resources are there and the connectors run"
call GET "$ws/iotconnectors/conn-one/fhirdestinations"
expect 200
[ "$(jq -r '.value[0].properties.provisioningState' <<< "$body")" = Succeeded ] || fail "$body"
post "$base" conn-one "$tmp/m.ndjson" > /dev/null
curl -sf "$base/connectors/conn-kafka" > /dev/null || fail "conn-kafka does not run after the restart"
pass "HTTP ingestion after the restart"

# ---- concurrent PUTs of one resource: one after the other, consistent ------------------------------
call DELETE "$sub/workspaces/ws-two/iotconnectors/conn-three"  # room under the quota
what="ten concurrent PUTs of one connector"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"'
for i in $(seq 1 10); do
  jq --arg t "v$i" '.tags = {version: $t}' "$tmp/c.json" > "$tmp/c$i.json"
  curl -s -o /dev/null -w '%{http_code}\n' -X PUT --data-binary "@$tmp/c$i.json" "$base$sub/workspaces/ws-three/iotconnectors/conn-race" >> "$tmp/race" &
done
wait_for 30 "the PUTs answered" sh -c "[ \$(wc -l < $tmp/race) = 10 ]"
[ "$(sort "$tmp/race" | uniq -c | tr -s ' ' | tr '\n' ';')" = " 9 200; 1 201;" ] || fail "$what: $(sort "$tmp/race" | uniq -c)"
call GET "$sub/workspaces/ws-three/iotconnectors"
[ "$(jq '.value | length' <<< "$body")" = 1 ] || fail "$what: $body"
pass "$what: one 201, nine 200, one resource"

# ---- DELETE drains; a parent being deleted refuses children; SIGKILL mid-deletion ----------------
# A FHIR service that goes away holds the connector's events, so that the
# deletion lasts the drain time (3 s) and can be caught under way.
start_serve remote --store "$tmp/remote"
remote_pid=$pid remote_base=$base
base=http://127.0.0.1:$port
jq -n --arg url "$remote_base/fhir" '{kind: "fhir-R4", location: "eastus", properties: {url: $url}}' > "$tmp/f3.json"
call PUT "$sub/workspaces/ws-three/fhirservices/fhir-three" "$tmp/f3.json"
[ "$code" = 201 ] || fail "fhir-three: $body"
destination_body "$tmp/d.json" eastus "$sub/workspaces/ws-three/fhirservices/fhir-three"
call PUT "$sub/workspaces/ws-three/iotconnectors/conn-race/fhirdestinations/dest-r" "$tmp/d.json"
[ "$(jq -r .properties.provisioningState <<< "$body")" = Succeeded ] || fail "dest-r: $body"
kill -9 "$remote_pid"
wait "$remote_pid" 2> /dev/null || true
post "$base" conn-race "$tmp/m.ndjson" > /dev/null
what="DELETE of a workspace whose connector holds events: 202, Deleting"
call DELETE "$sub/workspaces/ws-three"
expect 202
call GET "$sub/workspaces/ws-three"
[ "$(jq -r .properties.provisioningState <<< "$body")" = Deleting ] || fail "$body"
what="a connector under a workspace being deleted: Azure's message"
connector_body "$tmp/c.json" eastus '"myhub01.servicebus.windows.net"'
call PUT "$sub/workspaces/ws-three/iotconnectors/conn-late" "$tmp/c.json"
expect 409 AncestorNotProvisioned "Ancestor resources must be fully provisioned before a child resource can be provisioned."
what="a destination under a connector being deleted: Azure's message"
call PUT "$sub/workspaces/ws-three/iotconnectors/conn-race/fhirdestinations/dest-r" "$tmp/d.json"
expect 409 AncestorNotProvisioned "Ancestor resources must be fully provisioned before a child resource can be provisioned."
restart KILL
what="after a SIGKILL mid-deletion, the deletion finishes"
wait_for 30 "ws-three is gone" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base$sub/workspaces/ws-three)\" = 404 ]"
[ ! -e "$tmp/s/connectors/conn-race" ] || fail "the connector's state is still there"
curl -sf "$base/connectors/conn-race" > /dev/null && fail "conn-race still runs"
pass "$what"
what="the other resources survived the SIGKILL"
call GET "$ws/iotconnectors/conn-one"
expect 200
jq -e . "$tmp/s/provisioning.json" > /dev/null || fail "provisioning.json is not JSON"

# ---- SIGKILL during a stream of PUTs: the state file is always whole ----------------------------
for i in $(seq 1 40); do
  json "$tmp/w.json" '{"location":"eastus"}'
  curl -s -o /dev/null -X PUT --data-binary "@$tmp/w.json" "$base$sub/workspaces/ws-kill-$i" || true
done &
loop=$!
sleep 0.3
restart KILL
wait $loop 2> /dev/null || true
what="SIGKILL during PUTs: the server starts, every workspace it lists reads back"
call GET "$sub/workspaces?\$top=1000"
expect 200
for n in $(jq -r '.value[].name' <<< "$body"); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base$sub/workspaces/$n")" = 200 ] || fail "$n"
done

# ---- DELETE of a connector: it stops and its state goes ---------------------------------------------
what="DELETE of a running connector"
call DELETE "$ws/iotconnectors/conn-one"
[ "$code" = 202 ] || [ "$code" = 200 ] || fail "$what: $code $body"
wait_for 30 "conn-one is gone" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base$ws/iotconnectors/conn-one)\" = 404 ]"
curl -sf "$base/connectors/conn-one" > /dev/null && fail "conn-one still runs"
[ ! -e "$tmp/s/connectors/conn-one" ] || fail "conn-one's state is still there"
pass "$what"
echo "provisioning_test: all passed"
