#!/usr/bin/env bash
# check-includes.sh [--root DIR]: the dependency rule between the stages of
# src/ (docs/ARCHITECTURE.md, "Dependencies"), checked on the #include lines.
# Each stage may include the stages listed for it, and itself; inside a stage,
# a subfolder (store/embedded, ingest/kafka, server/http, ...) may include the
# stage's own top-level headers but not a sibling subfolder. Prints each
# offending include as FILE:LINE and fails; silent otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "${1:-}" = "--root" ] && root=$2

declare -A allowed=(
  [common]="common"
  [auth]="common auth"
  [expr]="common expr"
  [normalize]="common expr normalize"
  [group]="common group"
  [store]="common store"
  [ingest]="common ingest"
  [identity]="common store identity"
  [fhir]="common group store fhir"
  [pipeline]="common expr normalize group store ingest identity fhir pipeline"
  [server]="common auth store ingest pipeline server"
  [control]="common auth pipeline server control"
  [console]="common auth store identity ingest pipeline server console"
)

failures=0
cd "$root/src"
while IFS= read -r file; do
  stage=${file%%/*}
  rest=${file#*/}
  sub=""
  [[ "$rest" == */* ]] && sub=${rest%%/*}
  if [ -z "${allowed[$stage]+x}" ]; then
    echo "$file: '$stage' is not a stage of src/ (add it to scripts/check-includes.sh and docs/ARCHITECTURE.md)"
    failures=$((failures + 1))
    continue
  fi
  while IFS=: read -r line include; do
    target=${include%%/*}
    [[ "$include" == */* ]] || continue  # a header beside the file
    if [[ " ${allowed[$stage]} " != *" $target "* ]]; then
      echo "$file:$line: includes \"$include\", and $stage may include only: ${allowed[$stage]}"
      failures=$((failures + 1))
      continue
    fi
    if [ "$target" = "$stage" ] && [ -n "$sub" ]; then
      inner=${include#*/}
      if [[ "$inner" == */* ]]; then
        other=${inner%%/*}
        if [ "$other" != "$sub" ] && [ -d "$stage/$other" ]; then
          echo "$file:$line: includes \"$include\": $stage/$sub may not include its sibling $stage/$other"
          failures=$((failures + 1))
        fi
      fi
    fi
  done < <(grep -n '^#include "' "$file" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done < <(find . -name '*.h' -o -name '*.cc' | sed 's|^\./||' | sort)

if [ $failures -gt 0 ]; then
  echo "check-includes: $failures include(s) break the dependency rule (docs/ARCHITECTURE.md, \"Dependencies\")"
  exit 1
fi
