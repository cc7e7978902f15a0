#!/usr/bin/env bash
# The soak and fault campaign (bench/soak.sh, docs/reliability.md) in two
# minutes: steady HTTP and Kafka load, the FHIR service away for 20 s, the
# service SIGKILLed and restarted twice, a second Kafka consumer joining and
# leaving. Passes when the FHIR service holds exactly what a clean `iomt run`
# of everything accepted writes (0 lost, 0 extra or different), the dead
# letters are exactly the invalid messages. RSS and open files are reported
# but not judged: two minutes of 40-second run segments on a shared machine
# (and the AddressSanitizer build's quarantine) say nothing about leaks; the
# 30-minute soak judges them. Rates are fixed (not measured) so that the test
# asks the same of any machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/iomt-soak-short-XXXXXX)
rc=0
DURATION=120 RATE=${SOAK_RATE:-300} KAFKA_RATE=${SOAK_KAFKA_RATE:-100} KILL_AT="40 85" OUTAGE_AT=55 \
  OUTAGE_SECONDS=20 KAFKA_JOIN_AT=30 KAFKA_LEAVE_AT=100 INVALID_EVERY=50 KAFKA_PARTITIONS=6 PLOT=none \
  DRAIN_TIMEOUT=300 JUDGE_FLAT=0 OUT="$out" bash bench/soak.sh || rc=$?
if [ $rc -ne 0 ]; then
  echo "soak_short_test: FAILED; the report: $out" >&2
  exit 1
fi
rm -rf "$out"
