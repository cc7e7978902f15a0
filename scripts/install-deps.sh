#!/usr/bin/env bash
# Installs the Debian packages iomt needs to build and test, and nothing
# else. Idempotent, and silent when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev           # fuzz targets (libFuzzer) and sanitizers
  libsimdjson-dev libre2-dev libcli11-dev
  libssl-dev                         # SHA-256 of resource ids (libcrypto)
  libsqlite3-dev                     # the embedded FHIR store
  libcurl4-openssl-dev               # the remote FHIR client
  libboost-dev                       # Boost.Beast/Asio: the HTTP server of `iomt serve`
  librdkafka-dev                     # Kafka / Event Hubs source (and its mock cluster for tests)
  libmosquitto-dev mosquitto         # MQTT source, and the broker its tests start
  mosquitto-clients                  # mosquitto_pub: the devices of the MQTT end-to-end test
  prometheus-cpp-dev                 # /metrics
  libgtest-dev libgmock-dev libbenchmark-dev
  jq                                 # baseline in bench/, and the CLI tests
)

# Optional groups: `install-deps.sh node` adds Node.js for the bench baselines.
for group in "$@"; do
  case "$group" in
    node) command -v node >/dev/null || packages+=(nodejs npm) ;;
    *) echo "install-deps: unknown group $group" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
