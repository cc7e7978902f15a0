# Shared by the command-line tests that check many things and report them
# all (run_test.sh, iomt_test_test.sh): a temp dir removed on exit, `pass
# NAME`, `fail NAME [FILES...]` (shows the start of each file), and `finish
# WHAT` (the summary; exit 1 when anything failed). Source it first.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok   $1"; }
fail() {
  echo "FAIL $1"
  shift
  for f in "$@"; do [ -f "$f" ] && { echo "--- $f"; head -c 4000 "$f"; echo; }; done
  failures=$((failures + 1))
}
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures $1 check(s) failed"
    exit 1
  fi
  echo "all $1 checks passed"
}
