#!/usr/bin/env bash
# What credentials and TLS cost a request of `iomt serve`: requests per second
# and latency of GET /fhir/Observation/none (bench/security.js) over
# keep-alive connections, with no credentials (the baseline, in the same
# run), an API key (salted SHA-256, constant-time compare), an RS256 JWT
# checked against a JWKS file (verified once, then remembered until it
# expires), and an API key over TLS 1.3. Prints a JSON
# line per mode and the ratios to the baseline.
#   bench/security.sh [SECONDS] [CONNECTIONS]      (after make build)
set -euo pipefail
cd "$(dirname "$0")/.."
iomt=${IOMT:-build/bin/iomt}
seconds=${1:-5}
connections=${2:-8}
tmp=$(mktemp -d /tmp/iomt-bench-security-XXXXXX)
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; pid=""; }
trap 'stop; rm -rf "$tmp"' EXIT

# Credentials: an API key from iomt auth, an RSA key and its JWKS, a token.
made=$("$iomt" auth new-key --name bench --roles fhir-read)
key=$(printf '%s\n' "$made" | sed -n '2p' | tr -d ' ')
hash=$(printf '%s\n' "$made" | sed -n 's/.*"bench": "\(.*\)"}}/\1/p')
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/jwt.key" 2> /dev/null
b64url() { basenc --base64url -w0 | tr -d '='; }
n=$(openssl rsa -in "$tmp/jwt.key" -noout -modulus | cut -d= -f2 | basenc --base16 -d | b64url)
printf '{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","e":"AQAB","n":"%s"}]}' "$n" > "$tmp/jwks.json"
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"k1"}' | b64url)
payload=$(printf '{"iss":"https://issuer.bench","aud":"api://iomt","sub":"bench","exp":%d,"roles":["fhir-read"]}' \
  $((now + 3600)) | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$tmp/jwt.key" -binary | b64url)
export IOMT_BENCH_KEY=$key IOMT_BENCH_TOKEN="$header.$payload.$signature"
# A CA and a server certificate for the TLS run.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$tmp/server.key" -out "$tmp/server.csr" 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
  -extfile "$tmp/ext" -out "$tmp/server.pem" 2> /dev/null

run() {  # MODE, then iomt serve's extra flags
  local mode=$1
  shift
  rm -rf "$tmp/store" "$tmp/out"
  "$iomt" serve --listen 127.0.0.1:0 --store "$tmp/store" "$@" > "$tmp/out" 2> "$tmp/err" &
  pid=$!
  for _ in $(seq 1 200); do grep -q '^listening on ' "$tmp/out" && break; sleep 0.05; done
  local base
  base=$(sed -n 's/^listening on //p' "$tmp/out")
  if [ -n "${warmup:-}" ]; then
    scripts/node bench/security.js "$base" "$mode" 2 "$connections" "$tmp/ca.pem" > /dev/null
  else
    scripts/node bench/security.js "$base" "$mode" "$seconds" "$connections" "$tmp/ca.pem" | tee -a "$tmp/results"
  fi
  stop
}

echo "== credentials and TLS: GET /fhir/Observation/none, $connections connections, ${seconds}s each, $(nproc) cores, $(git rev-parse --short HEAD)"
warmup=1 run open   # the page cache, the CPU's clock and Node's JIT, before anything is measured
run open
run key --api-key "bench=$hash"
run jwt --jwt-issuer https://issuer.bench --jwt-audience api://iomt --jwt-jwks-file "$tmp/jwks.json"
run key --api-key "bench=$hash" --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key"
# Ratios to the baseline (no credentials).
awk -F'[:,]' '{for (i = 1; i < NF; i++) { if ($i ~ /"mode"/) m = $(i + 1); if ($i ~ /"perSecond"/) r = $(i + 1); if ($i ~ /"p50Us"/) p = $(i + 1) }
  gsub(/"/, "", m); if (NR == 1) { r0 = r; p0 = p }
  printf "%-10s %7d req/s  x%.2f of open   p50 %5d us  (+%d us)\n", m, r, r / r0, p, p - p0 }' "$tmp/results"
