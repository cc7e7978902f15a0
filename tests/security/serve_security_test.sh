#!/usr/bin/env bash
# `iomt serve` secured as an operator secures it (docs/security.md), end to
# end with the real binary and the tools an operator has (openssl, curl):
#   1. `iomt auth`: new keys, their configuration lines, hash-key, bad roles
#   2. no credentials: loopback only unless --unauthenticated allow-any-address
#   3. TLS with a CA made here; SIGHUP renews the certificate, a broken one
#      keeps the old
#   4. bearer JWTs signed here (RS256, a JWKS file) as Entra ID or Keycloak
#      issues them: roles, expiry, audience, alg none, a forged signature
#   5. the audit log (who, refusals, no credentials) and patient data (never
#      in the output or the audit log; files private whatever the umask)
#   6. secrets from the environment (${NAME}) and from files (@FILE), the
#      latter against a second iomt serve as the remote FHIR server
# Each check is named; all are run and the failures listed at the end.
#   IOMT=path/to/iomt bash tests/security/serve_security_test.sh   (from the checkout's root)
set -u
iomt=$(readlink -f "${IOMT:-build/bin/iomt}")   # absolute: one server runs elsewhere
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/../cli/lib.sh"   # tmp, pass, fail, finish

dm=$PWD/examples/mappings/devicecontent.json
fm=$PWD/examples/mappings/fhirmapping.json
[ -f "$dm" ] && [ -f "$fm" ] || { echo "run from the checkout's root"; exit 1; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# die NAME [FILES...]: a failure the rest cannot go on without.
die() {
  fail "$@"
  echo "(stopped: the checks after this one need it)"
  exit 1
}
# check NAME CONDITION [FILES...]: CONDITION, a command line, must succeed;
# the files are shown when it does not.
check() {
  local name=$1 condition=$2
  shift 2
  if eval "$condition"; then pass "$name"; else fail "$name" "$@"; fi
}
# req NAME CURL-ARGS...: one request (10 s at most); $status is the HTTP
# status (000: no HTTP answer), $tmp/NAME.body and $tmp/NAME.headers what
# came back.
req() {
  local name=$1
  shift
  : > "$tmp/$name.headers"
  status=$(curl -s -m 10 -o "$tmp/$name.body" -D "$tmp/$name.headers" -w '%{http_code}' "$@")
}
# start_serve LOG ARGS...: `iomt serve ARGS` (ARGS has --listen HOST:0) with
# umask 000, so that private files are private because iomt makes them so.
# (in $SERVE_CWD if set). Sets $pid and $base (http(s)://127.0.0.1:PORT, also for 0.0.0.0); returns
# 1 when it exits or does not say where it listens within 30 s.
start_serve() {
  local log=$1
  shift
  (cd "${SERVE_CWD:-.}" && umask 000 && exec "$iomt" serve "$@") > "$tmp/$log.out" 2> "$tmp/$log.err" &
  pid=$!
  pids+=("$pid")
  base=
  for _ in $(seq 1 300); do
    grep -q '^listening on ' "$tmp/$log.out" 2> /dev/null && break
    kill -0 "$pid" 2> /dev/null || return 1
    sleep 0.1
  done
  base=$(sed -n 's/^listening on //p' "$tmp/$log.out" | sed 's#//0\.0\.0\.0:#//127.0.0.1:#')
  [ -n "$base" ]
}
# stop_serve PID: SIGTERM, then its exit (its output is complete after).
stop_serve() {
  kill -TERM "$1" 2> /dev/null
  wait "$1" 2> /dev/null
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it never does.
wait_for() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}
# config_value FILE NAME: the "ROLES HASH" of the configuration line that
# `iomt auth` printed (the line is JSON once wrapped in braces).
config_line() { sed -n '/^configuration/{n;s/^ *//;p}' "$1"; }
config_value() { printf '{%s}' "$(config_line "$1")" | jq -r --arg n "$2" '.auth.apiKeys[$n]'; }
printed_key() { sed -n '/^key/{n;s/^ *//;p}' "$1"; }
# private PATH: PATH and everything under it has no group or other bits.
private() {
  [ -e "$1" ] && [ -z "$(find "$1" -exec stat -c '%a %n' {} + | awk '$1 !~ /00$/')" ]
}
modes() { find "$1" -exec stat -c '%a %n' {} + > "$tmp/modes.txt"; }

# ---- 1. iomt auth ------------------------------------------------------------
# (The checks' conditions are eval'd: shellcheck does not see these used.)
hash_re='sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$'
key_re='^iomt_[A-Za-z0-9_-]{43}$'   # iomt_ and 32 random bytes, base64url
"$iomt" auth new-key --name ops --roles admin > "$tmp/newkey.out" 2> "$tmp/newkey.err"
rc=$?
ops_key=$(printed_key "$tmp/newkey.out")
ops_value=$(config_value "$tmp/newkey.out" ops)
check auth-new-key-prints-key "[ $rc = 0 ] && [[ \$ops_key =~ \$key_re ]]" "$tmp/newkey.out" "$tmp/newkey.err"
check auth-new-key-config-line-hash-form "[[ \$ops_value =~ ^admin\ \$hash_re ]]" "$tmp/newkey.out"
line=$(config_line "$tmp/newkey.out")
check auth-config-line-holds-no-key \
  "[ -n \"\$ops_key\" ] && [[ \$line != *\"\$ops_key\"* ]] && [[ \$line != *\"\${ops_key#iomt_}\"* ]]" "$tmp/newkey.out"
"$iomt" auth new-key --name ops --roles admin > "$tmp/newkey2.out" 2>&1
check auth-new-key-random "[ \"\$(printed_key $tmp/newkey2.out)\" != \"\$ops_key\" ] && [ \"\$(config_value $tmp/newkey2.out ops)\" != \"\$ops_value\" ]" "$tmp/newkey2.out"

"$iomt" auth new-key --name ops --roles superuser > "$tmp/super.out" 2> "$tmp/super.err"
rc=$?
check auth-unknown-role-is-usage-error "[ $rc = 2 ] && grep -q superuser $tmp/super.err && [ ! -s $tmp/super.out ]" "$tmp/super.out" "$tmp/super.err"
"$iomt" auth new-key --name ops --roles admin,fhir-read,superuser > /dev/null 2> "$tmp/super2.err"
rc=$?
check auth-unknown-role-in-list-is-usage-error "[ $rc = 2 ] && grep -q superuser $tmp/super2.err" "$tmp/super2.err"

client_key="client-key-$(openssl rand -hex 16)"
printf '%s\n' "$client_key" | "$iomt" auth hash-key --name reader --roles fhir-read > "$tmp/hash.out" 2> "$tmp/hash.err"
rc=$?
reader_value=$(config_value "$tmp/hash.out" reader)
check auth-hash-key-from-stdin "[ $rc = 0 ] && [[ \$reader_value =~ ^fhir-read\ \$hash_re ]] && ! grep -qF \"\$client_key\" $tmp/hash.out" \
  "$tmp/hash.out" "$tmp/hash.err"
printf '%s\n' "$client_key" | "$iomt" auth hash-key --name reader --roles fhir-read > "$tmp/hash2.out" 2>&1
check auth-hash-key-salted "[ \"\$(config_value $tmp/hash2.out reader)\" != \"\$reader_value\" ]" "$tmp/hash.out" "$tmp/hash2.out"
printf 'short\n' | "$iomt" auth hash-key --name reader --roles fhir-read > "$tmp/short.out" 2> "$tmp/short.err"
rc=$?
check auth-hash-key-refuses-short-key "[ $rc = 2 ] && grep -q '16 characters' $tmp/short.err && [ ! -s $tmp/short.out ]" "$tmp/short.err"

# The lines work: the server admits each key with its roles, and nothing else.
start_serve keys --listen 127.0.0.1:0 --store "$tmp/keys" --api-key "ops=$ops_value" --api-key "reader=$reader_value" ||
  die "serve-with-printed-keys-starts" "$tmp/keys.err"
req k1 -H "X-Api-Key: $client_key" "$base/fhir/Observation"
check hash-key-line-admits-key-x-api-key "[ $status = 200 ]" "$tmp/k1.body"
req k2 -H "Authorization: Bearer $client_key" "$base/fhir/Observation"
check hash-key-line-admits-key-bearer "[ $status = 200 ]" "$tmp/k2.body"
req k3 -H "X-Api-Key: $client_key" -H 'Content-Type: application/fhir+json' \
  -d '{"resourceType":"Patient"}' "$base/fhir/Patient"
check hash-key-roles-hold-fhir-read-only "[ $status = 403 ] && jq -e '.issue[0].code == \"forbidden\"' $tmp/k3.body >/dev/null" "$tmp/k3.body"
req k4 -H "X-Api-Key: $client_key" "$base/connectors"
check hash-key-not-admin "[ $status = 403 ] && jq -e '.error.code == \"Forbidden\"' $tmp/k4.body >/dev/null" "$tmp/k4.body"
req k5 -H "X-Api-Key: $ops_key" "$base/connectors"
check new-key-line-admits-admin "[ $status = 200 ]" "$tmp/k5.body"
req k6 -H "X-Api-Key: ${client_key}x" "$base/fhir/Observation"
check wrong-key-is-401 "[ $status = 401 ] && grep -qi '^WWW-Authenticate: Bearer.*invalid_token' $tmp/k6.headers" "$tmp/k6.headers" "$tmp/k6.body"
stop_serve "$pid"

# ---- 2. no credentials: loopback only ---------------------------------------
(umask 000 && timeout 30 "$iomt" serve --listen 0.0.0.0:0 --store "$tmp/open0") > "$tmp/open0.out" 2> "$tmp/open0.err"
rc=$?
check open-listen-refused-without-credentials \
  "[ $rc != 0 ] && [ $rc != 124 ] && grep -qF -- '--unauthenticated allow-any-address' $tmp/open0.err && ! grep -q '^listening' $tmp/open0.out" \
  "$tmp/open0.out" "$tmp/open0.err"
check open-listen-refused-before-store-is-made "[ ! -e $tmp/open0 ]"
(umask 000 && timeout 30 "$iomt" serve --listen '[::]:0' --store "$tmp/open6") > "$tmp/open6.out" 2> "$tmp/open6.err"
rc=$?
check open-listen-ipv6-any-refused "[ $rc != 0 ] && [ $rc != 124 ] && grep -qF -- '--unauthenticated allow-any-address' $tmp/open6.err" "$tmp/open6.err"

if start_serve open1 --listen 0.0.0.0:0 --store "$tmp/open1" --unauthenticated allow-any-address; then
  req o1 "$base/connectors"
  check open-listen-allowed-when-network-trusted "grep -q '^listening on http://0.0.0.0:' $tmp/open1.out && [ $status = 200 ]" "$tmp/open1.err"
  stop_serve "$pid"
else
  fail open-listen-allowed-when-network-trusted "$tmp/open1.out" "$tmp/open1.err"
fi
if start_serve open2 --listen 0.0.0.0:0 --store "$tmp/open2" --api-key "ops=$ops_value"; then
  req o2 "$base/connectors"
  o2=$status
  req o3 -H "X-Api-Key: $ops_key" "$base/connectors"
  check open-listen-with-api-key "grep -q '^listening on http://0.0.0.0:' $tmp/open2.out && [ $o2 = 401 ] && [ $status = 200 ]" \
    "$tmp/open2.err" "$tmp/o2.body"
  stop_serve "$pid"
else
  fail open-listen-with-api-key "$tmp/open2.out" "$tmp/open2.err"
fi

# ---- 3. TLS with a CA made here; SIGHUP -------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 \
  -subj /CN=iomt-test-ca > "$pki/log" 2>&1 || die "openssl-ca" "$pki/log"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$pki/ext.cnf"
# server_cert NAME SERIAL CN: $pki/NAME.pem and NAME.key, signed by the CA.
server_cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$3" >> "$pki/log" 2>&1 &&
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -set_serial "$2" -days 2 \
      -extfile "$pki/ext.cnf" -out "$pki/$1.pem" >> "$pki/log" 2>&1
}
server_cert one 0x1001 iomt-server-one && server_cert two 0x2002 iomt-server-two || die "openssl-server-certs" "$pki/log"
serial_of() { openssl x509 -in "$1" -noout -serial; }
# The serial of the certificate a new connection gets.
served_serial() {
  timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost < /dev/null 2> /dev/null |
    openssl x509 -noout -serial 2> /dev/null
}
cp "$pki/one.pem" "$tmp/tls-cert.pem" && cp "$pki/one.key" "$tmp/tls-key.pem"
start_serve tls --listen 127.0.0.1:0 --store "$tmp/tls" --tls-cert "$tmp/tls-cert.pem" --tls-key "$tmp/tls-key.pem" ||
  die tls-serve-starts "$tmp/tls.out" "$tmp/tls.err"
tls_pid=$pid
port=${base##*:}
check tls-says-https "grep -q '^listening on https://127.0.0.1:[0-9]*\$' $tmp/tls.out" "$tmp/tls.out"
req t1 --cacert "$pki/ca.pem" "https://127.0.0.1:$port/healthz"
check tls-healthz-with-ca "[ $status = 200 ] && jq -e '.status == \"ok\"' $tmp/t1.body >/dev/null" "$tmp/t1.body"
req t2 --cacert "$pki/ca.pem" "https://localhost:$port/healthz"
check tls-healthz-by-dns-name "[ $status = 200 ]" "$tmp/t2.body"
req t3 "http://127.0.0.1:$port/healthz"
check tls-port-gives-plain-http-no-answer "[ $status = 000 ] && [ ! -s $tmp/t3.headers ]" "$tmp/t3.headers"
req t4 "https://127.0.0.1:$port/healthz"
rc_t4=$(curl -s -m 10 -o /dev/null "https://127.0.0.1:$port/healthz"; echo $?)
check tls-client-without-ca-fails "[ $status = 000 ] && [ $rc_t4 = 60 ]"
# A TLS 1.1 client (its own floor lowered, so that the server is what refuses).
handshake() {  # s_client flags...: the handshake completes
  timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$pki/ca.pem" \
    -cipher 'DEFAULT:@SECLEVEL=0' "$@" < /dev/null > "$tmp/handshake.log" 2>&1 &&
    grep -q 'Verify return code: 0' "$tmp/handshake.log"
}
check tls-1.2-client-accepted "handshake -tls1_2" "$tmp/handshake.log"
check tls-1.1-client-refused-by-server "! handshake -tls1_1 && grep -q 'alert protocol version' $tmp/handshake.log" "$tmp/handshake.log"
check tls-serves-first-certificate "[ \"\$(served_serial)\" = \"\$(serial_of $pki/one.pem)\" ]"

# Renewal: new files, SIGHUP, new connections get the new certificate.
cp "$pki/two.pem" "$tmp/tls-cert.pem" && cp "$pki/two.key" "$tmp/tls-key.pem"
kill -HUP "$tls_pid"
wait_for 10 grep -q 'TLS certificate reloaded' "$tmp/tls.err"
check tls-sighup-reload-reported "grep -q 'TLS certificate reloaded' $tmp/tls.err" "$tmp/tls.err"
check tls-sighup-serves-new-certificate "[ \"\$(served_serial)\" = \"\$(serial_of $pki/two.pem)\" ]" "$tmp/tls.err"
req t6 --cacert "$pki/ca.pem" "https://127.0.0.1:$port/healthz"
check tls-works-after-reload "[ $status = 200 ]" "$tmp/tls.err"
# A broken certificate file: refused, the renewed one stays.
echo 'not a certificate' > "$tmp/tls-cert.pem"
kill -HUP "$tls_pid"
wait_for 10 grep -q 'previous certificate stays in use' "$tmp/tls.err"
check tls-broken-file-reported "grep -q 'TLS.*previous certificate stays in use' $tmp/tls.err" "$tmp/tls.err"
check tls-broken-file-keeps-certificate "[ \"\$(served_serial)\" = \"\$(serial_of $pki/two.pem)\" ]" "$tmp/tls.err"
# A certificate with the wrong key (a renewal half done): the same.
server_cert three 0x3003 iomt-server-three || die "openssl-third-cert" "$pki/log"
cp "$pki/three.pem" "$tmp/tls-cert.pem" && cp "$pki/one.key" "$tmp/tls-key.pem"
n=$(grep -c 'previous certificate stays in use' "$tmp/tls.err")
kill -HUP "$tls_pid"
wait_for 10 sh -c "[ \$(grep -c 'previous certificate stays in use' $tmp/tls.err) -gt $n ]"
check tls-mismatched-key-refused-and-kept "[ \$(grep -c 'previous certificate stays in use' $tmp/tls.err) -gt $n ] && [ \"\$(served_serial)\" = \"\$(serial_of $pki/two.pem)\" ]" "$tmp/tls.err"
req t7 --cacert "$pki/ca.pem" "https://127.0.0.1:$port/healthz"
check tls-still-serving-after-refused-reloads "[ $status = 200 ] && kill -0 $tls_pid" "$tmp/tls.err"
# Fixed (the key that goes with it): the next SIGHUP takes it.
cp "$pki/three.key" "$tmp/tls-key.pem"
n=$(grep -c 'TLS certificate reloaded' "$tmp/tls.err")
kill -HUP "$tls_pid"
wait_for 10 sh -c "[ \$(grep -c 'TLS certificate reloaded' $tmp/tls.err) -gt $n ]"
check tls-reload-after-refusals "[ \"\$(served_serial)\" = \"\$(serial_of $pki/three.pem)\" ]" "$tmp/tls.err"
stop_serve "$tls_pid"

# ---- 4. bearer JWTs -----------------------------------------------------------
b64u() { basenc --base64url -w0 | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/jwt.key" 2> /dev/null &&
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/forger.key" 2> /dev/null &&
  openssl pkey -in "$pki/jwt.key" -pubout -out "$pki/jwt.pub" || die openssl-jwt-keys
modulus=$(openssl rsa -pubin -in "$pki/jwt.pub" -noout -modulus | sed 's/^Modulus=//')
n=$(printf '%s' "$modulus" | basenc --base16 -d | b64u)
jq -n --arg n "$n" '{keys: [{kty: "RSA", kid: "test-key-1", use: "sig", alg: "RS256", n: $n, e: "AQAB"}]}' \
  > "$tmp/jwks.json"
check jwks-made "[ \${#modulus} = 512 ] && [ \${#n} = 342 ]" "$tmp/jwks.json"
# jwt HEADER-JSON CLAIMS-JSON [KEY]: a token signed RS256 (PKCS#1 v1.5, SHA-256).
jwt() {
  local h p
  h=$(printf '%s' "$1" | b64u)
  p=$(printf '%s' "$2" | b64u)
  printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "${3:-$pki/jwt.key}" | b64u)"
}
rs256='{"alg":"RS256","typ":"JWT","kid":"test-key-1"}'
now=$(date +%s)
# claims SUB ROLES-JSON [JQ-UPDATE]: the claims of a good token, changed by the update.
claims() {
  jq -cn --arg sub "$1" --argjson roles "$2" --argjson now "$now" \
    "{iss: \"https://issuer.test\", aud: \"api://iomt\", sub: \$sub, iat: \$now, nbf: \$now, exp: (\$now + 900), roles: \$roles} | ${3:-.}"
}
tok_reader=$(jwt "$rs256" "$(claims clinical-app '["fhir-read"]')")
tok_ingest=$(jwt "$rs256" "$(claims gateway-w1 '["ingest:w1"]')")
tok_expired=$(jwt "$rs256" "$(claims clinical-app '["fhir-read"]' '.iat -= 7200 | .nbf -= 7200 | .exp = $now - 3600')")
tok_other_aud=$(jwt "$rs256" "$(claims clinical-app '["fhir-read"]' '.aud = "other"')")
tok_other_iss=$(jwt "$rs256" "$(claims clinical-app '["fhir-read"]' '.iss = "https://evil.test"')")
tok_none="$(printf '{"alg":"none","typ":"JWT"}' | b64u).$(claims attacker '["admin"]' | b64u)."
tok_forged=$(jwt "$rs256" "$(claims attacker '["admin"]')" "$pki/forger.key")
tokens=("$tok_reader" "$tok_ingest" "$tok_expired" "$tok_other_aud" "$tok_other_iss" "$tok_none" "$tok_forged")

cat > "$tmp/connectors.json" << EOF
{"connectors": [
  {"name": "w1", "deviceMapping": "$dm", "fhirMapping": "$fm"},
  {"name": "w2", "deviceMapping": "$dm", "fhirMapping": "$fm"}
]}
EOF
store=$tmp/jwt-store
start_serve jwt --config "$tmp/connectors.json" --listen 127.0.0.1:0 --store "$store" --api-key "ops=$ops_value" \
  --jwt-issuer https://issuer.test --jwt-audience api://iomt --jwt-jwks-file "$tmp/jwks.json" --jwt-roles-claim roles ||
  die jwt-serve-starts "$tmp/jwt.out" "$tmp/jwt.err"
jwt_pid=$pid
observation='{"resourceType":"Observation","status":"final","code":{"text":"probe"}}'
req j0 "$base/fhir/Observation"
check jwt-no-credentials-401-without-error \
  "[ $status = 401 ] && grep -qi '^WWW-Authenticate: Bearer realm=\"iomt\"' $tmp/j0.headers && ! grep -qi '^WWW-Authenticate:.*error=' $tmp/j0.headers" \
  "$tmp/j0.headers"
req j1 -H "Authorization: Bearer $tok_reader" "$base/fhir/Observation"
check jwt-reader-reads-fhir "[ $status = 200 ] && jq -e '.resourceType == \"Bundle\"' $tmp/j1.body >/dev/null" "$tmp/j1.body"
req j2 -H "Authorization: Bearer $tok_reader" -H 'Content-Type: application/fhir+json' -d "$observation" "$base/fhir/Observation"
check jwt-reader-cannot-write-403 \
  "[ $status = 403 ] && jq -e '.resourceType == \"OperationOutcome\" and .issue[0].code == \"forbidden\"' $tmp/j2.body >/dev/null" "$tmp/j2.body"
req j3 -H "Authorization: Bearer $tok_reader" "$base/connectors/w1/deadletters"
check jwt-reader-not-admin-403 "[ $status = 403 ]" "$tmp/j3.body"
# refused TOKEN NAME REASON-REGEX: 401 with WWW-Authenticate invalid_token
# and an OperationOutcome that gives the reason and not the token.
refused() {
  local token=$1 name=$2 reason=$3 payload=${1#*.}
  payload=${payload%%.*}
  req "$name" -H "Authorization: Bearer $token" "$base/fhir/Observation"
  if [ "$status" = 401 ] && grep -qi '^WWW-Authenticate: Bearer.*error="invalid_token"' "$tmp/$name.headers" &&
    jq -e '.issue[0].code == "login"' "$tmp/$name.body" > /dev/null && grep -qiE "$reason" "$tmp/$name.body" &&
    ! grep -qF -- "$payload" "$tmp/$name.body"; then
    pass "jwt-$name-401"
  else
    fail "jwt-$name-401 (status $status)" "$tmp/$name.headers" "$tmp/$name.body"
  fi
}
refused "$tok_expired" expired 'expired'
refused "$tok_other_aud" wrong-audience 'audience'
refused "$tok_other_iss" wrong-issuer 'issuer'
refused "$tok_none" alg-none 'alg none'
refused "$tok_forged" forged-signature 'signature'
req j4 -H "Authorization: Bearer $tok_none" "$base/connectors"
check jwt-alg-none-admin-claim-gets-nothing "[ $status = 401 ]" "$tmp/j4.body"

message=$(head -1 examples/events/ward.ndjson)
req j5 -H "Authorization: Bearer $tok_ingest" -H 'Content-Type: application/json' -d "$message" "$base/connectors/w1/messages"
check jwt-ingest-w1-posts-to-w1-202 "[ $status = 202 ]" "$tmp/j5.body"
req j6 -H "Authorization: Bearer $tok_ingest" -H 'Content-Type: application/json' -d "$message" "$base/connectors/w2/messages"
check jwt-ingest-w1-not-to-w2-403 "[ $status = 403 ]" "$tmp/j6.body"
req j7 -H "Authorization: Bearer $tok_ingest" "$base/fhir/Observation"
check jwt-ingest-cannot-read-fhir-403 "[ $status = 403 ]" "$tmp/j7.body"
observations() { curl -s -m 10 -H "Authorization: Bearer $tok_reader" "$base/fhir/Observation" | jq -e '.total > 0' > /dev/null; }
wait_for 20 observations
check jwt-ingested-message-written "observations" "$tmp/jwt.err"

# ---- 5. the audit log and patient data --------------------------------------
req a1 -X POST -H "X-Api-Key: $ops_key" "$base/connectors/w1/mappings/reload"
check admin-reload-200 "[ $status = 200 ]" "$tmp/a1.body"
bogus_key="iomt_bogus-$(openssl rand -hex 16)"
req a2 -H "X-Api-Key: $bogus_key" "$base/connectors/w1/deadletters"
check bogus-key-401 "[ $status = 401 ]" "$tmp/a2.body"
marker=PHI-MARKER-12345
# One message that maps (a Patient and a Device named by the marker) and one
# that does not (a dead letter, which keeps it).
mapped=$(jq -c --arg m "$marker" '.Body.patientId = $m | .SystemProperties["iothub-connection-device-id"] = $m' <<< "$message")
printf '%s\n{"unmatched":"%s","heartRate":"%s"}\n' "$mapped" "$marker" "$marker" > "$tmp/phi.ndjson"
req a3 -H "Authorization: Bearer $tok_ingest" -H 'Content-Type: application/x-ndjson' --data-binary "@$tmp/phi.ndjson" \
  "$base/connectors/w1/messages"
check phi-messages-accepted "[ $status = 202 ]" "$tmp/a3.body"
dead() { curl -s -m 10 -H "X-Api-Key: $ops_key" "$base/connectors/w1/deadletters?limit=10" | jq -e '.total >= 1' > /dev/null; }
wait_for 20 dead
req a4 -H "X-Api-Key: $ops_key" "$base/connectors/w1/deadletters?limit=10&format=json"
check phi-dead-letter-kept "[ $status = 200 ] && grep -qF $marker $tmp/a4.body" "$tmp/a4.body"
patient() {
  curl -s -m 10 -H "Authorization: Bearer $tok_reader" "$base/fhir/Patient?identifier=$marker" | jq -e '.total == 1' > /dev/null
}
wait_for 20 patient
check phi-message-mapped "patient" "$tmp/jwt.err"
stop_serve "$jwt_pid"
audit=$store/audit.log
check audit-log-mode-600 "[ \"\$(stat -c %a $audit)\" = 600 ]"
check audit-log-json-lines "[ -s $audit ] && jq -e . $audit >/dev/null" "$audit"
check audit-records-refused-401 \
  "jq -se 'any(.[]; .status == 401 and .who == \"anonymous\" and .path == \"/fhir/Observation\" and ((.detail // \"\") | test(\"expired\")))' $audit >/dev/null" "$audit"
check audit-records-refused-api-key \
  "jq -se 'any(.[]; .status == 401 and .path == \"/connectors/w1/deadletters\" and ((.detail // \"\") | test(\"API key\")))' $audit >/dev/null" "$audit"
check audit-records-403-with-jwt-subject \
  "jq -se 'any(.[]; .status == 403 and .who == \"clinical-app\" and .kind == \"jwt\" and .method == \"POST\")' $audit >/dev/null" "$audit"
check audit-records-admin-reload \
  "jq -se 'any(.[]; .who == \"ops\" and .kind == \"key\" and .method == \"POST\" and .path == \"/connectors/w1/mappings/reload\" and .status == 200)' $audit >/dev/null" "$audit"
check audit-records-dead-letter-read-without-query \
  "jq -se 'any(.[]; .who == \"ops\" and .method == \"GET\" and .path == \"/connectors/w1/deadletters\" and .status == 200) and all(.[]; .path | contains(\"?\") | not)' $audit >/dev/null" "$audit"
check audit-leaves-out-accepted-ingestion "! jq -se 'any(.[]; (.path | endswith(\"/messages\")) and .status == 202)' $audit >/dev/null" "$audit"
leaks=0
for secret in "$ops_key" "${ops_key#iomt_}" "$client_key" "$bogus_key" "${bogus_key#iomt_}" "${tokens[@]}"; do
  grep -qF -- "$secret" "$audit" && leaks=$((leaks + 1))
  # a token's signature alone
  [ -n "${secret##*.}" ] && grep -qF -- "${secret##*.}" "$audit" && leaks=$((leaks + 1))
done
check audit-log-holds-no-key-or-token "[ $leaks = 0 ]" "$audit"
check phi-not-in-audit-log "! grep -qF $marker $audit" "$audit"
check phi-not-in-serve-output "! grep -qF $marker $tmp/jwt.out $tmp/jwt.err" "$tmp/jwt.out" "$tmp/jwt.err"
leaks=0
for secret in "$ops_key" "$client_key" "$bogus_key" "${tokens[@]}"; do
  grep -qF -- "$secret" "$tmp/jwt.out" "$tmp/jwt.err" && leaks=$((leaks + 1))
done
check credentials-not-in-serve-output "[ $leaks = 0 ]" "$tmp/jwt.err"
modes "$store"
check store-dir-700 "[ \"\$(stat -c %a $store)\" = 700 ]" "$tmp/modes.txt"
check connectors-private-under-umask-000 "[ -d $store/connectors ] && [ \$(find $store/connectors -type f | wc -l) -gt 0 ] && private $store/connectors" "$tmp/modes.txt"
check store-files-private-under-umask-000 "private $store" "$tmp/modes.txt"

# ---- 6. secrets from the environment and from files -------------------------
mkdir -p "$tmp/conf"
ingest_key="ward-device-key-$(openssl rand -hex 8)"
cat > "$tmp/conf/env.json" << EOF
{"store": "env-store", "auth": {"apiKeys": {"ops": "$ops_value"}},
 "connectors": [{"name": "w1", "deviceMapping": "$dm", "fhirMapping": "$fm", "ingestKeys": ["\${IOMT_SEC_INGEST_KEY}"]}]}
EOF
(unset IOMT_SEC_INGEST_KEY && timeout 30 "$iomt" serve --listen 127.0.0.1:0 --config "$tmp/conf/env.json") \
  > "$tmp/env0.out" 2> "$tmp/env0.err"
rc=$?
check env-unset-variable-is-error "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'IOMT_SEC_INGEST_KEY is not set' $tmp/env0.err" "$tmp/env0.err"
if IOMT_SEC_INGEST_KEY=$ingest_key start_serve env --listen 127.0.0.1:0 --config "$tmp/conf/env.json"; then
  check env-config-store-beside-file "[ -d $tmp/conf/env-store ]"
  req e1 -H "x-iomt-ingest-key: $ingest_key" -H 'Content-Type: application/json' -d "$message" "$base/connectors/w1/messages"
  check env-ingest-key-admits "[ $status = 202 ]" "$tmp/e1.body"
  req e2 -H "x-iomt-ingest-key: \${IOMT_SEC_INGEST_KEY}" -H 'Content-Type: application/json' -d "$message" "$base/connectors/w1/messages"
  check env-literal-placeholder-refused "[ $status = 401 ]" "$tmp/e2.body"
  req e3 -H "Authorization: Bearer $ingest_key" "$base/fhir/Observation"
  check env-ingest-key-only-ingests "[ $status = 401 ] || [ $status = 403 ]" "$tmp/e3.body"
  req e4 -H "X-Api-Key: $ops_key" "$base/connectors/w1"
  check env-config-api-key-admits "[ $status = 200 ] && ! grep -qF \"\$ingest_key\" $tmp/e4.body" "$tmp/e4.body"
  stop_serve "$pid"
else
  fail env-config-starts "$tmp/env.out" "$tmp/env.err"
fi

# @FILE: a second iomt serve is the first's FHIR server, with a key (the
# token file's contents) that may read and write FHIR.
fhir_token="iomt_fhir-writer-$(openssl rand -hex 16)"
printf '%s\n' "$fhir_token" > "$tmp/conf/fhir-token.txt"
printf 'iomt_not-the-key-%s\n' "$(openssl rand -hex 16)" > "$tmp/conf/wrong-token.txt"
writer_value=$(printf '%s' "$fhir_token" | "$iomt" auth hash-key --name writer --roles fhir-read,fhir-write > "$tmp/writer.out" &&
  config_value "$tmp/writer.out" writer)
start_serve remote --listen 127.0.0.1:0 --store "$tmp/remote" --api-key "writer=$writer_value" ||
  die remote-fhir-serve-starts "$tmp/remote.err"
remote_pid=$pid
remote=$base
# fhir_config NAME TOKEN-SETTING: a configuration with a connector writing to the remote.
fhir_config() {
  cat > "$tmp/conf/$1.json" << EOF
{"store": "$1-store",
 "connectors": [{"name": "w1", "deviceMapping": "$dm", "fhirMapping": "$fm",
                 "fhir": {"url": "$remote/fhir", "token": "$2"}}]}
EOF
}
fhir_config at-file @fhir-token.txt
# From another directory: @FILE is relative to the configuration file.
if SERVE_CWD=/ start_serve at-file --listen 127.0.0.1:0 --config "$tmp/conf/at-file.json"; then
  req f1 -H 'Content-Type: application/json' -d "$message" "$base/connectors/w1/messages"
  check at-file-ingest-202 "[ $status = 202 ]" "$tmp/f1.body"
  remote_observations() {
    curl -s -m 10 -H "X-Api-Key: $fhir_token" "$remote/fhir/Observation" | jq -e '.total > 0' > /dev/null
  }
  wait_for 30 remote_observations
  check at-file-token-writes-to-remote "remote_observations" "$tmp/at-file.err" "$tmp/remote.err"
  req f2 "$base/connectors/w1"
  check at-file-token-not-in-status "[ $status = 200 ] && ! grep -qF \"\$fhir_token\" $tmp/f2.body" "$tmp/f2.body"
  stop_serve "$pid"
  check at-file-token-not-in-output "! grep -qF \"\$fhir_token\" $tmp/at-file.out $tmp/at-file.err" "$tmp/at-file.err"
else
  fail at-file-config-starts "$tmp/at-file.out" "$tmp/at-file.err"
fi
# The flag: --fhir-token @FILE (the start-up check reads the remote with it).
if start_serve at-flag --listen 127.0.0.1:0 --store "$tmp/at-flag" --connector w1 --device-mapping "$dm" \
  --fhir-mapping "$fm" --fhir-url "$remote/fhir" --fhir-token "@$tmp/conf/fhir-token.txt"; then
  pass at-flag-token-accepted-by-remote
  stop_serve "$pid"
else
  fail at-flag-token-accepted-by-remote "$tmp/at-flag.err"
fi
# A wrong token file: the remote's 401 stops the start, and neither says the token.
fhir_config wrong-file @wrong-token.txt
(umask 000 && timeout 30 "$iomt" serve --listen 127.0.0.1:0 --config "$tmp/conf/wrong-file.json") \
  > "$tmp/wrong.out" 2> "$tmp/wrong.err"
rc=$?
check at-file-wrong-token-refused-at-start \
  "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'HTTP 401' $tmp/wrong.err && ! grep -qF \"\$(cat $tmp/conf/wrong-token.txt)\" $tmp/wrong.out $tmp/wrong.err" \
  "$tmp/wrong.err"
fhir_config missing-file @no-such-token.txt
(timeout 30 "$iomt" serve --listen 127.0.0.1:0 --config "$tmp/conf/missing-file.json") > "$tmp/missing.out" 2> "$tmp/missing.err"
rc=$?
check at-file-missing-file-is-error "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'no-such-token.txt' $tmp/missing.err" "$tmp/missing.err"
stop_serve "$remote_pid"
remote_audit=$tmp/remote/audit.log
check remote-audit-has-refusal-not-token \
  "jq -se 'any(.[]; .status == 401)' $remote_audit >/dev/null && ! grep -qF \"\$fhir_token\" $remote_audit && ! grep -qF \"\$(cat $tmp/conf/wrong-token.txt)\" $remote_audit" \
  "$remote_audit"

finish "serve security"
