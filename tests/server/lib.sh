# Shared by the `iomt serve` tests: start servers on free ports, wait for
# conditions, read counters. Source it after setting `iomt` and `tmp`.

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "$test_name: FAIL: $*" >&2
  for f in "$tmp"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -"${FAIL_TAIL:-20}" "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok - $*"; }

# start_serve LOGNAME ARGS...: starts `iomt serve --listen 127.0.0.1:0 ARGS`
# and sets $pid and $base (http://127.0.0.1:PORT).
start_serve() {
  local log=$1
  shift
  "$iomt" serve --listen 127.0.0.1:0 "$@" > "$tmp/$log.out" 2> "$tmp/$log.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 600); do
    grep -q '^listening on ' "$tmp/$log.out" 2> /dev/null && break
    kill -0 "$pid" 2> /dev/null || fail "iomt serve ($log) exited at start"
    sleep 0.05
  done
  base=$(sed -n 's/^listening on //p' "$tmp/$log.out")
  [ -n "$base" ] || fail "iomt serve ($log) did not say where it listens"
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local end=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $end ] || fail "timed out waiting for: $what"
    sleep 0.1
  done
}

# stop_serve PID: SIGTERM, then waits for the exit; fails unless it is 0.
stop_serve() {
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ $rc -eq 0 ] || fail "iomt serve exited with $rc after SIGTERM"
}

# counter BASE CONNECTOR NAME: a counter from the connector's status.
counter() { curl -sf "$1/connectors/$2" | jq -r ".counters.$3"; }
queued() { curl -sf "$1/connectors/$2" | jq -r '.queue.events'; }

# metric BASE LINE-PREFIX: the value of the first /metrics sample whose line
# starts with the prefix (e.g. 'iomt_dead_letters_total{connector="ward"}').
# (Read whole before grep: `curl | grep -q` fails under pipefail when grep
# stops reading first.)
metric() {
  curl -sf "$1/metrics" > "$tmp/metrics.txt" || return 1
  awk -v p="$2" 'index($0, p) == 1 { print $NF; exit }' "$tmp/metrics.txt"
}
# metrics_match BASE REGEX: some /metrics line matches.
metrics_match() {
  curl -sf "$1/metrics" > "$tmp/metrics.txt" || return 1
  grep -q "$2" "$tmp/metrics.txt"
}
# metric_sum BASE FAMILY LABEL=VALUE...: the sum of the FAMILY samples that
# have all these labels (e.g. connector=w1 Name=InvalidTemplateException),
# whatever their others; 0 when none has. Labels in any order, so tests do
# not depend on how prometheus-cpp orders them.
metric_sum() { metric_select sum "$@"; }
# metric_series BASE FAMILY LABEL=VALUE...: how many FAMILY samples have all
# these labels.
metric_series() { metric_select count "$@"; }
metric_select() {
  local what=$1 base=$2 family=$3
  shift 3
  curl -sf "$base/metrics" > "$tmp/metrics.txt" || return 1
  awk -v what="$what" -v family="$family" -v want="$*" '
    BEGIN { n = split(want, w, " ") }
    index($0, family "{") == 1 {
      for (i = 1; i <= n; i++) {
        split(w[i], kv, "=")
        label = kv[1] "=\"" kv[2] "\""
        if (index($0, "{" label) == 0 && index($0, "," label) == 0) next
      }
      sum += $NF
      count++
    }
    END { print (what == "sum" ? sum : count) + 0 }' "$tmp/metrics.txt"
}
# metrics_undocumented BASE DOC: what of /metrics DOC does not document, one
# a line: a metric family without a row in DOC's tables ("| `family` |"),
# or a label of its series that the row does not name (`label`; `le` of
# histogram buckets aside). Nothing when all is documented.
metrics_undocumented() {
  curl -sf "$1/metrics" > "$tmp/metrics.txt" || { echo "(no /metrics)"; return; }
  awk -v doc="$2" '
    BEGIN {
      while ((getline line < doc) > 0) {
        if (match(line, /^\| `[a-z_:]+` \|/)) row[substr(line, 4, RLENGTH - 6)] = line
      }
    }
    /^# TYPE / { family = $3; if (!(family in row)) print "family " family; next }
    /^#/ || index($0, "{") == 0 { next }
    {
      labels = substr($0, index($0, "{") + 1)
      while (match(labels, /[A-Za-z_][A-Za-z0-9_]*="/)) {
        label = substr(labels, RSTART, RLENGTH - 2)
        labels = substr(labels, RSTART + RLENGTH)
        sub(/^[^"]*"/, "", labels)
        if (label != "le" && (family in row) && index(row[family], "`" label "`") == 0 && !seen[family, label]++)
          print "label " label " of " family
      }
    }' "$tmp/metrics.txt"
}

# post BASE CONNECTOR FILE [CURL ARGS...]: POSTs an NDJSON file; prints the
# HTTP status.
post() {
  local b=$1 c=$2 f=$3
  shift 3
  curl -s -o "$tmp/post.body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
    --data-binary "@$f" "$@" "$b/connectors/$c/messages"
}

# Observations in an embedded store (the server must be stopped), without
# meta and issued (the time they were written), sorted.
observations() {
  "$iomt" store --store "$1" export Observation | jq -cS 'del(.meta, .issued)' | sort
}
