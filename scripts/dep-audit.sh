#!/usr/bin/env bash
# dep-audit.sh: every file that the build, the tests and the scripts take from
# the system must belong to a Debian package that scripts/install-deps.sh
# installs, to a package those depend on, or to Debian's essential set (what
# every Debian system has, plus apt). A development machine with extra
# packages hides a missing one; this finds it there. Fails naming each
# offending file and its package.
#
#   dep-audit.sh [--packages FILE] [--build DIR]... [--quiet]
#
#   --packages FILE  the package list to hold the tree to (default: every group
#                    of `install-deps.sh --list`); the self-test passes a list
#                    with one package removed and expects a failure naming it
#   --build DIR      a configured and built CMake build directory to read
#                    (default: each of build/{release,asan,tsan,fuzz,debug}
#                    that has been built)
#
# What it reads (docs/dependencies.md):
#   - the headers every object was compiled from (Ninja's deps log),
#   - the CMake files configure read (find_package modules and configs: the
#     inputs of build.ninja),
#   - the libraries of the link lines (absolute paths and -lNAME),
#   - the programs CMake found (FILEPATH entries of CMakeCache.txt) and the
#     first word of every ctest command,
#   - the programs the repository's scripts run: the command words of the
#     shell scripts, Makefile recipes and .ci/run, and the programs that the
#     JavaScript tools spawn.
# A file is looked up with `dpkg -S` as it is named and as its link resolves
# (Debian 12 merges /usr, so /lib/x and /usr/lib/x are the same file). A file
# in no package is reported too: it came from outside Debian (pyenv, /usr/local).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

packages_file=
builds=()
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --packages) packages_file=$2; shift 2 ;;
    --build) builds+=("$2"); shift 2 ;;
    --quiet) quiet=1; shift ;;
    *) echo "usage: dep-audit.sh [--packages FILE] [--build DIR]... [--quiet]" >&2; exit 2 ;;
  esac
done
if [ ${#builds[@]} -eq 0 ]; then
  for b in release asan tsan fuzz debug; do
    [ -f "build/$b/.ninja_deps" ] && builds+=("build/$b")
  done
fi
[ ${#builds[@]} -gt 0 ] || { echo "dep-audit: no build to read: build first (make build)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
g() { grep "$@" || [ $? = 1 ]; }  # grep for pipelines: finding nothing is not an error
note() { [ "$quiet" = 1 ] || echo "dep-audit: $*" >&2; }

# ---- the allowed packages ----------------------------------------------------
if [ -n "$packages_file" ]; then
  sed 's/#.*//' "$packages_file" | tr -s ' \t' '\n\n' | sed '/^$/d' > "$work/listed"
else
  ./scripts/install-deps.sh --list all > "$work/listed"
fi
{
  cat "$work/listed"
  echo apt
  dpkg-query -W -f '${Package} ${Essential}\n' | sed -n 's/ yes$//p'
} | sort -u > "$work/roots"
# Depends and Pre-Depends, recursively (every alternative and every provider of
# a virtual package counts: apt may choose any of them).
# shellcheck disable=SC2046
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances $(cat "$work/roots") 2> /dev/null |
  sed -n 's/^<\{0,1\}\([^ <>]*\)>\{0,1\}$/\1/p' | sed 's/:.*//' | sort -u > "$work/allowed"
sort -u "$work/roots" "$work/allowed" -o "$work/allowed"
note "$(wc -l < "$work/listed") packages listed, $(wc -l < "$work/allowed") with their dependencies and the essential set"

# ---- the files used ------------------------------------------------------------
# Each line: PATH<TAB>what uses it.
used=$work/used
: > "$used"
outside_repo() { g -v -e "^$repo/" -e '^[^/]'; }

for b in "${builds[@]}"; do
  b=$(cd "$b" && pwd)
  name=${b#"$repo"/}
  # Headers: Ninja's deps log (what the compiler's dependency files said).
  ninja -C "$b" -t deps 2> /dev/null | sed -n 's/^    //p' | outside_repo | sort -u |
    sed "s|\$|\t$name: compiled from|" >> "$used"
  # CMake's inputs: find_package modules and package config files.
  sed -n 's/^build build\.ninja: RERUN_CMAKE | //p' "$b/build.ninja" | tr ' ' '\n' | outside_repo | sort -u |
    sed "s|\$|\t$name: read by cmake|" >> "$used"
  # Libraries on the link lines.
  cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$b/CMakeCache.txt")
  ninja -C "$b" -t commands 2> /dev/null | g -E -- ' -o [^ ]+ ' | g -vE -- ' -c ' | tr ' ' '\n' > "$work/link-words"
  g -E '^/.*\.(so(\.[0-9.]+)?|a)$' "$work/link-words" | outside_repo | sort -u |
    sed "s|\$|\t$name: linked|" >> "$used"
  g -E '^-l[A-Za-z0-9_+.-]+$' "$work/link-words" | sort -u | sed 's/^-l//' | while read -r lib; do
    for ext in so a; do
      f=$("$cxx" -print-file-name="lib$lib.$ext")
      if [ "${f#/}" != "$f" ]; then
        printf '%s\t%s: linked (-l%s)\n' "$f" "$name" "$lib"
        break
      fi
    done
  done >> "$used"
  # Programs CMake found that the build runs (CMake looks up more tools than
  # it uses: llvm-nm, objcopy, a linker it never calls), and the programs
  # ctest runs.
  ninja -C "$b" -t commands 2> /dev/null > "$work/commands" || true
  sed -n 's#^\([A-Za-z0-9_]*\):FILEPATH=\(/.*\)$#\2\t'"$name"': CMake found \1#p' "$b/CMakeCache.txt" |
    g -v -e "^$repo/" -e 'NOTFOUND' | while IFS=$'\t' read -r path what; do
      if grep -qF -- "$path" "$work/commands"; then printf '%s\t%s\n' "$path" "$what"; fi
    done >> "$used"
  ctest --test-dir "$b" --show-only=json-v1 2> /dev/null | jq -r '.tests[].command[0] // empty' | sort -u |
    while read -r cmd; do
      case "$cmd" in
        /*) p=$cmd ;;
        *) p=$(type -P "$cmd" || true) ;;
      esac
      [ -n "$p" ] && printf '%s\t%s: ctest runs it\n' "$p" "$name"
    done | outside_repo >> "$used"
done

# Programs the scripts run: the first word of each command (after keywords,
# assignments and wrappers such as env, exec, xargs, timeout), from the shell
# scripts, the Makefile's recipes and CI. A word that names no program on this
# machine (a function, a variable) is passed over.
command_words() {
  sed -E -e 's/(^|[[:space:]])#.*$//' -e 's/^\t@?-?//' -e 's/\$\{[^}]*\}/V/g' "$1" |
    sed -E 's/(\|\||&&|\$\(|[|;&(`{])/\n/g' |
    sed -E -e 's/^[[:space:]]+//' \
      -e ':k; s/^(if|then|else|elif|do|while|until|time|exec|!|nohup|sudo|env|command -v|command|xargs( -[A-Za-z]+( [0-9]+)?)*|timeout [0-9.]+[smh]?|[A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*)[[:space:]]+//; tk' |
    g -oE '^(/[A-Za-z0-9_./+-]+|[A-Za-z][A-Za-z0-9_.+-]*)'
}
git ls-files -- '*.sh' 'Makefile' '.ci/*' 'scripts/*' | while read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    *.js | *.jq | *.json | *.md) continue ;;
    scripts/install-deps.sh) continue ;; # its words are the package names themselves
  esac
  command_words "$f" | sort -u | while read -r w; do
    if [ "${w#/}" != "$w" ]; then
      # A program by its path (/usr/bin/time), when it is one.
      [ -f "$w" ] && [ -x "$w" ] && printf '%s\t%s runs %s\n' "$w" "$f" "$w"
      continue
    fi
    [ "$(type -t "$w" 2> /dev/null)" = file ] || continue
    printf '%s\t%s runs %s\n' "$(type -P "$w")" "$f" "$w"
  done
done >> "$used"
# The JavaScript tools: the programs they spawn.
git ls-files -- '*.js' '*.mjs' '*.cjs' | while read -r f; do
  g -oE "(spawn|spawnSync|execFile|execFileSync|execSync|exec|fork)\(['\"][A-Za-z][A-Za-z0-9_.+-]*" "$f" |
    sed -E "s/^[^'\"]*['\"]//" | sort -u | while read -r w; do
      [ "$(type -t "$w" 2> /dev/null)" = file ] || continue
      printf '%s\t%s spawns %s\n' "$(type -P "$w")" "$f" "$w"
    done
done >> "$used"

# Not the system's: the repository, the builds, the pinned npm tools.
g -v -e "^$repo/" "$used" | sort -u > "$work/used-sorted"
cut -f1 "$work/used-sorted" | sort -u > "$work/files"
note "$(wc -l < "$work/files") files from the system used by ${builds[*]}, the tests and the scripts"

# ---- whose are they -----------------------------------------------------------
# Every name a file goes by: as written, through its links, with and without
# the /usr prefix (merged /usr). FILE<TAB>CANDIDATE.
xargs -d '\n' realpath -m < "$work/files" | paste "$work/files" - |
  while IFS=$'\t' read -r f real; do
    for c in "$f" "$real"; do
      printf '%s\t%s\n' "$f" "$c"
      case "$c" in
        /usr/lib/* | /usr/bin/* | /usr/sbin/*) printf '%s\t%s\n' "$f" "${c#/usr}" ;;
        /lib/* | /lib64/* | /bin/* | /sbin/*) printf '%s\t/usr%s\n' "$f" "$c" ;;
      esac
    done
  done | sort -u > "$work/candidates"
cut -f2 "$work/candidates" | sort -u > "$work/candidate-paths"
# Whose file is it: what `dpkg -S` answers, read straight from dpkg's file
# lists in one pass (dpkg -S matches each name as a pattern against every
# file of every package: minutes for a few thousand names). CANDIDATE<TAB>PACKAGE.
grep -H -x -F -f "$work/candidate-paths" /var/lib/dpkg/info/*.list 2> /dev/null |
  sed -E 's|^/var/lib/dpkg/info/([^:/]+)(:[^:/]+)?\.list:|\1\t|' |
  awk -F'\t' '{ print $2 "\t" $1 }' > "$work/owners" || true

# One pass: a file passes when any name it goes by belongs to an allowed package.
awk -F'\t' -v allowed="$work/allowed" -v owners="$work/owners" -v uses="$work/used-sorted" '
  BEGIN {
    while ((getline line < allowed) > 0) ok[line] = 1
    while ((getline line < owners) > 0) {
      split(line, kv, "\t"); own[kv[1]] = own[kv[1]] " " kv[2]
    }
    while ((getline line < uses) > 0) {
      split(line, kv, "\t")
      if (count[kv[1]]++ < 3) use[kv[1]] = use[kv[1]] (use[kv[1]] == "" ? "" : "; ") kv[2]
    }
  }
  { names[$1] = names[$1] own[$2] }
  END {
    for (f in names) {
      n = split(names[f], pk, " "); good = 0; list = ""; delete seen
      for (i = 1; i <= n; i++) {
        if (pk[i] in ok) good = 1
        if (!(pk[i] in seen)) { seen[pk[i]] = 1; list = list (list == "" ? "" : ", ") pk[i] }
      }
      if (good) continue
      if (list == "") printf "%s belongs to no Debian package (%s)\n", f, use[f]
      else printf "%s is in %s, which scripts/install-deps.sh does not install (%s)\n", f, list, use[f]
    }
  }' "$work/candidates" | sort > "$work/report"
failures=$(wc -l < "$work/report")
if [ $failures -gt 0 ]; then
  echo "dep-audit: $failures file(s) from outside the declared packages:" >&2
  sed 's/^/  /' "$work/report" >&2
  echo "dep-audit: add each package to its group in scripts/install-deps.sh (or stop using the file)" >&2
  exit 1
fi
echo "dep-audit: clean: $(wc -l < "$work/files") files from $(cut -f2 "$work/candidates" | sort -u | wc -l) names, all in the declared packages"
