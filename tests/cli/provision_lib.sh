# shellcheck shell=bash
# Shared by the tests of `iomt mappings export` and `iomt support-bundle`:
# provisions a workspace, FHIR service, IoT connector and FHIR destination on
# a running `iomt serve` through its ARM API (docs/provisioning.md), with the
# mappings inlined in the request bodies byte for byte as their files have
# them. Source after tests/server/lib.sh, with `base` and `tmp` set.

arm_root=/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.HealthcareApis

# arm_put PATH BODY_FILE: PUTs the body (201 or 200 wanted), then waits until
# the resource reports provisioningState Succeeded.
arm_put() {
  local code
  code=$(curl -s -o "$tmp/put.body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data-binary "@$2" "$base$1?api-version=2022-06-01")
  [ "$code" = 201 ] || [ "$code" = 200 ] || fail "PUT $1: $code $(head -c 600 "$tmp/put.body")"
  wait_for 30 "$1 Succeeded" sh -c \
    "curl -sf '$base$1' | jq -e '.properties.provisioningState == \"Succeeded\"' > /dev/null"
}

# provision_workspace WS: the workspace and its embedded FHIR service fhir1.
provision_workspace() {
  echo '{"location":"eastus"}' > "$tmp/ws.json"
  arm_put "$arm_root/workspaces/$1" "$tmp/ws.json"
  echo '{"kind":"fhir-R4","location":"eastus","properties":{}}' > "$tmp/fhir.json"
  arm_put "$arm_root/workspaces/$1/fhirservices/fhir1" "$tmp/fhir.json"
}

# provision_connector WS NAME DEVICE_MAPPING_FILE [TAGS_JSON]: the connector,
# its device mapping inlined as the file has it (line ends, indentation,
# trailing newline).
provision_connector() {
  {
    printf '{"location":"eastus",%s"properties":{"ingestionEndpointConfiguration":' "${4:+\"tags\":$4,}"
    printf '{"eventHubName":"devicedata","consumerGroup":"$Default","fullyQualifiedEventHubNamespace":"myhub01.servicebus.windows.net"},'
    printf '"deviceMapping":{"content":'
    cat "$3"
    printf '}}}'
  } > "$tmp/connector-$2.json"
  arm_put "$arm_root/workspaces/$1/iotconnectors/$2" "$tmp/connector-$2.json"
}

# provision_destination WS CONNECTOR NAME FHIR_MAPPING_FILE [TAGS_JSON]
provision_destination() {
  {
    printf '{"location":"eastus",%s"properties":{"resourceIdentityResolutionType":"Create",' "${5:+\"tags\":$5,}"
    printf '"fhirServiceResourceId":"%s/workspaces/%s/fhirservices/fhir1",' "$arm_root" "$1"
    printf '"fhirMapping":{"content":'
    cat "$4"
    printf '}}}'
  } > "$tmp/destination-$3.json"
  arm_put "$arm_root/workspaces/$1/iotconnectors/$2/fhirdestinations/$3" "$tmp/destination-$3.json"
}

# expected_export FILE: what `mappings export` writes for a mapping inlined
# from FILE: the value's text (FILE without its trailing line end: CRLF
# inside stays CRLF) and one '\n'.
expected_export() { sed '$ s/\r$//' "$1"; }
