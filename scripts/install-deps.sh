#!/usr/bin/env bash
# Installs the Debian packages that iomt's make targets need, and nothing else.
# Idempotent, and silent when everything is already there.
#
#   install-deps.sh [GROUP...]    install the build group and the named ones
#   install-deps.sh --list [GROUP...|all]
#                                 print the packages of those groups, one a line
#
# Groups: build (always: compile, link, `make demo`), test (what `make test`
# and its scripts execute), bench, fuzz (clang: make fuzz),
# style (format-check, tidy), package (`make package`, `make package-check`),
# fresh (`make fresh-check`). The list is the contract that the dependency audit
# (scripts/dep-audit.sh, run by .ci/run) holds the build and the scripts to:
# every header, library and program they use must come from a package here,
# from one these depend on, or from Debian's essential set.
set -euo pipefail

declare -A group
group[build]="
  build-essential cmake ninja-build pkg-config git ca-certificates
  ccache                 # compiles cached across builds and clones (CMakeLists.txt)
  libsimdjson-dev libre2-dev libcli11-dev
  libssl-dev             # SHA-256 of resource ids (libcrypto)
  libsqlite3-dev         # the embedded FHIR store
  libzstd-dev            # its large resources, compressed (docs/adr/0023)
  libcurl4-openssl-dev   # the remote FHIR client
  libboost-dev           # Boost.Beast/Asio: the HTTP server of iomt serve
  librdkafka-dev         # Kafka / Event Hubs source
  libmosquitto-dev       # MQTT source
  prometheus-cpp-dev     # /metrics
  libarchive-dev         # iomt support-bundle's .tar.gz (docs/adr/0017)
  libjwt-dev             # bearer JWTs of iomt serve's clients (docs/adr/0020)
  libgtest-dev libgmock-dev libbenchmark-dev
  jq curl mawk           # make demo reads the results and talks to iomt serve
  nodejs npm             # the web console is bundled from npm packages at build time (web/, docs/adr/0019)
"
group[test]="
  nodejs npm             # npm installs the pinned Node.js and the test tools (tools/node, tests/*)
  chromium               # the browser of the console's tests (driven by playwright-core, tests/web/)
  fonts-dejavu-core      # the text of its screenshots (docs/console*.png)
  mosquitto              # the broker of the MQTT tests
  mosquitto-clients      # mosquitto_pub: the devices of the MQTT end-to-end test
  mount                  # disk_full_test mounts the small file systems it fills
  stunnel4               # a TLS front for the test FHIR server and Kafka (client certificates, CA bundles)
  clang libclang-rt-14-dev   # the sanitizer builds: ASan+UBSan (make test) and TSan (make test-tsan)
"
group[bench]="
  nodejs npm
  time                   # /usr/bin/time: CPU time and peak RSS of each run
  gnuplot-nox            # bench/soak.sh: the plot of RSS and open files over the soak (docs/soak.png)
  liblmdb-dev librocksdb-dev   # bench/store_engines.sh: the storage engine spike (docs/adr/0024)
"
group[fuzz]="
  clang libclang-rt-14-dev   # libFuzzer
"
group[style]="
  clang-format clang-tidy
"
group[package]="
  dpkg-dev binutils      # make package: dpkg-shlibdeps (its Depends:), strip
  systemd                # make package-check: systemd-analyze verify and security on the unit
  podman runc            # make package-check: builds and runs the Containerfile's image (runc: see the script)
"
group[fresh]="
  mmdebstrap             # the minimal Debian 12 root of make fresh-check
  mount                  # its /proc, /dev and /tmp
"
all_groups=(build test bench fuzz style package fresh)

packages_of() { # the packages of the named groups, comments dropped, each once
  local g p
  local -A seen=()
  for g in "$@"; do
    [ -n "${group[$g]+x}" ] || { echo "install-deps: unknown group $g (known: ${all_groups[*]})" >&2; exit 2; }
    for p in $(sed 's/#.*//' <<< "${group[$g]}"); do
      [ -n "${seen[$p]+x}" ] || { seen[$p]=1; echo "$p"; }
    done
  done
}

if [ "${1:-}" = "--list" ]; then
  shift
  if [ $# -eq 0 ] || [ "$1" = all ]; then set -- "${all_groups[@]}"; fi
  packages_of "$@"
  exit 0
fi

for g in "$@"; do
  [ -n "${group[$g]+x}" ] || { echo "install-deps: unknown group $g (known: ${all_groups[*]})" >&2; exit 2; }
done
missing=()
while read -r p; do
  case "$p" in
    # A Node.js that is not Debian's (e.g. from NodeSource) brings its own npm,
    # and Debian's npm would not install beside it: keep what is there.
    nodejs | npm) command -v "${p/nodejs/node}" > /dev/null && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done < <(packages_of build "$@")
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
