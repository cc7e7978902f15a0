#!/usr/bin/env bash
# `make package-check`: the Debian package and the container image, tried as
# an operator meets them (docs/deploy.md). Builds the package, then in a
# minimal Debian 12 root (mmdebstrap, as make fresh-check makes one):
#   - apt installs it, pulling its Depends: from Debian (nothing else there);
#   - `iomt --version` names this build; the system user, /etc/iomt, the
#     state directory (0700, the service user's) are in place;
#   - `iomt serve --config /etc/iomt/iomt.json` as the iomt user: the bundled
#     example events are posted to its example connector and read back
#     through /fhir (as many Observations as `iomt run` makes of them); the
#     store's files are private; SIGHUP reloads; SIGTERM drains and exits 0;
#   - with systemd added to the root, `systemd-analyze verify` passes on the
#     unit and `systemd-analyze security` rates its exposure;
#   - purge removes the configuration and keeps the patient data.
# Then, where podman works: the image of the Containerfile is built from the
# same root (as the base) and the package, run with a key, checked healthy,
# fed the example events, read back with the key, and stopped.
#
#   PACKAGE_ROOT  where the root is made (default /var/tmp/iomt-package-root)
#   SECURITY_THRESHOLD  the highest exposure accepted (default 2.0 of 10)
# Needs root (mmdebstrap, mounts, chroot) and the release build. ~5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${PACKAGE_ROOT:-/var/tmp/iomt-package-root}
root=$work/root
log=build/package-check.log
threshold=${SECURITY_THRESHOLD:-2.0}
iomt=build/bin/iomt

[ "$(id -u)" -eq 0 ] || { echo "package-check: needs root (mmdebstrap, mount, chroot)" >&2; exit 2; }
./scripts/install-deps.sh fresh package
mkdir -p build
: > "$log"
say() { printf '%s package-check: %s\n' "$(date +%T)" "$*" | tee -a "$log"; }
fail() {
  say "FAILED: $*"
  tail -30 "$log" >&2
  exit 1
}
# shellcheck source=scripts/debian-root.sh
. scripts/debian-root.sh
serve_pid=
container=
cleanup() {
  [ -n "$serve_pid" ] && kill -9 "$serve_pid" 2> /dev/null
  [ -n "$container" ] && podman rm -f "$container" > /dev/null 2>&1
  unmount_root
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

deb=$(./scripts/package.sh)
say "built $deb ($(du -h "$deb" | cut -f1))"
rm -rf --one-file-system "$work"
mkdir -p "$work" "$root"
start=$SECONDS
make_root "$work/base.tar"
tar -C "$root" -xf "$work/base.tar"
say "minimal Debian 12 root in $((SECONDS - start)) s"
prepare_root

# apt installs the package and what it depends on.
cp "$deb" "$root/tmp/"
in_root "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/$(basename "$deb")" >> "$log" 2>&1 ||
  fail "apt-get install of the package"
say "installed with its dependencies: $(in_root 'dpkg-query -W -f="\${Depends}" iomt' | tr -d '\n' | cut -c1-80)..."
want=$("$iomt" --version)
got=$(in_root 'iomt --version')
[ "$got" = "$want" ] || fail "iomt --version in the root: '$got', built: '$want'"
in_root 'getent passwd iomt' > /dev/null || fail "no iomt user"
state=$(in_root "stat -c '%U %a' /var/lib/iomt")
[ "$state" = "iomt 700" ] || fail "/var/lib/iomt: $state"
[ -f "$root/etc/iomt/iomt.json" ] || fail "no /etc/iomt/iomt.json"
in_root 'zcat /usr/share/man/man1/iomt.1.gz' | grep -q '^\.SS serve' || fail "the manual page has no serve section"
say "iomt --version: $got; user iomt; /var/lib/iomt 0700; manual page"

# The service as its unit runs it: its user, its configuration (on a free
# port here: the check shares this machine's network).
chroot --userspec=iomt:iomt "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
  /usr/bin/iomt serve --config /etc/iomt/iomt.json --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/serve.out" && break
  kill -0 "$serve_pid" 2> /dev/null || fail "iomt serve exited: $(cat "$work/serve.err")"
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/serve.out")
[ -n "$base" ] || fail "iomt serve did not say where it listens"
# The example events but the one that is not JSON (it is there to show a
# dead letter; HTTP refuses a body with it whole).
events=$work/events.ndjson
while IFS= read -r line; do
  if jq -e . <<< "$line" > /dev/null 2>&1; then printf '%s\n' "$line"; fi
done < "$root/usr/share/iomt/examples/events/ward.ndjson" > "$events"
code=$(curl -s -o "$work/post.json" -w '%{http_code}' -H 'content-type: application/x-ndjson' \
  --data-binary @"$events" "$base/connectors/example/messages")
[ "$code" = 202 ] || fail "POST the example events: $code $(cat "$work/post.json")"
# What `iomt run` makes of the same events with the same mappings.
rm -rf "$work/expected"
"$iomt" run --device-mapping examples/mappings/devicecontent.json --fhir-mapping examples/mappings/fhirmapping.json \
  --input examples/events/ward.ndjson --store "$work/expected" --dead-letter "$work/expected.dead" > /dev/null 2>&1 || true
expected=$("$iomt" store --store "$work/expected" export Observation | wc -l)
[ "$expected" -gt 0 ] || fail "iomt run made no Observation of the example events"
observations() { curl -sf "$base/fhir/Observation?_summary=count" | jq -r .total; }
for _ in $(seq 1 100); do
  [ "$(observations)" = "$expected" ] && break
  sleep 0.1
done
[ "$(observations)" = "$expected" ] || fail "/fhir has $(observations) Observations, iomt run made $expected"
curl -sf "$base/fhir/Patient?_summary=count" | jq -e '.total > 0' > /dev/null || fail "no Patient in /fhir"
uid=$(in_root 'id -u iomt')
not_private=$(find "$root/var/lib/iomt" \( -type f -perm /077 \) -o \( ! -uid "$uid" \) | head -3)
[ -z "$not_private" ] || fail "files of the store others can read or the service user does not own: $not_private"
# systemctl reload sends SIGHUP (ExecReload): the mappings are read again.
kill -HUP "$serve_pid"
for _ in $(seq 1 50); do
  grep -q 'info mappings reloaded' "$work/serve.err" && break
  sleep 0.1
done
grep -q 'info mappings reloaded' "$work/serve.err" || fail "SIGHUP did not reload: $(tail -3 "$work/serve.err")"
kill -TERM "$serve_pid"
rc=0
wait "$serve_pid" || rc=$?
serve_pid=
[ "$rc" = 0 ] || fail "iomt serve exited $rc after SIGTERM"
grep -q 'info stopped' "$work/serve.err" || fail "no 'stopped' in the log: $(tail -3 "$work/serve.err")"
say "iomt serve --config /etc/iomt/iomt.json as iomt: $(wc -l < "$events") example events posted, $expected Observations read back through /fhir; files 0600; SIGHUP reloads; SIGTERM exit 0"

# The unit, checked by systemd's own tools against the root with systemd in it.
in_root 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd' >> "$log" 2>&1 ||
  fail "apt-get install systemd"
systemd-analyze verify --root="$root" --man=no iomt.service >> "$log" 2>&1 ||
  fail "systemd-analyze verify: $(tail -5 "$log")"
systemd-analyze security --root="$root" --offline=yes --no-pager iomt.service > "$work/security.txt" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for iomt.service: \([0-9.]*\).*/\1/p' "$work/security.txt")
[ -n "$exposure" ] || fail "systemd-analyze security said: $(tail -5 "$work/security.txt")"
awk -v e="$exposure" -v t="$threshold" 'BEGIN { exit !(e <= t) }' ||
  fail "exposure $exposure above $threshold: $(grep '✗' "$work/security.txt" | head -20)"
say "systemd-analyze verify: clean; security: exposure $exposure ($(sed -n 's/.*Overall exposure level for iomt.service: [0-9.]* \(.*\)/\1/p' "$work/security.txt"))"

# Purge: the configuration goes, the patient data stays.
in_root 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq iomt' >> "$log" 2>&1 || fail "apt-get purge iomt"
[ ! -e "$root/etc/iomt/iomt.json" ] || fail "/etc/iomt/iomt.json left after purge"
[ ! -e "$root/usr/bin/iomt" ] || fail "/usr/bin/iomt left after purge"
[ -d "$root/var/lib/iomt" ] || fail "purge removed /var/lib/iomt (patient data)"
say "purged: configuration and binary gone, /var/lib/iomt kept"
unmount_root

# The container image.
if ! podman info > /dev/null 2>&1; then
  say "podman does not work on this machine: the container image was not built (docs/deploy.md)"
  say "passed (package; container skipped)"
  exit 0
fi
# This machine lets no process raise its open-files limit and its cgroups
# are hybrid, which crun refuses: runc, with limits it may set. (A normal
# host needs neither.)
export CONTAINERS_CONF=$work/containers.conf
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
  "$(ulimit -Hn)" "$(ulimit -Hn)" > "$CONTAINERS_CONF"
start=$SECONDS
podman import -q "$work/base.tar" localhost/iomt-check-base:bookworm >> "$log" 2>&1 || fail "podman import"
podman build -q --format docker -f Containerfile --build-arg BASE=localhost/iomt-check-base:bookworm \
  -t localhost/iomt:check build/package >> "$log" 2>&1 || fail "podman build: $(tail -5 "$log")"
size=$(podman image inspect localhost/iomt:check --format '{{.Size}}')
say "image built in $((SECONDS - start)) s ($((size / 1000000)) MB)"
user=$(podman image inspect localhost/iomt:check --format '{{.Config.User}}')
[ "$user" = 10001:10001 ] || fail "the image runs as '$user'"
keyout=$("$iomt" auth new-key --name admin --roles admin)
key=$(sed -n 's/^  \(iomt_[^ ]*\)$/\1/p' <<< "$keyout")
line=$(sed -n 's/.*"admin": "\(admin sha256[^"]*\)".*/\1/p' <<< "$keyout")
[ -n "$key" ] && [ -n "$line" ] || fail "iomt auth new-key: $keyout"
container=$(podman run -d -p 127.0.0.1::8080 -v iomt-check-data:/var/lib/iomt -e IOMT_ADMIN_KEY="$line" \
  localhost/iomt:check 2>> "$log") || fail "podman run: $(tail -3 "$log")"
port=$(podman port "$container" 8080/tcp | sed 's/.*://')
[ "$(podman exec "$container" id -un)" = iomt ] || fail "the container's user is not iomt"
cbase=http://127.0.0.1:$port
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$cbase/healthz" && break
  sleep 0.1
done
podman healthcheck run "$container" > /dev/null 2>> "$log" || fail "the image's HEALTHCHECK: $(podman logs "$container" | tail -3)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$cbase/fhir/Observation")" = 401 ] || fail "/fhir open without a key"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $key" -H 'content-type: application/x-ndjson' \
  --data-binary @"$events" "$cbase/connectors/example/messages")
[ "$code" = 202 ] || fail "POST to the container: $code"
cobs() { curl -sf -H "x-api-key: $key" "$cbase/fhir/Observation?_summary=count" | jq -r .total; }
for _ in $(seq 1 100); do
  [ "$(cobs)" = "$expected" ] && break
  sleep 0.1
done
[ "$(cobs)" = "$expected" ] || fail "the container's /fhir has $(cobs) Observations, want $expected"
# stdout says where it listens (one line, for scripts); stderr is the log.
podman logs "$container" 2> /dev/null > "$work/container.out"
podman logs "$container" 2> "$work/container.err" > /dev/null
jq -se 'any(.[]; .message == "listening") and all(.[]; .level != null)' "$work/container.err" > /dev/null ||
  fail "the container's log is not JSON lines: $(head -3 "$work/container.err")"
podman stop -t 30 "$container" > /dev/null
state=$(podman inspect "$container" --format '{{.State.ExitCode}}')
[ "$state" = 0 ] || fail "the container exited $state on stop"
podman rm -f "$container" > /dev/null
container=
podman volume rm -f iomt-check-data > /dev/null
podman rmi -f localhost/iomt:check localhost/iomt-check-base:bookworm > /dev/null 2>&1 || true
say "container: runs as iomt (10001), healthy, 401 without a key, $expected Observations read back with it, JSON logs, stop exit 0"
say "passed"
